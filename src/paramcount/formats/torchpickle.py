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
from typing import TYPE_CHECKING, Any, NamedTuple

from paramcount.classify import classify
from paramcount.classify import role as role_by_name
from paramcount.dtypes import TORCH, TORCH_STORAGES, DType
from paramcount.errors import FormatError
from paramcount.formats._pickle import Allowlist, Call, Global, InertSet, PersId
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.records import Kind, ModuleRecord, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = ["ALLOWLIST", "Storage", "Tensors", "extract"]

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
    class_arguments=(("torch._tensor._rebuild_from_type_v2", 1), ("torch._utils._rebuild_wrapper_subclass", 0)),
)

_KEY = re.compile(r"[0-9]+")
# Top-level entries of a training checkpoint that are not the model, by key: (pattern, class of what they hold).
_SECTIONS = (
    (re.compile(r"optim", re.IGNORECASE), "optimizer-state"),
    (re.compile(r"^(model_)?ema(_model|_state_dict)?$|^model_ema$", re.IGNORECASE), "ema-copy"),
    (re.compile(r"sched|^callbacks$|^loops$|^amp$|^scaler$|^grad_scaler$", re.IGNORECASE), "training-state"),
)


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
    note: str | None


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
        untrusted.append(f"it instantiates classes when loaded: {', '.join(classes)}")
    if walker.claimed:
        untrusted.append(f"{len(walker.claimed)} tensor subclass(es) only claim their sizes ({walker.claimed[0]!r})")
    records = walker.records
    shapes = _deepspeed_shapes(root)
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
                    TensorRecord(
                        name=parameter,
                        module=parameter.rpartition(".")[0],
                        kind=Kind.PARAMETER,
                        shape=shape,
                        elements=math.prod(shape),
                        dtype="unknown",
                        stored_elements=None,
                        stored_bytes=None,
                        identity=None,
                        trainable=trainable,
                        notes=("zero3",),
                    )
                )
        walker.modules = []
    modules = walker.modules
    if modules and modules[0].path != "":
        # Modules inside a checkpoint dict ({"model": module, ...}): give them a root to hang from.
        modules = [ModuleRecord("", ""), *(m._replace(parent=m.parent + 1) for m in modules)]
    return Tensors(tuple(records), tuple(modules), walker.storages, tuple(untrusted), ())


