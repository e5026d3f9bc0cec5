"""Live ``torch.nn.Module`` -> records. No forward pass, no mutation, no hooks; torch is imported lazily.

Walks modules in pre-order like ``named_modules()``; a module reached by a second path is listed there but not
walked again, so its tensors belong to its first path (and a module graph with cycles or exponential reuse
costs one visit per module). Each parameter and buffer gets an identity made of its storage and view
(``storage, offset, shape, stride, dtype``): the same object, and distinct ``Parameter`` objects over the same
view of one storage, are one tensor. Identity never uses ``data_ptr()``, which is 0 for every meta tensor.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import ParamcountError, TargetError
from paramcount.records import Inventory, Kind, ModuleRecord, Note, Role, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

    import torch

    from paramcount.records import Load

__all__ = ["inventory", "is_module", "torch_load", "unwrap"]

# Records are named tuples; building them through tuple.__new__ skips the generated Python-level __new__, which
# costs more than the rest of the per-tensor work (benchmarks/bench_modules.py). mypy cannot check the field
# order of such calls: tests/test_module_source.py checks a record built this way field by field.
_new = tuple.__new__


def is_module(obj: object) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, without importing torch when the caller has not."""
    torch_nn = sys.modules.get("torch.nn")
    return torch_nn is not None and isinstance(obj, torch_nn.Module)


def is_tensor_mapping(obj: object) -> bool:
    """Whether ``obj`` is a mapping (a state dict, a loaded checkpoint), without importing torch."""
    return isinstance(obj, Mapping) and "torch" in sys.modules


def mapping_inventory(state: Mapping[Any, Any], *, target: str | None = None) -> Inventory:
    """Records for every tensor in a state dict, or in nested mappings and sequences of them.

    A state dict knows no modules, parameters or buffers: like a checkpoint file's, its tensors are sorted by the
    name rules (:func:`paramcount.classify.role`), top-level sections of a training checkpoint (optimizer, EMA,
    scheduler) are excluded, and tensors that share a view of one storage (tied weights, ``state_dict()`` of a
    tied model) count once. A ``Parameter`` keeps its ``requires_grad``; a plain tensor's trainability is unknown.
    Values that are not tensors are skipped.

    Raises:
        TargetError: the mapping holds no tensor at all.
    """
    import torch

    from paramcount.classify import role, section

    name = target or f"<{type(state).__name__} of tensors>"
    found = _Found()
    describe = _describer((), found)
    records: list[TensorRecord] = []
    pending: list[tuple[Any, str, Role | None]] = [(state, "", None)]
    seen: set[int] = set()
    while pending:
        value, path, within = pending.pop()
        if isinstance(value, torch.Tensor):
            parameter = isinstance(value, torch.nn.Parameter)
            kind, why = (Kind.PARAMETER, None) if parameter else role(path, tuple(value.shape))
            if within is not None:
                kind, why = Kind.TENSOR, within
            record = describe(
                path, path.rpartition(".")[0], kind, value, value.requires_grad if parameter else None, None
            )
            if why is not None:
                record = record._replace(notes=(why, *record.notes), persistent=True if kind is Kind.BUFFER else None)
            records.append(record)
            continue
        if id(value) in seen:
            continue
        if isinstance(value, Mapping):
            seen.add(id(value))
            children = [
                (item, f"{path}.{key}" if path else str(key), within or (section(str(key)) if not path else None))
                for key, item in value.items()
            ]
        elif isinstance(value, (list, tuple)):
            seen.add(id(value))
            children = [(item, f"{path}.{i}" if path else str(i), within) for i, item in enumerate(value)]
        else:
            continue
        pending.extend(reversed(children))
    if not records:
        raise TargetError("holds no tensors", target=name, fix="pass a state_dict() or a mapping of names to tensors")
    records.extend(found.auxiliaries)
    return Inventory(
        target=name,
        tensors=tuple(records),
        format="state-dict",
        quantization=", ".join(sorted(found.schemes)) or None,
    )


