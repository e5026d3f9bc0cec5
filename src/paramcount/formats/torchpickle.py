"""What a torch pickle holds, read inertly: tensors and their storages, module structure, optimizer state.

Shared by the zip format (``data.pkl``) and the legacy pre-1.6 stream. Tensors are the ``torch._utils._rebuild_*``
calls of reference/formats.md 2.2 over persistent ids naming storages; each is checked (sizes and strides are
non-negative ints, the view lies within its storage, storages sharing a key agree) and becomes a
:class:`TensorRecord` whose identity is ``(storage key, offset, size, stride, dtype)``, so two names for one tensor
(tied weights, one object saved twice) count once.

Roles come from the structure: in a whole-module pickle (``torch.save(model)``) ``_parameters`` and ``_buffers``
say which is which; in a state dict the name rules of :mod:`paramcount.classify` do; top-level entries holding
optimizer, scheduler, trainer or EMA state are listed as excluded.
"""

from __future__ import annotations

import math
import re

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.classify import classify, section, stored
from paramcount.dtypes import TORCH, TORCH_STORAGES, DType
from paramcount.errors import FormatError, quote
from paramcount.formats._pickle import Allowlist, Call, Global, InertSet, PersId
from paramcount.formats.enums import members
from paramcount.formats.setstate import classes, metaclasses
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.records import Kind, ModuleRecord, Note, Role, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Hashable
    from typing import Any

__all__ = ["ALLOWLIST", "Storage", "Tensors", "extract", "size"]

