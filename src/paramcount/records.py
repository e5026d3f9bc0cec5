"""Facts about tensors and modules, as sources find them: no totals, no formatting, no torch.

A source (a live module, later a checkpoint file) turns what it reads into an :class:`Inventory` of
:class:`TensorRecord` and :class:`ModuleRecord` values; :func:`paramcount.tally.tally` counts them.

>>> r = TensorRecord.of("fc.weight", "fc", Kind.PARAMETER, (10, 784), "float32", itemsize=4, identity="w")
>>> r.elements, r.stored_bytes
(7840, 31360)
>>> TensorRecord.of("step", "", Kind.BUFFER, (), "int64", itemsize=8, identity=None).elements
1
"""

from __future__ import annotations

import math
from enum import Enum, unique

from paramcount._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = [
    "Adapter",
    "Architecture",
    "Distributed",
    "Inventory",
    "Kind",
    "ModuleRecord",
    "Note",
    "RankStorage",
    "Role",
    "TensorRecord",
    "index_value",
    "unique_parameters",
]


@unique
class Kind(str, Enum):
    """What role a tensor plays in its model."""

    PARAMETER = "parameter"
    BUFFER = "buffer"
    #: a stored tensor whose role is not known (a file without module structure)
    TENSOR = "tensor"
    #: quantization scales, zero points and other tensors that support a parameter
    AUXILIARY = "auxiliary"


@unique
class Role(str, Enum):
    """Why a stored tensor is not counted as a parameter; :data:`paramcount.classify.REASONS` explains each.

    A record that is not a parameter carries its role as its first note.
    """

    BATCHNORM_STATISTICS = "batchnorm-statistics"
    ROTARY_FREQUENCIES = "rotary-frequencies"
    ATTENTION_MASK = "attention-mask"
    POSITION_IDS = "position-ids"
    BUFFER = "buffer"
    NOT_IN_INDEX = "not-in-index"
    OPTIMIZER_STATE = "optimizer-state"
    EMA_COPY = "ema-copy"
    TRAINING_STATE = "training-state"
    MODULE_ATTRIBUTE = "module-attribute"
    QUANTIZATION_AUXILIARY = "quantization-auxiliary"
    #: a name transformers architectures use for a persistent buffer, recognised without the architecture
    KNOWN_BUFFER = "known-buffer"
    #: stored in a file but not a tensor of the architecture its config names
    UNEXPECTED = "unexpected"
    #: a copy of a base-model layer saved with a PEFT adapter (modules_to_save, embedding layers)
    BASE_COPY = "base-layer-copy"
    #: stored, but the architecture's loader drops it by rule (a stale buffer of an older checkpoint)
    IGNORED = "ignored-at-load"
    #: a second stored name that loads into the same key of the model as another (one overwrites the other)
    DUPLICATE = "duplicate-key"


@unique
class Note(str, Enum):
    """How a record's figures were obtained, when not simply from a dense tensor's shape."""

    #: a packed quantized weight counted by its logical (unquantized) shape
    QUANTIZED = "quantized"
    #: a stride-0 view: fewer stored elements than logical ones
    EXPANDED = "expanded"
    #: a lazy parameter whose shape is not known yet
    UNINITIALIZED = "uninitialized"
    #: a tensor subclass whose size is only its own claim
    CLAIMED_SIZE = "claimed-size"
    #: a DTensor: global shape, this rank's shard stored
    SHARDED = "sharded"
    #: a DeepSpeed ZeRO-3 partitioned parameter, counted by ``ds_shape``
    ZERO3 = "zero3"
    #: an original parameter inside an FSDP1 flat parameter
    FSDP1 = "fsdp1"
    #: a pickled meta tensor: a shape without storage
    META = "meta"
    #: a sparse tensor: its dense shape, its stored values
    SPARSE = "sparse"
    #: a parameter the checkpoint leaves out because the model makes it at load; counted from the architecture
    NOT_STORED = "not-stored"