def unwrap(model: torch.nn.Module) -> tuple[torch.nn.Module, tuple[str, ...]]:
    """Remove ``DataParallel``, ``DistributedDataParallel`` and ``torch.compile`` wrappers.

    Returns:
        The wrapped model and one note per wrapper removed, outermost first.
    """
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    # torch.compile's wrapper class lives in torch._dynamo, which costs seconds to import; a model wrapped by
    # torch.compile means it is imported already.
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    optimized = getattr(eval_frame, "OptimizedModule", None)
    notes = []
    while True:
        if isinstance(model, (DataParallel, DistributedDataParallel)):
            notes.append(f"counted the module inside its {type(model).__name__} wrapper")
            model = model.module
        elif optimized is not None and isinstance(model, optimized):
            notes.append("counted the original module inside its torch.compile wrapper (OptimizedModule)")
            model = model._orig_mod
        elif _is_peft_model(model):
            tuner: Any = getattr(model, "base_model")  # noqa: B009 -- nn.Module's __getattr__ types it as a Tensor
            inner: torch.nn.Module = tuner.model
            notes.append(
                f"counted the model inside its PEFT wrappers: {type(model).__name__} \u2192 {type(tuner).__name__} "
                f"\u2192 {type(inner).__name__} (adapter layers stay in the tree)"
            )
            notes.extend(_inactive_adapters(model, inner))
            model = inner
        else:
            return model, tuple(notes)


def _is_peft_model(model: object) -> bool:
    """A ``peft.PeftModel``, recognised without importing peft (it is imported when such a model exists)."""
    return (
        type(model).__module__.startswith("peft.")
        and hasattr(model, "peft_config")
        and hasattr(getattr(model, "base_model", None), "model")
    )


def _inactive_adapters(model: Any, inner: torch.nn.Module) -> list[str]:
    """A note per loaded adapter that is not active: its parameters are counted, apart from the active ones."""
    configs = getattr(model, "peft_config", None) or {}
    active = getattr(model, "active_adapters", None)
    active = [active] if isinstance(active, str) else list(active or ())
    inactive = [name for name in configs if name not in active]
    notes = []
    for adapter in inactive:
        total = sum(p.numel() for name, p in inner.named_parameters() if adapter in name.split(".")[:-1])
        notes.append(
            f"adapter {adapter!r} is loaded but not active (active: {', '.join(active) or 'none'}): its {total:,} "
            "parameters are counted, and shown under its name in the tree"
        )
    return notes


def inventory(model: torch.nn.Module, *, target: str | None = None) -> Inventory:
    """Records for every parameter and buffer of ``model`` and every module path.

    Args:
        model: the model; wrappers are removed first (see :func:`unwrap`). It is not modified.
        target: the name to report; defaults to ``"<ClassName>"``.

    Returns:
        The inventory, records in module order.

    Raises:
        TargetError: a module was never initialized (its ``__init__`` skipped ``super().__init__()``), or reading a
            tensor's shape, dtype or storage raised (a broken tensor subclass).
    """
    from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

    model, notes = unwrap(model)
    found = _Found()
    describe = _describer((UninitializedParameter, UninitializedBuffer), found)
    tensors: list[TensorRecord] = []
    append = tensors.append
    modules: list[ModuleRecord] = []
    first_path: dict[int, str] = {}
    stack: list[tuple[torch.nn.Module, str, int]] = [(model, "", -1)]
    try:
        packed = _walk(stack, modules, first_path, append, describe, target=target or f"<{type(model).__name__}>")
    except ParamcountError:
        raise
    except Exception as e:  # a broken subclass: one clear error, never a traceback
        where = modules[-1].path if modules else ""
        raise TargetError(
            f"reading the tensors of module {where or '(root)'!r} raised {type(e).__name__}: {e}",
            target=target or f"<{type(model).__name__}>",
            fix="a tensor or module subclass in the model is broken",
        ) from None
    warnings: tuple[str, ...] = ()
    if found.claimed:
        warnings = (
            f"{len(found.claimed)} tensor(s) are wrapper subclasses whose size is their own claim "
            f"({', '.join(found.claimed[:3])}); their stored bytes are those of the tensors inside them",
        )
    records = [*tensors, *found.auxiliaries]
    if packed:
        records, scheme = _packed_buffers(records)
        if scheme is not None:
            found.schemes.add(scheme)
    return Inventory(
        target=target if target is not None else f"<{type(model).__name__}>",
        tensors=tuple(records),
        modules=tuple(modules),
        warnings=warnings,
        notes=notes,
        quantization=", ".join(sorted(found.schemes)) or None,
    )