_REBUILD = "torch._utils."
_TENSOR_REBUILDS = {
    f"{_REBUILD}{n}"
    for n in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_qtensor",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass",
        "_rebuild_sparse_tensor",
        "_rebuild_nested_tensor",
        "_rebuild_device_tensor_from_cpu_tensor",
    )
} | {"torch._tensor._rebuild_from_type_v2"}
_PLAIN_TENSOR_CLASSES = {"torch._tensor.Tensor", "torch.Tensor", "torch.nn.parameter.Parameter"}
_QSCHEMES = (
    "per_tensor_affine",
    "per_channel_affine",
    "per_tensor_symmetric",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
)
_LAYOUTS = ("strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "jagged")

#: Globals a torch checkpoint may use (reference/formats.md 3.1): tensor rebuilds, storages, dtypes and small
#: value types. Anything else is unsafe, or untrusted when only used as an instance class.
ALLOWLIST = Allowlist(
    names=frozenset(
        {
            *_TENSOR_REBUILDS,
            *_PLAIN_TENSOR_CLASSES,
            "torch.storage.UntypedStorage",
            *(f"torch.{n}" for n in TORCH_STORAGES),
            *(f"torch.{n}" for n in TORCH),
            *(f"torch.{n}" for n in _QSCHEMES),
            *(f"torch.{n}" for n in _LAYOUTS),
            "torch.Size",
            "torch.device",
            "torch.serialization._get_layout",
            "collections.OrderedDict",
            *(f"{m}.{n}" for m in ("builtins", "__builtin__") for n in ("set", "frozenset", "bytearray", "complex")),
            "_codecs.encode",
        }
    ),
    # What the rebuilds do with their arguments (torch/_utils.py, torch/_tensor.py; SECURITY.md lists each):
    # _rebuild_from_type_v2(func, new_type, args, state) calls func(*args) and makes an instance of new_type;
    # _rebuild_wrapper_subclass(cls, ...) makes an instance of cls; the tensor and parameter rebuilds keep their
    # backward_hooks argument as the tensor's hooks, which autograd calls.
    arguments=(
        ("torch._tensor._rebuild_from_type_v2", 0, "called"),
        ("torch._tensor._rebuild_from_type_v2", 1, "class"),
        ("torch._utils._rebuild_wrapper_subclass", 0, "class"),
        *((f"{_REBUILD}{n}", 5, "hooks") for n in ("_rebuild_tensor_v2", "_rebuild_tensor_v3")),
        (f"{_REBUILD}_rebuild_qtensor", 6, "hooks"),
        *((f"{_REBUILD}{n}", 2, "hooks") for n in ("_rebuild_parameter", "_rebuild_parameter_with_state")),
        # ... and _rebuild_from_type_v2 and _rebuild_parameter_with_state setattr their state on the result
        # (torch._utils._set_obj_state), so a __setstate__ in it is what a later BUILD calls.
        ("torch._tensor._rebuild_from_type_v2", 3, "state"),
        (f"{_REBUILD}_rebuild_parameter_with_state", 3, "state"),
        # OrderedDict(x) calls x.keys() when x has one: an attribute a BUILD state gave an instance
        ("collections.OrderedDict", 0, "mapping"),
    ),
    # Third-party functions a whole-model torch.save calls to rebuild an object by module and name: transformers 5
    # wraps some functions in kernels' hub layers, which pickle as _rebuild_kernel_func(module, name).
    reconstructors=(("kernels._internals.layer.layer._rebuild_kernel_func", 0, 1),),
    # Whole-model saves also call functools.partial (an activation with its arguments bound: the function is held)
    # and look Enum members up by value (transformers' BackboneType): untrusted, as instantiating a class is.
    builders=frozenset({"functools.partial"}),
    enums=members(),
    # ... and give their instances states: a class whose __setstate__ does more than store one is unsafe to build
    setstate=classes(),
    metaclasses=metaclasses(),
    # torch's weights-only unpickler: BUILD and SETITEM(S) may change an OrderedDict (its _metadata, its items);
    # a set built by REDUCE takes ADDITEMS as a set does.
    mutable=(
        ("collections.OrderedDict", "SETITEM BUILD"),
        *((f"{m}.set", "ADDITEMS") for m in ("builtins", "__builtin__")),
    ),
    protected=frozenset({*_TENSOR_REBUILDS, "torch.storage.UntypedStorage", *(f"torch.{n}" for n in TORCH_STORAGES)}),
)

_KEY = re.compile(r"[0-9]+")


class Storage(NamedTuple):
    """A storage a persistent id names.

    Attributes:
        key: its record key (``"0"`` for ``data/0``).
        dtype: the element type of a typed storage; ``None`` for ``UntypedStorage`` (counted in bytes).
        numel: elements of a typed storage, bytes of an untyped one, as the pickle claims.
        location: the device it was saved from.
    """

    key: str
    dtype: DType | None
    numel: int
    location: str

    @property
    def bytes(self) -> int:
        return self.numel if self.dtype is None else self.numel * self.dtype.bits // 8


class Tensors(NamedTuple):
    """Everything read from one torch pickle.

    Attributes:
        records: one per name reaching a tensor.
        modules: module structure, for a whole-module pickle (empty for a state dict).
        storages: every storage referenced, by key.
        untrusted: reasons the file cannot be loaded without running code (classes it instantiates, tensor
            subclasses whose sizes are only claimed).
        warnings: other problems noticed.
    """

    records: tuple[TensorRecord, ...]
    modules: tuple[ModuleRecord, ...]
    storages: dict[str, Storage]
    untrusted: tuple[str, ...]
    warnings: tuple[str, ...]


class _Tensor(NamedTuple):
    shape: tuple[int, ...]
    dtype: str
    elements: int
    stored_elements: int | None
    stored_bytes: int | None
    identity: Hashable | None
    trainable: bool | None
    parameter: bool
    note: Note | None


def extract(
    root: Any, name: str, *, classes: tuple[str, ...], legacy: bool = False, limits: Limits = DEFAULT
) -> Tensors:
    """Tensors, modules and storages of an inertly evaluated torch pickle.

    Args:
        root: :attr:`paramcount.formats._pickle.Result.root`.
        name: the file, for error messages.
        classes: instance classes the pickle references (:attr:`~paramcount.formats._pickle.Result.classes`).
        legacy: persistent ids are the pre-1.6 6-tuples (with view metadata) rather than 5-tuples.
        limits: ``pickle_values`` bounds the walk (each shared object is walked once); ``dimensions`` and
            ``elements`` bound each tensor.

    Raises:
        FormatError: a tensor or storage breaks a rule.
    """
    walker = _Walker(name, legacy, limits)
    walker.walk(root)
    untrusted = []
    if classes:
        more = f" and {len(classes) - 8} more" if len(classes) > 8 else ""
        untrusted.append(
            f"loading it imports and instantiates classes or references torch functions: {', '.join(classes[:8])}{more}"
        )
    if walker.claimed:
        untrusted.append(
            f"{len(walker.claimed)} tensor subclass(es) only claim their sizes ({quote(walker.claimed[0])})"
        )
    records = walker.records
    shapes = _deepspeed_shapes(root, name, limits)
    if shapes is not None:
        # A DeepSpeed ZeRO-3 *_model_states.pt: its module state dict holds empty placeholders for partitioned
        # parameters; param_shapes (and frozen_param_shapes) list their real shapes, read here as data.
        # frozen_param_fragments are this rank's pieces of the frozen parameters, which frozen_param_shapes lists.
        records = [
            r
            for r in records
            if (r.kind is not Kind.PARAMETER or (r.elements or 0) > 0)
            and not r.name.startswith("frozen_param_fragments.")
        ]
        known = {r.name.removeprefix("module.") for r in records}
        for parameter, shape, trainable in shapes:
            if parameter not in known:
                records.append(
                    stored(
                        parameter,
                        shape,
                        "unknown",
                        stored_bytes=None,
                        stored_elements=None,
                        identity=None,
                        kind=Kind.PARAMETER,
                        trainable=trainable,
                        notes=(Note.ZERO3,),
                    )
                )
        walker.modules = []
    modules = walker.modules
    if modules and modules[0].path != "":
        # Modules inside a checkpoint dict ({"model": module, ...}): give them a root to hang from.
        modules = [ModuleRecord("", ""), *(m._replace(parent=m.parent + 1) for m in modules)]
    warnings: tuple[str, ...] = ()
    if walker.redescribed:
        keys = walker.redescribed
        warnings = (
            f"{len(keys)} storage(s) are described two ways by their persistent ids (e.g. {quote(keys[0], 40)}); "
            "torch.load, and the count, keep the first description",
        )
    return Tensors(tuple(records), tuple(modules), walker.storages, tuple(untrusted), warnings)


def _deepspeed_shapes(root: Any, target: str, limits: Limits) -> list[tuple[str, tuple[int, ...], bool]] | None:
    """``(name, shape, trainable)`` from a DeepSpeed model-states file's ``param_shapes``; ``None`` otherwise."""
    if not isinstance(root, dict) or "ds_version" not in root or not isinstance(root.get("param_shapes"), list):
        return None
    found: list[tuple[str, tuple[int, ...], bool]] = []
    groups = [(group, True) for group in root["param_shapes"]]
    frozen = root.get("frozen_param_shapes")
    if frozen is not None:
        groups.append((frozen, False))
    for group, trainable in groups:
        items = group.items if isinstance(group, Call) else group
        if not isinstance(items, dict):
            continue
        for parameter, value in items.items():
            if isinstance(parameter, str):
                found.append((parameter, size(value, limits=limits, target=target, tensor=parameter), trainable))
    return found


class _Walker:
    def __init__(self, name: str, legacy: bool, limits: Limits) -> None:
        self.name = name
        self.legacy = legacy
        self.limits = limits
        self.records: list[TensorRecord] = []
        self.modules: list[ModuleRecord] = []
        self.module_position: dict[str, int] = {}
        self.storages: dict[str, Storage] = {}
        self.claimed: list[str] = []
        self.tensors: dict[int, _Tensor] = {}
        self.non_persistent: set[str] = set()
        self.redescribed: list[str] = []  # storage keys whose later persistent ids claim another type or size

    def error(self, problem: str, tensor: str | None, rule: str) -> FormatError:
        return FormatError(problem, target=self.name, rule=rule, tensor=tensor)

    def walk(self, root: Any) -> None:
        """Visit every value once, iteratively (deep nesting cannot overflow, DAGs cannot explode)."""
        root_section = None
        if isinstance(root, dict) and set(root) == {"state", "param_groups"}:
            root_section = Role.OPTIMIZER_STATE  # the file is an optimizer's state_dict()
        # (value, dotted path, excluded section, role: "parameter" | "buffer" | "attribute" | None, module path)
        pending: list[tuple[Any, str, Role | None, str | None, str]] = [(root, "", root_section, None, "")]
        seen: set[int] = set()
        visited = 0
        while pending:
            value, path, within, role, module = pending.pop()
            visited += 1
            if visited > self.limits.pickle_values:
                raise exceeded(
                    "pickle_values", "its object graph has too many values", self.limits.pickle_values, target=self.name
                )
            if isinstance(value, Call) and value.calls_any(_TENSOR_REBUILDS):
                self.tensor(value, path, within, role, module)
                continue
            if not isinstance(value, (dict, list, tuple, Call)):
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            children: list[tuple[Any, str, Role | None, str | None, str]] = []
            # Each child's path repeats its parent's: a deep graph under a long key builds quadratic text (an
            # attacker review's 145 KB file asked for 500 GB). Every 16 characters built count as a value walked.
            visited += (len(path) >> 4) * _width(value)
            if visited > self.limits.pickle_values:
                problem = "its values' paths are too long to name"
                raise exceeded("pickle_values", problem, self.limits.pickle_values, target=self.name)
            if isinstance(value, dict):
                for key, item in value.items():
                    child_section = within
                    if not path and within is None and isinstance(key, str):
                        child_section = section(key)
                    children.append((item, _join(path, key), child_section, None, module))
            elif isinstance(value, (list, tuple, InertSet)):
                children.extend((item, _join(path, i), within, None, module) for i, item in enumerate(value))
            elif isinstance(value, Call):
                state = value.state
                if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
                    state = state[0]  # (dict, slots) state
                if value.opcode == "NEWOBJ" and isinstance(state, dict) and "_parameters" in state:
                    children.extend(self.module(value, state, path, within))
                else:
                    for part in (value.args, value.items, value.appended, state):
                        if isinstance(part, dict):
                            children.extend((v, _join(path, k), within, None, module) for k, v in part.items())
                        elif part is not None:
                            children.append((part, path, within, None, module))
            pending.extend(reversed(children))

    def module(
        self, value: Call, state: dict[Any, Any], path: str, within: Role | None
    ) -> list[tuple[Any, str, Role | None, str | None, str]]:
        """Children of a pickled ``nn.Module``: its parameters, buffers and submodules by their real names."""
        kind = value.func.name if isinstance(value.func, Global) else "?"
        parent = self.module_position.get(path.rpartition(".")[0], -1) if path else -1
        if path not in self.module_position:
            self.module_position[path] = len(self.modules)
            self.modules.append(ModuleRecord(path, kind, parent if path else -1))
        non_persistent = state.get("_non_persistent_buffers_set")
        if isinstance(non_persistent, Call) and isinstance(non_persistent.args, tuple) and non_persistent.args:
            names = non_persistent.args[0]
            if isinstance(names, list):
                self.non_persistent.update(_join(path, n) for n in names if isinstance(n, str))
        children: list[tuple[Any, str, Role | None, str | None, str]] = []
        for attribute, item in state.items():
            if attribute in ("_parameters", "_buffers", "_modules"):
                items = item.items if isinstance(item, Call) else item
                if not isinstance(items, dict):
                    continue
                role = {"_parameters": "parameter", "_buffers": "buffer", "_modules": None}[attribute]
                children.extend((v, _join(path, k), within, role, path) for k, v in items.items() if v is not None)
            elif isinstance(attribute, str) and not attribute.startswith("_"):
                children.append((item, _join(path, attribute), within, "attribute", path))
        return children

    def tensor(self, call: Call, path: str, within: Role | None, role: str | None, module: str) -> None:
        known = self.tensors.get(id(call))
        if known is None:
            known = self.tensors[id(call)] = self.rebuild(call, path)
        kind: Kind | None = None
        why: Role | None = None
        if within is not None:
            why = within
        elif role == "attribute":
            why = Role.MODULE_ATTRIBUTE
        elif role == "buffer":
            kind, why = Kind.BUFFER, classify(path, known.shape) or Role.BUFFER
        elif role == "parameter" or known.parameter:
            kind = Kind.PARAMETER
        self.records.append(
            stored(
                path,
                known.shape,
                known.dtype,
                elements=known.elements,
                stored_elements=known.stored_elements,
                stored_bytes=known.stored_bytes,
                identity=known.identity,
                module=module if role is not None else None,
                kind=kind,
                why=why,
                trainable=known.trainable,
                persistent=(path not in self.non_persistent) if kind is Kind.BUFFER else None,
                notes=(known.note,) if known.note is not None else (),
            )
        )

    def rebuild(self, call: Call, path: str) -> _Tensor:
        func = call.func.name if isinstance(call.func, Global) else ""
        args = call.args if isinstance(call.args, tuple) else ()
        if func in ("_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_device_tensor_from_cpu_tensor"):
            inner = args[0] if args else None
            if not isinstance(inner, Call) or not inner.calls_any(_TENSOR_REBUILDS):
                raise self.error(f"{func} does not wrap a tensor", path, "pickle-tensor")
            tensor = self.rebuild(inner, path)
            if func == "_rebuild_device_tensor_from_cpu_tensor":
                return tensor
            requires_grad = args[1] if len(args) > 1 and isinstance(args[1], bool) else None
            return tensor._replace(parameter=True, trainable=requires_grad)
        if func == "_rebuild_from_type_v2":
            if len(args) < 3 or not isinstance(args[0], Global) or not isinstance(args[2], tuple):
                raise self.error("_rebuild_from_type_v2 has malformed arguments", path, "pickle-tensor")
            tensor = self.rebuild(Call(args[0], args[2], "REDUCE", call.offset), path)
            new_type = args[1]
            if isinstance(new_type, Global) and new_type.qualname == "torch.nn.parameter.Parameter":
                return tensor._replace(parameter=True)
            return tensor
        if func in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_qtensor"):
            if len(args) < 4:
                raise self.error(f"{func} has {len(args)} arguments", path, "pickle-tensor")
            storage = self.storage(args[0], path)
            dtype = storage.dtype
            if func == "_rebuild_tensor_v3":
                dtype = self.dtype(args[6] if len(args) > 6 else None, path)
            if dtype is None:
                raise self.error("an untyped storage is used without a dtype", path, "pickle-tensor")
            return self.view(storage, dtype, args[1], args[2], args[3], path=path)
        if func == "_rebuild_meta_tensor_no_storage":
            if len(args) < 3:
                raise self.error(f"{func} has {len(args)} arguments", path, "pickle-tensor")
            dtype = self.dtype(args[0], path)
            shape = self.ints(args[1], path, "size")
            elements = self.count(shape, path)
            # No storage: one pickled object (reached twice through the memo) is one tensor, by its position.
            return _Tensor(shape, dtype.name, elements, None, 0, ("object", call.offset), None, False, Note.META)
        if func == "_rebuild_wrapper_subclass":
            if len(args) < 3:
                raise self.error(f"{func} has {len(args)} arguments", path, "pickle-tensor")
            dtype = self.dtype(args[1], path)
            shape = self.ints(args[2], path, "size")
            cls = args[0].shown if isinstance(args[0], Global) else "?"
            self.claimed.append(f"{path}: {cls}")
            return _Tensor(shape, dtype.name, self.count(shape, path), None, None, None, None, False, Note.CLAIMED_SIZE)
        if func == "_rebuild_sparse_tensor":
            data = args[1] if len(args) > 1 and isinstance(args[1], tuple) else ()
            if len(data) < 3:
                raise self.error("_rebuild_sparse_tensor has malformed arguments", path, "pickle-tensor")
            shape = self.ints(data[2], path, "size")
            parts = [self.rebuild(d, path) for d in data[:2] if isinstance(d, Call) and d.calls_any(_TENSOR_REBUILDS)]
            if len(parts) != 2:
                raise self.error("a sparse tensor lacks its indices or values", path, "pickle-tensor")
            indices, values = parts
            held = (indices.stored_bytes or 0) + (values.stored_bytes or 0)
            elements = self.count(shape, path)
            return _Tensor(shape, values.dtype, elements, values.elements, held, None, None, False, Note.SPARSE)
        raise self.error(f"{func} tensors are not supported by this version", path, "pickle-unsupported")

    def storage(self, value: Any, path: str) -> Storage:
        pid = value.pid if isinstance(value, PersId) else None
        size = 6 if self.legacy else 5
        if not isinstance(pid, tuple) or len(pid) != size or pid[0] != "storage":
            raise self.error(f"a tensor's storage is not a ('storage', ...) {size}-tuple", path, "pickle-storage")
        _, kind, key, location, numel = pid[:5]
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise self.error(f"storage key {quote(key)} is not a string of digits", path, "pickle-storage")
        shown = key if len(key) <= 40 else quote(key, 40)  # digits only, but a hostile file can make them long
        if type(numel) is not int or not 0 <= numel < 2**63 or not isinstance(location, str):
            raise self.error(f"storage {shown} has size {quote(numel)}", path, "pickle-storage")
        if not isinstance(kind, Global):
            raise self.error(f"storage {shown} has no storage type", path, "pickle-storage")
        if kind.qualname == "torch.storage.UntypedStorage":
            dtype = None
        elif kind.module == "torch" and kind.name in TORCH_STORAGES:
            dtype = TORCH_STORAGES[kind.name]
        else:
            raise self.error(f"storage {shown} has the unknown type {kind.shown}", path, "pickle-storage")
        storage = Storage(key, dtype, numel, location)
        known = self.storages.setdefault(key, storage)
        if known != storage:
            # torch.load keeps the storage it built for the key's first persistent id and hands it to every later
            # one, whatever type and size they claim: so does the count.
            if key not in self.redescribed:
                self.redescribed.append(key)
            storage = known
        if self.legacy and pid[5] is not None:
            raise self.error("legacy storage views are not supported by this version", path, "pickle-unsupported")
        return storage

    def dtype(self, value: Any, path: str) -> DType:
        if isinstance(value, Global) and value.module == "torch" and value.name in TORCH:
            return TORCH[value.name]
        raise self.error(f"has the unknown dtype {quote(value)}", path, "pickle-dtype")

    def ints(self, value: Any, path: str, what: str) -> tuple[int, ...]:
        return size(value, limits=self.limits, target=self.name, tensor=path, what=what)

    def count(self, shape: tuple[int, ...], path: str) -> int:
        """Logical elements of ``shape``, within the ``elements`` limit."""
        elements = math.prod(shape)
        if elements > self.limits.elements:
            raise exceeded("elements", f"has {elements} elements", self.limits.elements, target=self.name, tensor=path)
        return elements

    def view(self, storage: Storage, dtype: DType, offset: Any, size: Any, stride: Any, *, path: str) -> _Tensor:
        shape = self.ints(size, path, "size")
        strides = self.ints(stride, path, "stride")
        if len(strides) != len(shape):
            raise self.error(f"has {len(shape)} sizes but {len(strides)} strides", path, "pickle-shape")
        if type(offset) is not int or not 0 <= offset < 2**63:
            raise self.error(f"has storage offset {quote(offset)}", path, "pickle-shape")
        itemsize = dtype.bits // 8
        if storage.dtype is None:
            capacity = storage.numel // itemsize  # set_ checks the bytes the view needs, not whole elements
        else:
            if storage.dtype.bits != dtype.bits:
                raise self.error(f"views a {storage.dtype.name} storage as {dtype.name}", path, "pickle-dtype")
            capacity = storage.numel
        elements = self.count(shape, path)
        extent = 1 + sum((n - 1) * s for n, s in zip(shape, strides, strict=True)) if elements else 0
        if elements and offset + extent > capacity:
            raise self.error(
                f"views elements {offset}..{offset + extent} of storage {storage.key}, which holds {capacity}",
                path,
                "pickle-bounds",
            )
        held = min(elements, extent)
        identity = (storage.key, offset, shape, strides, dtype.name)
        return _Tensor(shape, dtype.name, elements, held, held * itemsize, identity, None, False, None)


def size(
    value: Any, *, limits: Limits, target: str, tensor: str | None, what: str = "size", rule: str = "pickle-shape"
) -> tuple[int, ...]:
    """A pickled ``torch.Size`` (or plain tuple) as non-negative integers below 2**63, within ``limits.dimensions``.

    Shared by every torch pickle: tensor sizes and strides, DCP sizes and chunk offsets, DeepSpeed's shapes.

    Raises:
        FormatError: ``value`` is not such a tuple (``rule``), or has more dimensions than the limit allows.
    """
    if isinstance(value, Call) and value.calls("torch.Size") and isinstance(value.args, tuple) and value.args:
        value = value.args[0]
    if not isinstance(value, tuple) or not all(type(v) is int and 0 <= v < 2**63 for v in value):
        raise FormatError(
            f"its {what} {quote(value)} is not a tuple of non-negative integers",
            target=target,
            rule=rule,
            tensor=tensor,
        )
    if len(value) > limits.dimensions:
        raise exceeded("dimensions", f"has {len(value)} dimensions", limits.dimensions, target=target, tensor=tensor)
    return value


def _width(value: Any) -> int:
    """How many children :meth:`_Extractor.walk` names for ``value``, counted without naming them."""
    if isinstance(value, (dict, list, tuple)):
        return len(value)
    if isinstance(value, Call):
        parts = (value.args, value._items, value._appended, value.state)
        return sum(len(p) if isinstance(p, (dict, list, tuple)) else 1 for p in parts if p is not None)
    return 0


def _join(path: str, key: Any) -> str:
    """``path.key``: a name for what a dict key or list index leads to. A key that is not a string is shown
    bounded: a pickle can make a key a tuple nested over itself, whose full repr would never end, or an integer
    too long for ``str()``."""
    if isinstance(key, str):
        segment = key
    elif type(key) is int and key.bit_length() <= 64:
        segment = str(key)
    else:
        segment = quote(key, 60)
    return f"{path}.{segment}" if path else segment