class TensorRecord(NamedTuple):
    """One name that reaches one tensor.

    Several records may describe the same tensor (tied weights): they then carry equal ``identity`` values and
    the tally counts the tensor once, attributed to the first record.

    Records are immutable named tuples rather than frozen dataclasses: a wide model produces one per tensor, and
    a frozen dataclass costs about 5 us to build against well under 1 us here, which decides whether the per-module
    report keeps pace with fvcore's bare sum (benchmarks/bench_modules.py).

    Attributes:
        name: full dotted name (``"transformer.wte.weight"``).
        module: dotted path of the module that owns the name (``""`` for the root).
        kind: parameter, buffer, plain tensor or auxiliary.
        shape: logical shape; ``None`` when unknown (an uninitialized lazy parameter).
        elements: logical elements, the product of ``shape`` (1 for a scalar); ``None`` when the shape is unknown.
            Stored rather than derived because the tally reads it several times per tensor.
        dtype: dtype name without framework prefix (``"float32"``).
        stored_elements: elements memory or disk actually holds for this view (16 for a 1000x16 expanded view
            of a 16-element row); ``None`` when unknown.
        stored_bytes: bytes behind ``stored_elements``; ``None`` when unknown.
        identity: "same tensor?" key; equal keys are one tensor. ``None`` means unique.
        trainable: ``requires_grad`` of a live parameter; ``None`` when unknowable or not a parameter.
        persistent: whether a buffer is saved in ``state_dict``; ``None`` when unknowable or not a buffer.
        notes: :class:`Note` flags (``Note.EXPANDED``, ``Note.UNINITIALIZED``); a record that is not a parameter
            carries its :class:`Role` first.
    """

    name: str
    module: str
    kind: Kind
    shape: tuple[int, ...] | None
    elements: int | None
    dtype: str
    stored_elements: int | None
    stored_bytes: int | None
    identity: Hashable | None
    trainable: bool | None = None
    persistent: bool | None = None
    notes: tuple[Role | Note, ...] = ()

    @classmethod
    def of(
        cls,
        name: str,
        module: str,
        kind: Kind,
        shape: tuple[int, ...] | None,
        dtype: str,
        *,
        itemsize: float | None,
        identity: Hashable | None,
        trainable: bool | None = None,
        persistent: bool | None = None,
    ) -> TensorRecord:
        """A dense record whose stored elements equal its logical ones, with ``elements`` derived from ``shape``.

        Args:
            itemsize: bytes per element (0.5 for 4-bit types); ``None`` when unknown.
        """
        elements = None if shape is None else math.prod(shape)
        stored_bytes = None if elements is None or itemsize is None else math.ceil(elements * itemsize)
        return cls(name, module, kind, shape, elements, dtype, elements, stored_bytes, identity, trainable, persistent)


class ModuleRecord(NamedTuple):
    """One path to one module of a live model, in ``named_modules`` order.

    Attributes:
        path: dotted path (``""`` for the root).
        type: class name (``"Linear"``).
        parent: position of the parent's record among the inventory's modules (which lists parents before
            children); -1 for the root.
        shared_with: for a module object reached by more than one path, the first path that reached it (which
            owns its tensors); ``None`` for that first path and for modules reached once.
    """

    path: str
    type: str
    parent: int = -1
    shared_with: str | None = None


class Architecture(NamedTuple):
    """How a model folder's stored tensors were matched with the architecture its configuration names.

    Attributes:
        name: the model class (``"LlamaForCausalLM"``); ``None`` when the configuration names none.
        model_type: the configuration's ``model_type``.
        chosen: how the class was chosen (``"architectures[0]"``, ``"model_type"``).
        source: where the knowledge came from: ``"table"`` (paramcount's generated table), ``"build"`` (the model
            built on the meta device by transformers) or ``"name rules"`` (neither was available: roles guessed).
        matched: stored tensors that are tensors of the class.
        unexpected: stored tensor names the class does not have (not counted as parameters).
        missing: names (layer indices as ``*``) the class has that no stored tensor matches.
        tied_copies: names stored as separate copies of a tensor the model ties, counted once.
        ignored: stored names the class's loader ignores by rule (stale buffers of older checkpoints), not counted.
        converted: stored names the loader renames or fuses into the model's own spelling (counted as stored).
    """

    name: str | None
    model_type: str | None
    chosen: str
    source: str
    matched: int = 0
    unexpected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    tied_copies: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    converted: int = 0


class Mismatch(NamedTuple):
    """A stored tensor whose shape is not the model's: ``(name, stored shape, the model's shape)``."""

    name: str
    stored: tuple[int, ...]
    expected: tuple[int, ...]


class Load(NamedTuple):
    """What loading some weights into a model would do, as its loader reports it (``paramcount check``).

    Attributes:
        loader: ``"transformers"`` (``from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True)``)
            or ``"torch"`` (``load_state_dict(strict=False)``, shape mismatches apart).
        model: the model class.
        missing_keys: the model's keys no stored tensor loads into, after ties and the ignore rules.
        unexpected_keys: stored keys (in the model's spelling, after renames) the model has no place for.
        mismatched_keys: stored tensors whose shape differs from the model's.
        ignored_keys: stored names the loader drops by rule (stale buffers), not reported by it.
        converted_keys: stored names the loader renames or fuses into the model's spelling.
        dtype_changes: ``(name, stored dtype, the model's dtype)`` of floating tensors the load casts.
        shapes_checked: whether the model's shapes were known (a build); without transformers only the names are.
    """

    loader: str
    model: str | None
    missing_keys: tuple[str, ...] = ()
    unexpected_keys: tuple[str, ...] = ()
    mismatched_keys: tuple[Mismatch, ...] = ()
    ignored_keys: tuple[str, ...] = ()
    converted_keys: int = 0
    dtype_changes: tuple[tuple[str, str, str], ...] = ()
    shapes_checked: bool = True

    @property
    def loads(self) -> bool:
        """Nothing missing, unexpected or mismatched."""
        return not (self.missing_keys or self.unexpected_keys or self.mismatched_keys)