# Names of packed weights that quantized layers (AutoGPTQ/AutoAWQ QuantLinear, compressed-tensors) register as
# buffers.
_PACKED = frozenset({"qweight", "weight_packed"})


def _packed_buffers(records: list[TensorRecord]) -> tuple[list[TensorRecord], str | None]:
    """Quantized layers that register their packed weights as buffers: the files' rules (quant.py) apply."""
    from paramcount import quant
    from paramcount.classify import role

    marked = []
    for r in records:
        kind, what = role(r.name, r.shape or ())
        if r.kind is Kind.BUFFER and kind is Kind.AUXILIARY:
            notes = (what or Role.QUANTIZATION_AUXILIARY, *r.notes)
            marked.append(r._replace(kind=Kind.AUXILIARY, persistent=None, notes=notes))
        else:
            marked.append(r)
    logical, scheme = quant.logical(marked, None, {})
    # A packed weight was a buffer; as the layer's weight it is a parameter, frozen (quantized weights do not train).
    return [
        r._replace(trainable=False, persistent=None) if Note.QUANTIZED in r.notes and r.trainable is None else r
        for r in logical
    ], scheme


class _Found:
    """What the describer notices besides records: claimed sizes, quantization auxiliaries and schemes."""

    def __init__(self) -> None:
        self.claimed: list[str] = []
        self.auxiliaries: list[TensorRecord] = []
        self.schemes: set[str] = set()


def _walk(
    stack: list[tuple[torch.nn.Module, str, int]],
    modules: list[ModuleRecord],
    first_path: dict[int, str],
    append: Callable[[TensorRecord], None],
    describe: Callable[..., TensorRecord],
    *,
    target: str,
) -> bool:
    """The pre-order walk: one record per module path, one per tensor of each module object's first path.

    A wrapper module listed in :data:`_WRAPPERS` (FSDP1's ``FullyShardedDataParallel``) is looked through: the
    module it wraps adds no path segment, and the wrapper's handler records the tensors it manages.

    Returns:
        Whether a buffer is named like a packed quantized weight (:data:`_PACKED`), for the quantization rules.
    """
    parameter, buffer = Kind.PARAMETER, Kind.BUFFER
    packed = False
    wrappers = _WRAPPERS
    wrapper_names = frozenset(wrappers)
    skip: set[int] = set()  # tensors a wrapper's handler already recorded
    # Methods bound once: the loop runs once per module path (hundreds of thousands in a wide model).
    pop, push, add_row, first_of = stack.pop, stack.append, modules.append, first_path.get
    while stack:
        module, path, parent = pop()
        key = id(module)
        shared_with = first_of(key)
        if parent < -1:  # a wrapped module: same path, no row of its own
            position = -parent - 2
        else:
            position = len(modules)
            add_row(_new(ModuleRecord, (path, type(module).__name__, parent, shared_with)))
        if shared_with is not None:
            continue
        first_path[key] = path
        # One instance-dict read instead of four attribute lookups through nn.Module's class machinery.
        state = module.__dict__
        try:
            parameters, buffers, children = state["_parameters"], state["_buffers"], state["_modules"]
        except KeyError:
            raise TargetError(
                f"module {path or '(root)'!r} ({type(module).__name__}) was never initialized",
                target=target,
                fix="its __init__ must call super().__init__() before anything else",
            ) from None
        if not (parameters or buffers or children):
            continue  # a leaf without tensors (activations, dropout): nothing more to record
        prefix = f"{path}." if path else ""
        if children and not wrapper_names.isdisjoint(children):
            for wrapped, handler in wrappers.items():
                if wrapped in children:
                    handler(state, path, append, skip)
        for name, param in parameters.items():
            if param is not None and not (skip and id(param) in skip):
                append(describe(prefix + name, path, parameter, param, param.requires_grad, None))
        if buffers:
            non_persistent = state.get("_non_persistent_buffers_set", ())
            for name, tensor in buffers.items():
                if tensor is not None:
                    append(describe(prefix + name, path, buffer, tensor, None, name not in non_persistent))
                    packed = packed or name in _PACKED
        for name, child in reversed(children.items()):
            if child is not None:
                if name in wrappers:
                    push((child, path, -position - 2))  # encodes "alias of the row at position"
                else:
                    push((child, prefix + name, position))
    return packed