def _deepspeed_shapes(root: Any) -> list[tuple[str, tuple[int, ...], bool]] | None:
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
        for name, value in items.items():
            size = value
            if isinstance(size, Call) and size.calls("torch.Size") and isinstance(size.args, tuple) and size.args:
                size = size.args[0]
            if isinstance(name, str) and isinstance(size, tuple) and all(type(d) is int and d >= 0 for d in size):
                found.append((name, size, trainable))
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

    def error(self, problem: str, tensor: str | None, rule: str) -> FormatError:
        return FormatError(problem, target=self.name, rule=rule, tensor=tensor)

    def walk(self, root: Any) -> None:
        """Visit every value once, iteratively (deep nesting cannot overflow, DAGs cannot explode)."""
        root_section = None
        if isinstance(root, dict) and set(root) == {"state", "param_groups"}:
            root_section = "optimizer-state"  # the file is an optimizer's state_dict()
        # (value, dotted path, excluded section, role: "parameter" | "buffer" | "attribute" | None, module path)
        pending: list[tuple[Any, str, str | None, str | None, str]] = [(root, "", root_section, None, "")]
        seen: set[int] = set()
        visited = 0
        while pending:
            value, path, section, role, module = pending.pop()
            visited += 1
            if visited > self.limits.pickle_values:
                raise exceeded(
                    "pickle_values", "its object graph has too many values", self.limits.pickle_values, target=self.name
                )
            if isinstance(value, Call) and value.calls_any(_TENSOR_REBUILDS):
                self.tensor(value, path, section, role, module)
                continue
            if not isinstance(value, (dict, list, tuple, Call)):
                continue
            if id(value) in seen:
                continue
            seen.add(id(value))
            children: list[tuple[Any, str, str | None, str | None, str]] = []
            if isinstance(value, dict):
                for key, item in value.items():
                    child_section = section
                    if not path and section is None and isinstance(key, str):
                        child_section = next((what for pattern, what in _SECTIONS if pattern.search(key)), None)
                    children.append((item, _join(path, key), child_section, None, module))
            elif isinstance(value, (list, tuple, InertSet)):
                children.extend((item, _join(path, i), section, None, module) for i, item in enumerate(value))
            elif isinstance(value, Call):
                state = value.state
                if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
                    state = state[0]  # (dict, slots) state
                if value.opcode == "NEWOBJ" and isinstance(state, dict) and "_parameters" in state:
                    children.extend(self.module(value, state, path, section))
                else:
                    for part in (value.args, value.items, value.appended, state):
                        if isinstance(part, dict):
                            children.extend((v, _join(path, k), section, None, module) for k, v in part.items())
                        elif part is not None:
                            children.append((part, path, section, None, module))
            pending.extend(reversed(children))

    def module(
        self, value: Call, state: dict[Any, Any], path: str, section: str | None
    ) -> list[tuple[Any, str, str | None, str | None, str]]:
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
        children: list[tuple[Any, str, str | None, str | None, str]] = []
        for attribute, item in state.items():
            if attribute in ("_parameters", "_buffers", "_modules"):
                items = item.items if isinstance(item, Call) else item
                if not isinstance(items, dict):
                    continue
                role = {"_parameters": "parameter", "_buffers": "buffer", "_modules": None}[attribute]
                children.extend((v, _join(path, k), section, role, path) for k, v in items.items() if v is not None)
            elif isinstance(attribute, str) and not attribute.startswith("_"):
                children.append((item, _join(path, attribute), section, "attribute", path))
        return children

    def tensor(self, call: Call, path: str, section: str | None, role: str | None, module: str) -> None:
        known = self.tensors.get(id(call))
        if known is None:
            known = self.tensors[id(call)] = self.rebuild(call, path)
        if section is not None:
            kind, note = Kind.TENSOR, section
        elif role == "attribute":
            kind, note = Kind.TENSOR, "module-attribute"
        elif role == "buffer":
            kind, note = Kind.BUFFER, classify(path, known.shape) or "buffer"
        elif role == "parameter" or known.parameter:
            kind, note = Kind.PARAMETER, None
        else:
            kind, note = role_by_name(path, known.shape)
        notes = tuple(n for n in (note, known.note) if n is not None)
        persistent = (path not in self.non_persistent) if kind is Kind.BUFFER else None
        self.records.append(
            TensorRecord(
                name=path,
                module=module if role is not None else path.rpartition(".")[0],
                kind=kind,
                shape=known.shape,
                elements=known.elements,
                dtype=known.dtype,
                stored_elements=known.stored_elements,
                stored_bytes=known.stored_bytes,
                identity=known.identity,
                trainable=known.trainable if kind is Kind.PARAMETER else None,
                persistent=persistent,
                notes=notes,
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
            return _Tensor(shape, dtype.name, elements, None, 0, ("object", call.offset), None, False, "meta")
        if func == "_rebuild_wrapper_subclass":
            if len(args) < 3:
                raise self.error(f"{func} has {len(args)} arguments", path, "pickle-tensor")
            dtype = self.dtype(args[1], path)
            shape = self.ints(args[2], path, "size")
            cls = args[0].qualname if isinstance(args[0], Global) else "?"
            self.claimed.append(f"{path}: {cls}")
            return _Tensor(shape, dtype.name, self.count(shape, path), None, None, None, None, False, "claimed-size")
        if func == "_rebuild_sparse_tensor":
            data = args[1] if len(args) > 1 and isinstance(args[1], tuple) else ()
            if len(data) < 3:
                raise self.error("_rebuild_sparse_tensor has malformed arguments", path, "pickle-tensor")
            shape = self.ints(data[2], path, "size")
            parts = [self.rebuild(d, path) for d in data[:2] if isinstance(d, Call) and d.calls_any(_TENSOR_REBUILDS)]
            if len(parts) != 2:
                raise self.error("a sparse tensor lacks its indices or values", path, "pickle-tensor")
            indices, values = parts
            stored = (indices.stored_bytes or 0) + (values.stored_bytes or 0)
            elements = self.count(shape, path)
            return _Tensor(shape, values.dtype, elements, values.elements, stored, None, None, False, "sparse")
        raise self.error(f"{func} tensors are not supported by this version", path, "pickle-unsupported")

    def storage(self, value: Any, path: str) -> Storage:
        pid = value.pid if isinstance(value, PersId) else None
        size = 6 if self.legacy else 5
        if not isinstance(pid, tuple) or len(pid) != size or pid[0] != "storage":
            raise self.error(f"a tensor's storage is not a ('storage', ...) {size}-tuple", path, "pickle-storage")
        _, kind, key, location, numel = pid[:5]
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise self.error(f"storage key {key!r} is not a string of digits", path, "pickle-storage")
        if type(numel) is not int or numel < 0 or not isinstance(location, str):
            raise self.error(f"storage {key} has size {numel!r}", path, "pickle-storage")
        if not isinstance(kind, Global):
            raise self.error(f"storage {key} has no storage type", path, "pickle-storage")
        if kind.qualname == "torch.storage.UntypedStorage":
            dtype = None
        elif kind.module == "torch" and kind.name in TORCH_STORAGES:
            dtype = TORCH_STORAGES[kind.name]
        else:
            raise self.error(f"storage {key} has the unknown type {kind.qualname}", path, "pickle-storage")
        storage = Storage(key, dtype, numel, location)
        known = self.storages.setdefault(key, storage)
        if known != storage:
            raise self.error(
                f"storage {key} is described two ways ({known.numel} vs {numel} elements)", path, "pickle-storage"
            )
        if self.legacy and pid[5] is not None:
            raise self.error("legacy storage views are not supported by this version", path, "pickle-unsupported")
        return storage

    def dtype(self, value: Any, path: str) -> DType:
        if isinstance(value, Global) and value.module == "torch" and value.name in TORCH:
            return TORCH[value.name]
        raise self.error(f"has the unknown dtype {value!r}", path, "pickle-dtype")

    def ints(self, value: Any, path: str, what: str) -> tuple[int, ...]:
        if isinstance(value, Call) and value.calls("torch.Size") and isinstance(value.args, tuple) and value.args:
            value = value.args[0]
        if not isinstance(value, tuple) or not all(type(v) is int and 0 <= v < 2**63 for v in value):
            raise self.error(f"its {what} {value!r} is not a tuple of non-negative integers", path, "pickle-shape")
        if len(value) > self.limits.dimensions:
            raise exceeded(
                "dimensions", f"has {len(value)} dimensions", self.limits.dimensions, target=self.name, tensor=path
            )
        return value

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
        if type(offset) is not int or offset < 0:
            raise self.error(f"has storage offset {offset!r}", path, "pickle-shape")
        itemsize = dtype.bits // 8
        if storage.dtype is None:
            if storage.numel % itemsize:
                raise self.error(
                    f"storage {storage.key} of {storage.numel} bytes does not hold whole {dtype.name} elements",
                    path,
                    "pickle-bounds",
                )
            capacity = storage.numel // itemsize
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
        stored = min(elements, extent)
        identity = ("torch", storage.key, offset, shape, strides, dtype.name)
        return _Tensor(shape, dtype.name, elements, stored, stored * itemsize, identity, None, False, None)


def _join(path: str, key: Any) -> str:
    segment = key if isinstance(key, str) else str(key) if isinstance(key, (int, float, bool)) else repr(key)
    return f"{path}.{segment}" if path else segment