class Changed(NamedTuple):
    """A tensor both sides hold, with another shape or dtype: ``(name, (shape, dtype) in A, (shape, dtype) in B)``."""

    name: str
    a: tuple[tuple[int, ...] | None, str | None]
    b: tuple[tuple[int, ...] | None, str | None]


class ModuleDelta(NamedTuple):
    """A module whose own parameters differ between the two sides (per instance); a run of layers that differ alike
    is one row, its module path with ``*`` and how many ``instances`` it stands for."""

    module: str
    instances: int
    a: int
    b: int


class Diff(NamedTuple):
    """Two models' tensors compared after each side's architecture normalised its names (``paramcount diff``).

    Attributes:
        a, b: the two targets.
        only_in_a, only_in_b: tensor names (in the model's spelling) one side holds and the other does not.
        changed: tensors both hold with another shape or dtype.
        parameters_a, parameters_b: each side's parameter total.
        modules: per-module parameter differences, runs of layers collapsed.
        strict_dtype: whether a dtype change counts as a difference.
    """

    a: str
    b: str
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    changed: tuple[Changed, ...]
    parameters_a: int | None
    parameters_b: int | None
    modules: tuple[ModuleDelta, ...]
    strict_dtype: bool = False

    @property
    def same(self) -> bool:
        """The same tensors with the same shapes (and dtypes, when ``strict_dtype``), and the same parameters."""
        if self.only_in_a or self.only_in_b or self.parameters_a != self.parameters_b:
            return False
        return not any(c.a[0] != c.b[0] or (self.strict_dtype and c.a[1] != c.b[1]) for c in self.changed)


class RankStorage(NamedTuple):
    """What one rank of a distributed model stores: elements and bytes of the unique tensors in its memory."""

    rank: int
    stored_elements: int
    bytes: int


class Distributed(NamedTuple):
    """How a distributed model's count was gathered.

    Attributes:
        world_size: ranks in the process group.
        scheme: sharding found (``"dtensor"``, ``"deepspeed-zero3"``, ``"pipeline"``, ``"replicated"``).
        per_rank: each rank's storage, in rank order.
    """

    world_size: int
    scheme: str
    per_rank: tuple[RankStorage, ...]


class Source(NamedTuple):
    """Where a remote target's numbers came from, and what reading it cost.

    Attributes:
        kind: ``"hub"`` (a Hugging Face Hub repository), ``"url"`` (an HTTP(S) server) or the fsspec protocol.
        url: the repository's address (``https://huggingface.co/org/name``) or the file's URL (without a query).
        repo: the Hub repository id, else ``None``.
        revision: the revision asked for (``"main"``), else ``None``.
        commit: the commit the revision resolved to, else ``None``.
        files: the repository's files that were read, relative to it.
        bytes_fetched: file bytes received over the network (range reads; the Hub API listing is not included).
        requests: requests made (the Hub API listing and range reads, retries included).
        cached_bytes: header bytes served from paramcount's cache instead of the network.
        offline: the Hub was not asked: the listing came from paramcount's cache (``HF_HUB_OFFLINE``, no network).
        hub_parameters: the Hub's own ``safetensors.total`` for the repository (a figure the Hub computes from
            the safetensors headers, not from the architecture), when it has one.
        alternatives: other weight sets the repository holds, not counted (``.bin`` beside safetensors).
    """

    kind: str
    url: str
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None
    files: tuple[str, ...] = ()
    bytes_fetched: int = 0
    requests: int = 0
    cached_bytes: int = 0
    offline: bool = False
    hub_parameters: int | None = None
    alternatives: tuple[str, ...] = ()


class Variant(NamedTuple):
    """One of several weight files that hold the same model (a GGUF repository's quantizations).

    Attributes:
        file: its name in the folder or repository.
        format: the file format.
        quantization: the storage type of most of its weights (``"Q4_K"``, ``"BF16"``).
        parameters: its parameters (logical elements, each tensor once).
        stored_bytes: the bytes its tensors take in the file.
        counted: whether the report's totals are this file's.
    """

    file: str
    format: str
    quantization: str | None
    parameters: int
    stored_bytes: int | None
    counted: bool = False