def _fsdp1(state: dict[str, Any], path: str, append: Callable[[TensorRecord], None], skip: set[int]) -> None:
    """FSDP1: the original parameters its flat parameter holds, by their names and shapes (``_fqns``, ``_shapes``),
    not as the local 1-D shard or views (either ``use_orig_params`` mode); this rank's shard is their storage."""
    handle = state.get("_handle")
    if handle is None:
        return
    flat = handle.flat_param
    prefix = f"{path}." if path else ""
    dtype = str(flat.dtype).removeprefix("torch.")
    local = math.prod(flat.shape)  # this rank's shard (with padding)
    for i, (fqn, shape) in enumerate(zip(flat._fqns, flat._shapes, strict=True)):
        owner = fqn.rpartition(".")[0]
        held = local if i == 0 else 0  # the shard is one buffer: charged once, to the first parameter
        append(
            TensorRecord(
                name=prefix + fqn,
                module=f"{prefix}{owner}" if owner else path,
                kind=Kind.PARAMETER,
                shape=tuple(shape),
                elements=math.prod(shape),
                dtype=dtype,
                stored_elements=held,
                stored_bytes=held * flat.dtype.itemsize,
                identity=("fsdp1", id(flat), i),
                trainable=flat.requires_grad,
                notes=(Note.FSDP1,),
            )
        )
    skip.add(id(flat))
    skip.update(id(p) for p in getattr(flat, "_params", None) or ())


#: Wrapper modules looked through, by the name under which they hold the module they wrap, with the handler that
#: records the tensors the wrapper itself manages: ``handler(module state, path, append, skip)``.
def _no_tensors(state: dict[str, Any], path: str, append: Callable[[TensorRecord], None], skip: set[int]) -> None:
    """A wrapper that holds no tensors of its own (activation checkpointing's): only its path segment goes."""


_WRAPPERS: dict[str, Callable[[dict[str, Any], str, Callable[[TensorRecord], None], set[int]], None]] = {
    "_fsdp_wrapped_module": _fsdp1,
    # torch.distributed.algorithms._checkpoint.checkpoint_wrapper (activation checkpointing, FSDP's offload)
    "_checkpoint_wrapped_module": _no_tensors,
}


class _Handler(NamedTuple):
    """One kind of special live tensor.

    Attributes:
        name: what it is.
        active: whether it can occur in this process (its library is imported); checked once per count.
        plain: it marks ordinary ``Tensor``/``Parameter`` objects (ZeRO-3), so it is tried on every tensor; the
            others are tried only on tensors of other types.
        matches: ``matches(tensor)``: whether the tensor is of this kind.
        describe: ``describe(tensor, base, found)``: its record, built from ``base`` (the tensor's name, module,
            kind, claimed shape and dtype; no storage) — or ``None`` for the ordinary dense path to describe it.
            Auxiliaries, schemes and claimed sizes go to ``found``.
    """

    name: str
    active: Callable[[], bool]
    plain: bool
    matches: Callable[[Any], bool]
    describe: Callable[[Any, TensorRecord, _Found], TensorRecord | None]


def _imported(module: str) -> Callable[[], bool]:
    return lambda: module in sys.modules


def _is_wrapper(tensor: Any) -> bool:
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    return bool(is_traceable_wrapper_subclass(tensor))