class Adapter(NamedTuple):
    """A PEFT adapter: its method and shape, and its parameters beside its base model's.

    Attributes:
        method: ``peft_type`` (``"LORA"``).
        rank: ``r``, when the method has one.
        alpha: ``lora_alpha``, when given.
        target_modules: the modules it adapts (names, or one regular expression).
        modules_to_save: base modules it trains full copies of.
        base: the base model counted with it, ``None`` when none was at hand.
        adapter_parameters: the adapter's own parameters (all trainable).
        base_parameters: the base model's parameters, when counted.
        saved_copies: names of saved copies of base layers, listed apart.
        peft_trainable: trainable parameters as PEFT reports them (the adapter plus trained ``modules_to_save``
            copies).
        peft_all: all parameters as PEFT reports them (base, adapter and those copies), when the base was counted.
    """

    method: str
    rank: int | None
    alpha: float | None
    target_modules: tuple[str, ...]
    modules_to_save: tuple[str, ...]
    base: str | None
    adapter_parameters: int
    base_parameters: int | None
    saved_copies: tuple[str, ...]
    peft_trainable: int
    peft_all: int | None


class Inventory(NamedTuple):
    """Everything one source found about one target.

    Attributes:
        target: how the user named the target (spec string, path or ``"<nn.Module Foo>"``).
        tensors: one record per name, in module order (first owner first).
        modules: module paths in pre-order; empty for sources without module structure.
        warnings: problems the source noticed that the tally cannot see.
        notes: informational facts about how the target was read (wrappers removed, device used).
        format: the file format read (``"safetensors"``), ``None`` for a live model.
        files: the files read, in order.
        verdict: ``"ok"`` or ``"untrusted"`` for files; ``None`` for a live model.
        storages: distinct storages behind the tensors, when the source knows (files).
        stored_bytes: bytes of those storages, each once, when the source knows (a storage several views share
            counts once even when the views cover different parts of it).
        quantization: the quantization scheme found (``"gptq 4-bit"``), ``None`` when the weights are not quantized.
        architecture: how a model folder's tensors were matched with its configuration's architecture.
        adapter: a PEFT adapter's method, rank, targets and figures, for an adapter folder.
        source: where a remote target's numbers came from (repository, commit, bytes and requests).
        variants: each of several files holding the same model (a GGUF repository), one counted.
        experts: ``(experts per token, routed experts)`` of a mixture-of-experts model, from its configuration.
        config: the model's configuration, for what a memory estimate derives from it (attention geometry): a
            live model's own config object, or a folder's or repository's ``config.json`` document.
        distributed: how a model counted across a process group was gathered (world size, scheme, each rank's
            storage); the tensors are then the global ones.
    """

    target: str
    tensors: tuple[TensorRecord, ...]
    modules: tuple[ModuleRecord, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    format: str | None = None
    files: tuple[str, ...] = ()
    verdict: str | None = None
    storages: int | None = None
    stored_bytes: int | None = None
    quantization: str | None = None
    architecture: Architecture | None = None
    adapter: Adapter | None = None
    source: Source | None = None
    variants: tuple[Variant, ...] = ()
    experts: tuple[int, int] | None = None
    load: Load | None = None
    config: object = None
    distributed: Distributed | None = None


def unique_parameters(records: tuple[TensorRecord, ...] | list[TensorRecord]) -> int:
    """Logical elements of the parameters among ``records``, each tensor once (equal identities are one tensor).

    For a source's own cross-checks (an index's ``total_parameters``, a component's figure in a note); the tally
    is what counts a report.

    >>> w = TensorRecord.of("w", "", Kind.PARAMETER, (4, 4), "float32", itemsize=4, identity="w")
    >>> unique_parameters([w, w._replace(name="tied")])
    16
    """
    unique: dict[object, int] = {}
    for r in records:
        if r.kind is Kind.PARAMETER:
            unique[r.identity if r.identity is not None else object()] = r.elements or 0
    return sum(unique.values())


#: the most digits of a run that :func:`index_value` reads: the least limit ``sys.set_int_max_str_digits`` allows
INDEX_DIGITS = 640
_ABOVE_EVERY_INDEX = 10**INDEX_DIGITS


def index_value(digits: str) -> int:
    """The number a run of decimal digits in a tensor name stands for (a layer index), for sorting and comparing.

    A run too long for ``int()`` (a name is the file's to choose) is a number above every shorter run's, ordered
    by its length, instead of a ``ValueError``.

    >>> index_value("12"), index_value("٣"), index_value("9" * 700) > index_value("9" * 640)
    (12, 3, True)
    """
    return int(digits) if len(digits) <= INDEX_DIGITS else _ABOVE_EVERY_INDEX + len(digits)