def _zero3(tensor: Any, base: TensorRecord, found: _Found) -> TensorRecord:
    """DeepSpeed ZeRO-3: the parameter itself is empty (numel 0); ``ds_shape`` is its shape, ``ds_tensor`` this
    rank's partition (DeepSpeed's own rule: ``ds_numel`` if it has ``ds_tensor``)."""
    logical = tuple(tensor.ds_shape)
    partition = getattr(tensor, "ds_tensor", None)
    held = math.prod(partition.shape) if partition is not None else 0
    return base._replace(
        shape=logical,
        elements=math.prod(logical),
        stored_elements=held,
        stored_bytes=held * tensor.dtype.itemsize,
        notes=(Note.ZERO3,),
    )


def _bitsandbytes_4bit(tensor: Any, base: TensorRecord, found: _Found) -> TensorRecord:
    """bitsandbytes ``Params4bit``: two values per stored byte (four with bf16 storage); the logical shape is the
    quant state's. absmax, the quant map and the nested state are overhead (named as bitsandbytes saves them)."""
    state = tensor.quant_state
    logical = tuple(state.shape)
    found.schemes.add(f"bitsandbytes {state.quant_type}")
    parts = [("absmax", state.absmax), ("quant_map", state.code)]
    nested = getattr(state, "state2", None)
    if nested is not None:
        parts += [("nested_absmax", nested.absmax), ("nested_quant_map", nested.code)]
    for part, inner in parts:
        if inner is not None:
            found.auxiliaries.append(_auxiliary(f"{base.name}.{part}", base.module, inner))
    held = math.prod(tensor.shape)
    return base._replace(
        shape=logical,
        elements=math.prod(logical),
        dtype=f"bitsandbytes-{state.quant_type}",
        stored_elements=held,
        stored_bytes=held * tensor.dtype.itemsize,
        notes=(Note.QUANTIZED,),
    )


def _bitsandbytes_int8(tensor: Any, base: TensorRecord, found: _Found) -> None:
    """bitsandbytes ``Int8Params``: the int8 weight is logical (the dense path describes it); ``SCB`` is overhead."""
    found.schemes.add("bitsandbytes int8")
    found.auxiliaries.append(_auxiliary(f"{base.name}.SCB", base.module, tensor.SCB))


def _dtensor(tensor: Any, base: TensorRecord, found: _Found) -> TensorRecord:
    """DTensor (FSDP2, tensor parallel): the shape is global; this rank stores its local shard or replica."""
    local = tensor.to_local()
    held = math.prod(local.shape)
    return base._replace(stored_elements=held, stored_bytes=held * local.dtype.itemsize, notes=(Note.SHARDED,))


def _torchao(tensor: Any, base: TensorRecord, found: _Found) -> TensorRecord | None:
    """torchao: the subclass's shape is logical; its biggest inner tensor holds the data, the rest (scales, zero
    points) are overhead."""
    inner = _inner_tensors(tensor)
    if not inner:
        return _claimed(tensor, base, found)
    found.schemes.add(f"torchao {type(tensor).__name__}")
    _, data = max(inner, key=lambda item: item[1].untyped_storage().nbytes())
    for part, value in inner:
        if value is not data:
            found.auxiliaries.append(_auxiliary(f"{base.name}.{part}", base.module, value))
    return base._replace(
        dtype=str(data.dtype).removeprefix("torch."),
        stored_elements=math.prod(data.shape),
        stored_bytes=data.untyped_storage().nbytes(),
        notes=(Note.QUANTIZED,),
    )


def _claimed(tensor: Any, base: TensorRecord, found: _Found) -> TensorRecord:
    """Any other wrapper subclass: its shape is its own claim (10^12 over 4 elements is possible), and what it
    stores is what the tensors inside it store, never numel x itemsize."""
    found.claimed.append(base.name)
    held = sum(value.untyped_storage().nbytes() for _, value in _inner_tensors(tensor))
    return base._replace(stored_bytes=held, notes=(Note.CLAIMED_SIZE,))


#: Special live tensors, tried in order; the first that matches describes the tensor. A new kind is one entry here
#: and one function (CONTRIBUTING.md).
_HANDLERS: tuple[_Handler, ...] = (
    _Handler("deepspeed-zero3", _imported("deepspeed"), True, lambda t: hasattr(t, "ds_shape"), _zero3),
    _Handler(
        "bitsandbytes-4bit",
        _imported("bitsandbytes"),
        False,
        lambda t: type(t).__name__ == "Params4bit" and getattr(t, "quant_state", None) is not None,
        _bitsandbytes_4bit,
    ),
    _Handler(
        "bitsandbytes-int8",
        _imported("bitsandbytes"),
        False,
        lambda t: type(t).__name__ == "Int8Params" and getattr(t, "SCB", None) is not None,
        _bitsandbytes_int8,
    ),
    _Handler(
        "dtensor",
        _imported("torch.distributed.tensor"),
        False,
        lambda t: type(t).__name__ == "DTensor" and type(t).__module__.startswith("torch.distributed"),
        _dtensor,
    ),
    _Handler(
        "torchao",
        _imported("torchao"),
        False,
        lambda t: type(t).__module__.startswith("torchao") and _is_wrapper(t),
        _torchao,
    ),
    _Handler("wrapper-subclass", lambda: True, False, _is_wrapper, _claimed),
)


def _describer(uninitialized: tuple[type, ...], found: _Found) -> Callable[..., TensorRecord]:
    """A function that turns one live tensor into a record, with its lookups bound as locals.

    The walk calls it once per tensor, so it is a closure over plain locals rather than a method reading
    attributes, and it takes positional arguments. Tensors of special kinds go to the first of :data:`_HANDLERS`
    that matches; only the handlers whose library is imported are tried, and for plain ``Tensor`` and
    ``Parameter`` objects only those that mark plain tensors (none, unless DeepSpeed is imported).
    """
    import torch

    active = [h for h in _HANDLERS if h.active()]
    plain_handlers = tuple(h for h in active if h.plain)
    special_handlers = tuple(active)
    # Exact types that cannot be lazy, checked before the slower isinstance (Parameter has a metaclass).
    plain = frozenset({torch.Tensor, torch.nn.Parameter})
    dtypes: dict[torch.dtype, tuple[str, int]] = {}
    view_failures = (RuntimeError, NotImplementedError, TypeError, ValueError)
    prod = math.prod
    by_storage: dict[int, int] = {}  # storage pointer -> the number of the first view seen on it
    first_views: list[torch.Tensor | None] = []  # by number: the tensor, while it is its storage's only one
    views: dict[Hashable, int] = {}  # (storage, offset, shape, stride, dtype) -> number, for shared storages

    def describe(  # noqa: PLR0917 -- called once per tensor; positional arguments are cheaper
        name: str, module: str, kind: Kind, tensor: torch.Tensor, trainable: bool | None, persistent: bool | None
    ) -> TensorRecord:
        facts = dtypes.get(tensor.dtype)
        if facts is None:
            facts = dtypes[tensor.dtype] = (str(tensor.dtype).removeprefix("torch."), tensor.dtype.itemsize)
        dtype, itemsize = facts
        is_plain = type(tensor) in plain
        if not is_plain and isinstance(tensor, uninitialized):
            # Lazy: numel() raises and size() claims torch.Size([0]); the honest answer is "unknown".
            return TensorRecord(
                name=name,
                module=module,
                kind=kind,
                shape=None,
                elements=None,
                dtype=dtype,
                stored_elements=None,
                stored_bytes=None,
                identity=("object", id(tensor)),
                trainable=trainable,
                persistent=persistent,
                notes=(Note.UNINITIALIZED,),
            )
        # torch.Size is a tuple of ints; kept as is rather than copied, once per tensor.
        shape: tuple[int, ...] = tensor.shape
        elements = prod(shape)
        for handler in plain_handlers if is_plain else special_handlers:
            if handler.matches(tensor):
                base = TensorRecord(
                    name,
                    module,
                    kind,
                    shape,
                    elements,
                    dtype,
                    None,
                    None,
                    ("object", id(tensor)),
                    trainable,
                    persistent,
                )
                special = handler.describe(tensor, base, found)
                if special is not None:
                    return special
                break
        identity: Hashable
        notes: tuple[Note, ...] = ()
        try:
            storage = tensor.untyped_storage()._cdata
        except view_failures:
            # No storage to compare (sparse and other layouts, wrapper subclasses): object identity only.
            identity = ("object", id(tensor))
            held = elements
        else:
            # The storage object's C pointer identifies its StorageImpl (meta tensors included) for as long as
            # the model holds the tensor, which is the whole walk. Views are numbered, so that each record keeps
            # a small int rather than a tuple of tuples (fewer objects for the collector to visit once the count
            # returns: benchmarks/bench_modules.py, nested+frozen), and a view's full key (offset, shape, stride,
            # dtype) is built only for a storage that a second tensor uses: most storages hold one tensor.
            number = by_storage.get(storage)
            if number is None:
                identity = by_storage[storage] = len(first_views)
                first_views.append(tensor)
            else:
                first = first_views[number]
                if first is not None:  # the storage's second tensor: file its first one's full key now
                    views[_view_key(storage, first)] = number
                    first_views[number] = None
                identity = views.setdefault(_view_key(storage, tensor), len(first_views))
                if identity == len(first_views):
                    first_views.append(None)
            if elements == 0 or tensor.is_contiguous():
                held = elements
            else:
                # Span of the view in its storage: fewer elements than the shape for stride-0 (expanded) views.
                held = 1 + sum((size - 1) * step for size, step in zip(shape, tensor.stride(), strict=True))
                if held < elements:
                    notes = (Note.EXPANDED,)
        return _new(
            TensorRecord,
            (
                name,
                module,
                kind,
                shape,
                elements,
                dtype,
                held,
                held * itemsize,
                identity,
                trainable,
                persistent,
                notes,
            ),
        )

    return describe


def _view_key(storage: int, tensor: torch.Tensor) -> Hashable:
    """What makes two tensors on one storage the same tensor: where they start, their shape, strides and dtype."""
    return (storage, tensor.storage_offset(), tuple(tensor.shape), tensor.stride(), tensor.dtype)


def _auxiliary(name: str, module: str, tensor: torch.Tensor) -> TensorRecord:
    """The record of a plain tensor that supports a quantized one (scales, absmax, quant maps): overhead."""
    elements = math.prod(tensor.shape)
    return TensorRecord(
        name=name,
        module=module,
        kind=Kind.AUXILIARY,
        shape=tuple(tensor.shape),
        elements=elements,
        dtype=str(tensor.dtype).removeprefix("torch."),
        stored_elements=elements,
        stored_bytes=elements * tensor.dtype.itemsize,
        identity=("object", id(tensor)),
        notes=(Role.QUANTIZATION_AUXILIARY,),
    )


def _inner_tensors(tensor: Any) -> list[tuple[str, torch.Tensor]]:
    """The plain tensors inside a wrapper subclass (``__tensor_flatten__``, recursively), with dotted names."""
    found: list[tuple[str, torch.Tensor]] = []
    pending: list[tuple[str, Any]] = [("", tensor)]
    while pending:
        prefix, current = pending.pop()
        if not _is_wrapper(current):
            found.append((prefix, current))
            continue
        names, _ = current.__tensor_flatten__()
        pending.extend((f"{prefix}.{n}" if prefix else n, getattr(current, n)) for n in names)
    return found


def torch_load(records: tuple[TensorRecord, ...], model: Any, name: str) -> Load:
    """What ``model.load_state_dict(weights, strict=False)`` reports for stored tensors, shape mismatches apart."""
    from paramcount.records import Load, Mismatch

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    stored = {r.name: r for r in records if r.kind is not Kind.AUXILIARY}
    mismatched = tuple(
        Mismatch(k, r.shape, expected[k])
        for k, r in stored.items()
        if k in expected and r.shape is not None and r.shape != expected[k]
    )
    dtypes = {k: str(v.dtype).removeprefix("torch.") for k, v in model.state_dict().items()}
    changes = tuple(
        (k, str(r.dtype), dtypes[k]) for k, r in stored.items() if k in dtypes and r.dtype and r.dtype != dtypes[k]
    )
    return Load(
        loader="torch",
        model=name,
        missing_keys=tuple(k for k in expected if k not in stored),
        unexpected_keys=tuple(k for k in stored if k not in expected),
        mismatched_keys=mismatched,
        dtype_changes=changes,
    )
