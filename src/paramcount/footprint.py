"""Bytes per device, from a report: weights, gradients, optimizer states, master weights, KV cache, activations.

Every figure is a sum over the report's unique parameter tensors (a tie is held once), at each tensor's stored
dtype or the one asked for, and every assumption behind it is spelled out in :attr:`Memory.assumptions`.

Training states follow what the code that holds them allocates:

- gradients: one per trainable element, in the weights' dtype;
- mixed precision (16-bit weights): an fp32 master copy of every trainable weight, optimizer states in fp32;
  ``pure`` precision keeps everything in the weights' dtype (``torch.optim`` on a bf16 model);
- ``adamw``: two states per element, and PyTorch's ``step`` (a 4-byte fp32 scalar tensor per parameter) under
  ``ddp`` and ``fsdp``; DeepSpeed's flat partitions keep one counter per group, left out;
- ``adamw-8bit`` (bitsandbytes): two uint8 states plus one fp32 absmax per 256-element block each for tensors of
  4,096 elements or more, two fp32 states below that, and the two 256-entry quantization maps the optimizer shares;
- ``sgd``: nothing; ``sgd-momentum``: one momentum buffer;
- ``adafactor`` (transformers, ``beta1=None``): in fp32 (it casts 16-bit gradients), for a tensor of two or more
  dimensions a row and a column second moment (``shape[:-1]`` and ``shape[:-2] + shape[-1:]``), else a full one,
  and a 4-byte RMS scalar tensor per tensor.

For inference ``tp`` (tensor parallelism, as vLLM and Megatron shard a model) splits every matrix and embedding
over N devices, keeps vectors whole, and gives each device the ceiling of its share of the KV heads (at least one:
fewer KV heads than devices are replicated) or the whole latent of multi-head latent attention.

Partitioned over N devices as in the ZeRO paper (Rajbhandari et al. 2020): ``zero1`` partitions optimizer states
and master weights, ``zero2`` also gradients, ``zero3`` and ``fsdp`` also weights (each device holds the ceiling
of its share), and the two gather one unit at a time: the largest module's own parameters for ZeRO-3, the
largest repeated block (or the whole model when none repeats) for FSDP, as weights and gradients. Mixed-precision
AdamW gives the paper's 2Ψ + 2Ψ + 12Ψ. The ``deepspeed`` convention reproduces DeepSpeed's estimators instead
(``estimate_zero2_model_states_mem_needs``: 2Ψ + 18Ψ/N, which adds an fp32 gradient partition;
``estimate_zero3_model_states_mem_needs``: 18Ψ/N + 4 bytes per element of the largest layer).

The KV cache is what transformers' ``DynamicCache`` holds after a prefill of ``seq`` tokens: key and value per
attention layer, ``num_key_value_heads x head_dim`` each per token; sliding-window (and chunked) layers keep the
last ``window - 1`` tokens; layers without attention (linear attention, state-space, MLP-only) hold none; layers
that reuse another layer's cache hold none; multi-head latent attention holds its compressed latent
(``kv_lora_rank + qk_rope_head_dim`` per token, one head), as transformers 5 and serving engines keep it.

>>> capacity("80GiB"), capacity("H100")
((85899345920, None), (85899345920, 'H100'))
"""

from __future__ import annotations

import math

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.dtypes import bits as dtype_bits
from paramcount.errors import TargetError, UsageError
from paramcount.numbers import exact, human_bytes
from paramcount.records import Kind, Note

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from paramcount.records import TensorRecord
    from paramcount.report import Report

__all__ = [
    "CONVENTIONS",
    "GPUS",
    "MODES",
    "OPTIMIZERS",
    "PRECISIONS",
    "STRATEGIES",
    "Activations",
    "KVCache",
    "Memory",
    "PerDevice",
    "Plan",
    "beyond_context",
    "capacity",
    "dtype_name",
    "estimate",
    "kv_cache",
]

MODES = ("inference", "training")
OPTIMIZERS = ("adamw", "adamw-8bit", "sgd", "sgd-momentum", "adafactor")
STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp", "tp")
PRECISIONS = ("mixed", "pure")
CONVENTIONS = ("paper", "deepspeed")

_GIB = 2**30
_GB = 10**9
#: device memory as the vendor states it (bytes); nvidia-smi shows a little less (the driver reserves some)
GPUS: dict[str, int] = {
    "A100-40GB": 40 * _GIB,
    "A100": 80 * _GIB,
    "A100-80GB": 80 * _GIB,
    "H100": 80 * _GIB,
    "H100-NVL": 94 * _GIB,
    "H200": 141 * _GB,
    "B200": 180 * _GB,
    "GB200": 186 * _GB,
    "MI250X": 128 * _GIB,
    "MI300X": 192 * _GIB,
    "MI325X": 256 * _GIB,
    "L4": 24 * _GIB,
    "L40S": 48 * _GIB,
    "A10": 24 * _GIB,
    "A10G": 24 * _GIB,
    "T4": 16 * _GIB,
    "V100": 32 * _GIB,
    "V100-16GB": 16 * _GIB,
    "RTX-3090": 24 * _GIB,
    "RTX-4090": 24 * _GIB,
    "RTX-5090": 32 * _GIB,
}
# dtype spellings people use on command lines -> the canonical name of paramcount.dtypes
_DTYPES = {
    "fp32": "float32", "float": "float32", "f32": "float32", "fp16": "float16", "half": "float16", "f16": "float16",
    "bf16": "bfloat16", "fp8": "float8_e4m3fn", "float8": "float8_e4m3fn", "e4m3": "float8_e4m3fn",
    "e5m2": "float8_e5m2", "fp64": "float64", "double": "float64", "int4": "int4", "nf4": "int4", "fp4": "int4",
}  # fmt: skip
_SUB_BYTE = {"int4": 4}
_FLOATS = ("float", "bfloat")
_STEP_BYTES = 4  # torch.optim's per-parameter ``step``: a float32 scalar tensor (capturable=False, fused=False)
_RMS_BYTES = 4  # transformers' Adafactor keeps each tensor's RMS as a float32 scalar tensor after a step
_BNB_MIN_8BIT = 4096  # bitsandbytes' min_8bit_size default
_BNB_BLOCK = 256
_BNB_QMAPS = 2 * 256 * 4  # the signed and unsigned dynamic maps, 256 float32 each, shared by every tensor


class Plan(NamedTuple):
    """What to estimate; :func:`paramcount.memory` checks each value before it is used.

    Attributes:
        mode: ``"inference"`` or ``"training"``.
        dtype: weights' dtype to assume instead of the stored one (``"bfloat16"``); ``None`` keeps each tensor's.
        batch: sequences in a batch (KV cache and activations).
        seq: tokens per sequence; ``None`` leaves the KV cache and activations out.
        kv_dtype: the KV cache's dtype; ``None``: the weights' floating dtype.
        optimizer: one of :data:`OPTIMIZERS` (training).
        precision: ``"mixed"`` (16-bit weights with fp32 master weights and states) or ``"pure"``.
        gpus: devices the model is trained or served on.
        strategy: one of :data:`STRATEGIES` (training); inference replicates the model on each device.
        convention: ``"paper"`` (the ZeRO paper's terms) or ``"deepspeed"`` (DeepSpeed's estimators).
        activations: ``"measure"`` to run the forward on fake tensors and sum what autograd saves; ``None``.
        capacity: one device's memory in bytes, for the fits / does not fit answer; ``None``.
        device_name: the device named for ``capacity`` (``"H100"``), or ``None``.
    """

    mode: str = "inference"
    dtype: str | None = None
    batch: int = 1
    seq: int | None = None
    kv_dtype: str | None = None
    optimizer: str = "adamw"
    precision: str = "mixed"
    gpus: int = 1
    strategy: str = "ddp"
    convention: str = "paper"
    activations: str | None = None
    capacity: int | None = None
    device_name: str | None = None


class PerDevice(NamedTuple):
    """Bytes one device holds, by kind; ``total`` is their sum (``activations`` counted when measured)."""

    weights: int
    buffers: int
    gradients: int
    optimizer: int
    master_weights: int
    gathered: int
    kv_cache: int
    activations: int | None
    total: int


class KVCache(NamedTuple):
    """The KV cache's geometry and size.

    Attributes:
        bytes: for ``batch x seq`` tokens, all devices together.
        per_token: bytes one token adds while every layer is still filling (before any window is full).
        layers: attention layers that hold a cache.
        kinds: layers by kind: ``{"full": 16, "sliding": 16}``, ``"none"`` for layers without a cache.
        dtype: the cache's dtype.
        latent: ``True`` for multi-head latent attention (the compressed latent is held).
    """

    bytes: int
    per_token: int
    layers: int
    kinds: dict[str, int]
    dtype: str
    latent: bool


class Activations(NamedTuple):
    """What autograd saves for backward during one forward of ``batch x seq`` tokens (parameters not counted).

    Attributes:
        bytes: the saved tensors' storages, each once.
        tensors: how many distinct storages.
        attention: the attention kernels the forward took (``"ScaledDotProductFlashAttentionForCpu"``).
        dtype: the dtype the forward ran in.
    """

    bytes: int
    tensors: int
    attention: tuple[str, ...]
    dtype: str


class Memory(NamedTuple):
    """Bytes per device for one plan, with the assumptions behind them.

    Attributes:
        mode: ``"inference"`` or ``"training"``.
        devices: devices the model is spread or replicated over.
        strategy: the training strategy, or ``"tp"`` for tensor-parallel inference (``None`` for replicas).
        optimizer: the optimizer (``None`` for inference).
        precision: ``"mixed"`` or ``"pure"`` (``None`` for inference).
        convention: ``"paper"`` or ``"deepspeed"`` (``None`` for inference).
        batch: sequences per batch.
        seq: tokens per sequence, or ``None``.
        per_device: the breakdown.
        kv: the KV cache's geometry, or ``None`` (training, or no ``seq``).
        activations: the measured activations, or ``None`` (not asked for).
        capacity: one device's memory in bytes, or ``None``.
        device_name: the device named for ``capacity``, or ``None``.
        fits: ``per_device.total <= capacity``; ``None`` without a capacity.
        headroom: ``capacity - per_device.total`` (negative when it does not fit); ``None`` without a capacity.
        assumptions: every assumption behind the figures, one sentence each.
    """

    mode: str
    devices: int
    strategy: str | None
    optimizer: str | None
    precision: str | None
    convention: str | None
    batch: int
    seq: int | None
    per_device: PerDevice
    kv: KVCache | None
    activations: Activations | None
    capacity: int | None
    device_name: str | None
    fits: bool | None
    headroom: int | None
    assumptions: tuple[str, ...]


def dtype_name(text: str, option: str = "--dtype") -> str:
    """The canonical name of a dtype spelt ``bf16``, ``bfloat16``, ``torch.float16`` ...; a UsageError otherwise.

    >>> dtype_name("bf16"), dtype_name("torch.float16"), dtype_name("int8")
    ('bfloat16', 'float16', 'int8')
    """
    name = text.strip().lower().removeprefix("torch.")
    name = _DTYPES.get(name, name)
    if name not in _SUB_BYTE and dtype_bits(name) is None:
        raise UsageError(
            f"{option} {text!r} is not a dtype paramcount knows",
            fix="use e.g. float32, bfloat16, float16, float8_e4m3fn, int8 or int4",
        )
    return name


def _bits(name: str) -> int | None:
    return _SUB_BYTE.get(name) or dtype_bits(name)


def capacity(text: str) -> tuple[int, str | None]:
    """One device's memory, and its name when one was given: ``80GiB``, ``80GB``, ``81559MiB``, a byte count, or
    a device name (``H100``, :data:`GPUS`)."""
    raw = text.strip().replace("_", "").replace(",", "")
    key = raw.upper().replace(" ", "-")
    for name, size in GPUS.items():
        if key in (name, name.replace("-", ""), "NVIDIA-" + name):
            return size, name
    units = {"TIB": 2**40, "GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "TB": 10**12, "GB": 10**9, "MB": 10**6, "B": 1}
    number, factor = key, 1
    for unit, scale in units.items():
        if key.endswith(unit) and key[: -len(unit)]:
            number, factor = key[: -len(unit)], scale
            break
    try:
        amount = float(number)
    except ValueError:
        amount = 0.0
    value = int(amount * factor) if math.isfinite(amount) else 0
    if value <= 0:
        raise UsageError(
            f"--gpu-memory {text!r} is neither a size nor a device paramcount knows",
            fix=f"give a size (80GiB, 80GB) or one of {', '.join(GPUS)}",
        )
    return value, None


class _Tensor(NamedTuple):
    """One unique parameter as memory sees it."""

    elements: int
    shape: tuple[int, ...]
    dtype: str
    bytes: int
    trainable: bool
    quantized: bool


def _parameters(report: Report, dtype: str | None) -> list[_Tensor]:
    """The report's unique parameters, each with the bytes it takes at ``dtype`` (or as stored)."""
    seen: set[object] = set()
    found: list[_Tensor] = []
    for r in report.records:
        if r.kind is not Kind.PARAMETER:
            continue
        if r.identity is not None:
            if r.identity in seen:
                continue
            seen.add(r.identity)
        if r.elements is None or r.shape is None:
            raise TargetError(
                f"parameter {r.name!r} is uninitialized (a lazy layer): its size is unknown",
                target=report.target,
                fix="run one forward pass (or build the model with concrete shapes) before estimating memory",
            )
        quantized = Note.QUANTIZED in r.notes
        found.append(
            _Tensor(
                r.elements,
                r.shape,
                dtype or r.dtype,
                _bytes(r, dtype),
                r.trainable is not False and not quantized,
                quantized,
            )
        )
    return found


def _bytes(r: TensorRecord, dtype: str | None) -> int:
    elements = r.elements or 0
    if dtype is None:
        if r.stored_bytes is not None and Note.EXPANDED not in r.notes:
            return r.stored_bytes
        width = _bits(r.dtype)
        return math.ceil(elements * (width or 32) / 8)
    return math.ceil(elements * (_bits(dtype) or 32) / 8)


def _floating(name: str) -> bool:
    return name.startswith(_FLOATS) and (_bits(name) or 0) >= 16


def _share(value: int | float, devices: int) -> int:
    """What one device holds of ``value`` bytes split over ``devices``: the ceiling, as padded partitions are."""
    return math.ceil(value / devices) if devices > 1 else math.ceil(value)


def _compute_dtype(tensors: list[_Tensor]) -> str:
    """The floating dtype most of the parameters are in (what activations and the KV cache default to)."""
    by: dict[str, int] = {}
    for t in tensors:
        if _floating(t.dtype) and not t.quantized:
            by[t.dtype] = by.get(t.dtype, 0) + t.elements
    return max(by, key=lambda name: by[name]) if by else "bfloat16"


def estimate(report: Report, plan: Plan, *, model: Callable[[], Any] | None = None) -> Memory:
    """The memory one device needs for ``plan``.

    Args:
        report: the model's count.
        plan: what to estimate.
        model: returns the model to run for ``plan.activations == "measure"`` (built only then).

    Raises:
        UsageError: the plan does not fit the model (``--seq`` without attention fields, a convention that does
            not apply).
        TargetError: the model's size is unknown (lazy parameters), or its forward cannot run on fake tensors.
    """
    assumptions: list[str] = []
    configured = _configured_dtype(report) if plan.dtype is None else None
    if configured is not None:
        plan = plan._replace(dtype=configured)
        assumptions.append(f"weights in {configured}, the configuration's torch_dtype (no weights were read)")
    tensors = _parameters(report, plan.dtype)
    n = plan.gpus
    compute = plan.dtype or _compute_dtype(tensors)
    weights = sum(t.bytes for t in tensors)
    if report.quantization is not None and plan.dtype is None:
        weights += report.quantization.overhead_bytes
        assumptions.append(
            f"weights as stored, {report.quantization.scheme}: packed values and "
            f"{human_bytes(report.quantization.overhead_bytes)} of scales and other auxiliaries"
        )
    elif plan.dtype is not None and configured is None:
        assumptions.append(f"weights in {plan.dtype}, {_bits(plan.dtype)} bits per parameter, no quantization overhead")
    elif configured is None:
        dtypes = sorted({t.dtype for t in tensors})
        assumptions.append(f"weights as stored ({', '.join(dtypes) or 'none'})")
    c = report.conventions
    if c is not None and c.experts is not None and c.active_per_token is not None and c.total:
        assumptions.append(
            f"a mixture of experts holds all {c.experts} experts: memory follows the {exact(c.total)} parameters, "
            f"compute per token the {exact(c.active_per_token)} active ones"
        )
    buffers = _buffers(report, plan.dtype)
    if report.buffers.tensors and n > 1:
        assumptions.append(f"buffers ({report.buffers.tensors} tensors) are held whole on every device")
    gradients = optimizer = master = gathered = kv_bytes = 0
    kv: KVCache | None = None
    measured: Activations | None = None
    if plan.mode == "training":
        states = _training(report, tensors, plan, assumptions)
        weights, gradients, master, optimizer, gathered = _partition(
            report, tensors, weights, states, plan=plan, assumptions=assumptions
        )
    else:
        split = plan.strategy == "tp" and n > 1
        if split:
            weights = _tensor_parallel(report, tensors, n, assumptions)
        elif n > 1:
            assumptions.append(f"inference: the whole model on each of {n} devices (data parallel replicas)")
        if plan.seq is None:
            assumptions.append("no KV cache: give --seq (and --batch) to add one")
        else:
            kv = kv_cache(
                report, plan.batch, plan.seq, plan.kv_dtype or compute, assumptions, devices=n if split else 1
            )
            kv_bytes = kv.bytes
    if plan.activations == "measure":
        if plan.seq is None:
            raise UsageError("--activations measure needs --seq (and --batch): the tokens to run the forward on")
        if model is None:
            raise TargetError("activations can only be measured for a model paramcount can build", target=report.target)
        if plan.mode == "inference":
            assumptions.append(
                "activations measured as autograd would keep them for a backward; inference under no_grad keeps "
                "none of them (its peak is one layer's working memory, not estimated)"
            )
        from paramcount.sources.activations import measure  # a live model's forward: torch

        measured = measure(model(), plan.batch, plan.seq, compute, report.target)
        assumptions.append(
            f"activations: what autograd saves for backward in one forward of {plan.batch:,} × {plan.seq:,} tokens in "
            f"{measured.dtype}, measured on fake tensors (no compute, no memory), storages counted once, parameters "
            f"left out; attention took {', '.join(measured.attention) or 'no attention kernel'}; no activation "
            "checkpointing"
        )
        if n > 1 and plan.mode == "training":
            assumptions.append(f"activations: each of the {n} devices runs a batch of {plan.batch}")
    elif plan.mode == "training":
        assumptions.append("activations not counted: add --activations measure (with --seq) to measure them")
    activation_bytes = None if measured is None else measured.bytes
    total = weights + buffers + gradients + optimizer + master + gathered + kv_bytes + (activation_bytes or 0)
    per_device = PerDevice(weights, buffers, gradients, optimizer, master, gathered, kv_bytes, activation_bytes, total)
    fits = headroom = None
    if plan.capacity is not None:
        headroom = plan.capacity - total
        fits = headroom >= 0
    training = plan.mode == "training"
    return Memory(
        mode=plan.mode,
        devices=n,
        strategy=plan.strategy if training or plan.strategy == "tp" else None,
        optimizer=plan.optimizer if training else None,
        precision=plan.precision if training else None,
        convention=plan.convention if training else None,
        batch=plan.batch,
        seq=plan.seq,
        per_device=per_device,
        kv=kv,
        activations=measured,
        capacity=plan.capacity,
        device_name=plan.device_name,
        fits=fits,
        headroom=headroom,
        assumptions=tuple(assumptions),
    )


def _configured_dtype(report: Report) -> str | None:
    """The dtype a model built from its ``config.json`` (no weights read) would be loaded in: its ``torch_dtype``."""
    config = report.config
    if report.format is not None or not isinstance(config, dict):
        return None
    value = config.get("torch_dtype", config.get("dtype"))
    if not isinstance(value, str):
        return None
    name = value.removeprefix("torch.")
    return name if _floating(name) else None


def _buffers(report: Report, dtype: str | None) -> int:
    seen: set[object] = set()
    total = 0
    for r in report.records:
        if r.kind is not Kind.BUFFER or r.elements is None:
            continue
        if r.identity is not None:
            if r.identity in seen:
                continue
            seen.add(r.identity)
        total += _bytes(r, dtype if dtype is not None and _floating(r.dtype) else None)
    return total


class _States(NamedTuple):
    gradients: int
    master: int
    optimizer: int
    trainable: int
    trainable_tensors: int


def _training(report: Report, tensors: list[_Tensor], plan: Plan, assumptions: list[str]) -> _States:
    """Gradients, master weights and optimizer states of the trainable parameters, on one device, unpartitioned."""
    trainable = [t for t in tensors if t.trainable]
    frozen = len(tensors) - len(trainable)
    unknown = report.parameters.trainable is None
    if unknown:
        assumptions.append("every parameter is trained (the target does not say which are frozen)")
    if frozen:
        elements = sum(t.elements for t in tensors if not t.trainable)
        assumptions.append(
            f"{exact(elements)} frozen parameters ({frozen} tensors) hold no gradients, master weights or optimizer "
            "states"
        )
    torch_optim = plan.strategy in ("ddp", "fsdp")
    gradients = master = optimizer = 0
    bnb_large = False
    for t in trainable:
        width = _bits(t.dtype) or 32
        mixed = plan.precision == "mixed" and width < 32 and _floating(t.dtype)
        grad_bytes = math.ceil(t.elements * width / 8)
        state_width = 4 if mixed else width / 8
        gradients += grad_bytes
        if mixed:
            master += 4 * t.elements
        if plan.optimizer == "adamw":
            optimizer += math.ceil(2 * t.elements * state_width) + (_STEP_BYTES if torch_optim else 0)
        elif plan.optimizer == "sgd-momentum":
            optimizer += math.ceil(t.elements * state_width)
        elif plan.optimizer == "adafactor":  # it casts 16-bit gradients to fp32: its states are fp32 always
            optimizer += 4 * _adafactor_elements(t.shape) + (_RMS_BYTES if torch_optim else 0)
        elif plan.optimizer == "adamw-8bit":
            if t.elements >= _BNB_MIN_8BIT:
                bnb_large = True
                optimizer += 2 * (t.elements + 4 * math.ceil(t.elements / _BNB_BLOCK))
            else:
                optimizer += 2 * 4 * t.elements
    if bnb_large:
        optimizer += _BNB_QMAPS
    where = "fp32 (mixed precision)" if master else "the weights' dtype"
    described = {
        "adamw": f"AdamW: 2 states per trainable parameter in {where}"
        + (", and PyTorch's 4-byte step tensor per parameter tensor" if torch_optim else ""),
        "adamw-8bit": "AdamW 8-bit (bitsandbytes): 2 uint8 states + an fp32 absmax per 256 elements each for tensors "
        "of 4,096 elements or more, 2 fp32 states below that, 2 shared 256-entry maps",
        "sgd": "SGD without momentum: no optimizer state",
        "sgd-momentum": f"SGD with momentum: 1 buffer per trainable parameter in {where}",
        "adafactor": "Adafactor (transformers, beta1=None): factored fp32 second moments (a row and a column per "
        "matrix, whole for vectors)" + (", and a 4-byte RMS tensor per parameter tensor" if torch_optim else ""),
    }
    assumptions.append(described[plan.optimizer])
    if plan.precision == "mixed" and master:
        assumptions.append("mixed precision: 16-bit weights and gradients, an fp32 master copy of trainable weights")
    elif plan.precision == "pure" and any((_bits(t.dtype) or 32) < 32 for t in trainable):
        assumptions.append("pure precision: gradients and optimizer states in the weights' dtype, no master copy")
    return _States(gradients, master, optimizer, sum(t.elements for t in trainable), len(trainable))


def _adafactor_elements(shape: tuple[int, ...]) -> int:
    if len(shape) >= 2:
        return math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]
    return math.prod(shape)


def _partition(
    report: Report, tensors: list[_Tensor], weights: int, states: _States, *, plan: Plan, assumptions: list[str]
) -> tuple[int, int, int, int, int]:
    """Weights, gradients, master weights, optimizer states and gathered bytes on one device under the strategy."""
    n, strategy = plan.gpus, plan.strategy
    gradients, master, optimizer = states.gradients, states.master, states.optimizer
    gathered = 0
    if plan.convention == "deepspeed":
        return _deepspeed(report, tensors, weights, states, plan=plan, assumptions=assumptions)
    if strategy == "ddp":
        assumptions.append(
            f"DDP: every device holds the whole model, its gradients and optimizer states ({n} device"
            f"{'s' if n > 1 else ''})"
        )
        return weights, gradients, master, optimizer, 0
    master, optimizer = _share(master, n), _share(optimizer, n)
    if strategy in ("zero2", "zero3", "fsdp"):
        gradients = _share(gradients, n)
    if strategy in ("zero3", "fsdp"):
        psi = max(1, sum(t.elements for t in tensors))
        unit, what = _unit(report, strategy)
        # the unit arrives whole, as its weights and (when trained) gradients, at their average width
        grad_per = states.gradients / states.trainable if states.trainable else 0
        gathered = math.ceil(unit * (weights / psi) + unit * (states.trainable / psi) * grad_per)
        weights = _share(weights, n)
        assumptions.append(
            f"{strategy}: one unit gathered at a time, {what} ({exact(unit)} parameters), as weights and gradients"
        )
    parts = {
        "zero1": "optimizer states and master weights",
        "zero2": "optimizer states, master weights and gradients",
        "zero3": "optimizer states, master weights, gradients and weights",
        "fsdp": "weights, gradients, optimizer states and master weights (full shard)",
    }
    assumptions.append(f"{strategy}: {parts[strategy]} partitioned over {n} devices (the ZeRO paper's terms)")
    return weights, gradients, master, optimizer, gathered


def _deepspeed(
    report: Report, tensors: list[_Tensor], weights: int, states: _States, *, plan: Plan, assumptions: list[str]
) -> tuple[int, int, int, int, int]:
    """DeepSpeed's estimators: 2Ψ + 18Ψ/N (ZeRO-2), 18Ψ/N + 4·largest layer (ZeRO-3); Ψ every parameter."""
    n, strategy = plan.gpus, plan.strategy
    if strategy not in ("zero2", "zero3"):
        raise UsageError(
            f"--convention deepspeed reproduces DeepSpeed's ZeRO-2 and ZeRO-3 estimators, not {strategy}",
            fix="use --strategy zero2 or zero3, or --convention paper",
        )
    if plan.optimizer != "adamw" or plan.precision != "mixed":
        raise UsageError(
            "--convention deepspeed assumes what DeepSpeed's estimators do: mixed-precision AdamW",
            fix="drop --optimizer and --precision, or use --convention paper",
        )
    psi = sum(t.elements for t in tensors)
    largest = _largest_layer(report)
    assumptions.append(
        "DeepSpeed's convention (estimate_zero2/zero3_model_states_mem_needs, no offload): every parameter "
        "trained, 2 bytes of 16-bit weights, 2 + 4 of 16- and 32-bit gradients, 4 of fp32 master weights, 8 of "
        "Adam states per parameter"
    )
    if strategy == "zero2":
        return 2 * psi, _share(6 * psi, n), _share(4 * psi, n), _share(8 * psi, n), 0
    assumptions.append(f"zero3: the largest layer ({exact(largest)} parameters) gathered as 4 bytes per parameter")
    return _share(2 * psi, n), _share(4 * psi, n), _share(4 * psi, n), _share(8 * psi, n), 4 * largest


def _tensor_parallel(report: Report, tensors: list[_Tensor], devices: int, assumptions: list[str]) -> int:
    """Weights on one of ``devices`` tensor-parallel devices: matrices (and embeddings) split, vectors whole."""
    split = whole = 0
    for t in tensors:
        if len(t.shape) >= 2:
            split += t.bytes
        else:
            whole += t.bytes
    overhead = report.quantization.overhead_bytes if report.quantization is not None else 0
    auxiliaries = " with its quantization auxiliaries" if overhead else ""
    assumptions.append(
        f"tensor parallel over {devices} devices: every matrix and embedding split{auxiliaries}, the "
        f"{human_bytes(whole)} of vectors (norms, biases) whole on each"
    )
    return _share(split + overhead, devices) + whole


def _largest_layer(report: Report) -> int:
    """The most parameters one module owns directly (not through children), as DeepSpeed's ``model_to_params``."""
    by: dict[str, int] = {}
    for r in report.records:
        if r.kind is Kind.PARAMETER and r.elements is not None:
            by[r.module] = by.get(r.module, 0) + r.elements
    return max(by.values(), default=0)


def _unit(report: Report, strategy: str) -> tuple[int, str]:
    """Parameters gathered at once: ZeRO-3's largest module, FSDP's largest repeated block (or the model)."""
    if strategy == "zero3":
        return _largest_layer(report), "the largest module's own parameters"
    runs = report.runs()
    if runs:
        best = max(runs.values(), key=lambda run: run.each)
        return best.each, f"the largest repeated block ({best.paths[0]})"
    return report.parameters.total or 0, "the whole model (no repeated block to wrap)"


# --- the KV cache -------------------------------------------------------------------------------------------------

_NO_CACHE = {"linear_attention", "mamba", "mamba2", "conv", "moe", "mlp", "dummy", "recurrent", "ssm", "rwkv"}
_FIELDS = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num", "n_kv_heads"),
    "hidden": ("hidden_size", "n_embd", "d_model", "dim"),
}


def _get(config: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
        if value is not None:
            return value
    return None


def _text_config(config: Any) -> Any:
    """The configuration of a multimodal model's text (decoder) part; the configuration itself otherwise."""
    getter = getattr(config, "get_text_config", None)
    if callable(getter):
        try:
            return getter(decoder=True)
        except (TypeError, ValueError):
            return getter()
    if isinstance(config, dict) and isinstance(config.get("text_config"), dict):
        return config["text_config"]
    return config


def _normalised(config: Any, target: str) -> Any:
    """A ``config.json`` document as transformers' configuration class reads it (its defaults and derived fields:
    Gemma-2's alternating ``layer_types``, a default ``head_dim``), or the document when transformers cannot."""
    if not isinstance(config, dict):
        return config
    from paramcount.sources.architecture import can_build

    if can_build():
        from paramcount.sources import hf

        try:
            return hf.config_object(config, target)
        except TargetError:
            pass
    return config


def kv_cache(report: Report, batch: int, seq: int, dtype: str, assumptions: list[str], *, devices: int = 1) -> KVCache:
    """The KV cache for ``batch x seq`` tokens from the report's configuration, on one of ``devices`` tensor-parallel
    devices (each holds the ceiling of its share of the KV heads, at least one; a latent is held whole by each).

    Raises:
        UsageError: the target has no configuration, or it lacks the attention fields.
    """
    if report.config is None:
        raise UsageError(
            f"--seq needs the model's configuration for its attention geometry, and {report.target} has none",
            fix="count the model's folder or Hub id (with its config.json), or leave out --seq",
        )
    config = _text_config(_normalised(report.config, report.target))
    layers = _get(config, _FIELDS["layers"])
    heads = _get(config, _FIELDS["heads"])
    if isinstance(heads, list):  # per layer (a GGUF array): the widest decides the default head_dim
        heads = max((h for h in heads if isinstance(h, int)), default=None)
    hidden = _get(config, _FIELDS["hidden"])
    if not isinstance(layers, int) or not isinstance(heads, int) or heads < 1 or layers < 1:
        raise UsageError(
            f"{report.target}'s configuration has no attention fields (num_hidden_layers, num_attention_heads): "
            "its KV cache cannot be derived",
            fix="leave out --seq",
        )
    kv_heads = _get(config, _FIELDS["kv_heads"])
    if kv_heads is None:
        kv_heads = 1 if _get(config, ("multi_query",)) is True else heads
    per_layer_heads = kv_heads if isinstance(kv_heads, list) and len(kv_heads) == layers else [kv_heads] * layers
    head_dim = _get(config, ("head_dim", "attention_head_size", "head_size"))
    if not isinstance(head_dim, int):
        if not isinstance(hidden, int):
            raise UsageError(
                f"{report.target}'s configuration gives neither head_dim nor hidden_size",
                fix="leave out --seq",
            )
        head_dim = hidden // heads
    v_head_dim = _get(config, ("v_head_dim",))
    value_dim = v_head_dim if isinstance(v_head_dim, int) else head_dim
    rank = _get(config, ("kv_lora_rank",))
    latent = isinstance(rank, int) and rank > 0
    rope = nope = 0
    if latent:
        rope = _get(config, ("qk_rope_head_dim",)) or 0
        nope = _get(config, ("qk_nope_head_dim",)) or 0
    # a per-layer KV head count of 0 (a GGUF array) marks a layer without attention
    kinds = [
        ("none", None) if h == 0 else k for k, h in zip(_layer_kinds(config, layers), per_layer_heads, strict=True)
    ]
    width = _bits(dtype) or 16
    elements = expanded = per_token_elements = 0  # over the layers: held for the whole batch, and per token
    counts: dict[str, int] = {}
    for (kind, window), held_heads in zip(kinds, per_layer_heads, strict=True):
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "none":
            continue
        tokens = seq if window is None else min(seq, max(window - 1, 0))
        local_heads = -(-held_heads // devices)  # replicated when there are fewer KV heads than devices
        width_of_layer = rank + rope if latent else local_heads * (head_dim + value_dim)
        elements += tokens * width_of_layer
        per_token_elements += width_of_layer
        expanded += tokens * heads * (nope + rope + value_dim)
    cached = sum(n for kind, n in counts.items() if kind != "none")
    total = math.ceil(batch * elements * width / 8)
    per_token = math.ceil(per_token_elements * width / 8)
    heads_shown = (
        f"{kv_heads} KV heads"
        if not isinstance(kv_heads, list)
        else f"{min(per_layer_heads)}-{max(per_layer_heads)} KV heads"
    )
    shape = f"{heads_shown} × {head_dim}" if not latent else f"latent {rank + rope}"
    held = "key and value" if not latent else "key and value as one compressed latent"
    how = "as transformers' DynamicCache holds it after a prefill"
    if isinstance(report.config, dict) and report.config.get("source") == "gguf":
        how = f"geometry from the GGUF metadata ({report.config.get('architecture')}), no padding to a context size"
    assumptions.append(
        f"KV cache: {batch:,} × {seq:,} tokens in {dtype}, {cached} of {layers} layers ({shape} per token, {held}), "
        + how
    )
    windows = sorted({window for kind, window in kinds if window is not None})
    if windows:
        assumptions.append(
            f"{counts.get('sliding', 0) + counts.get('chunked', 0)} sliding-window layers keep the last "
            f"{', '.join(str(w - 1) for w in windows)} tokens (window − 1)"
        )
    if counts.get("none"):
        assumptions.append(f"{counts['none']} layers hold no KV cache (no attention, or they reuse another's)")
    if devices > 1:
        assumptions.append(
            f"tensor parallel over {devices} devices: each holds "
            + ("the whole latent cache (it is not split by heads)" if latent else "ceil(KV heads / devices) heads")
        )
    if latent:
        full = math.ceil(batch * expanded * width / 8)
        assumptions.append(
            f"multi-head latent attention: the compressed latent (kv_lora_rank {rank} + rope {rope}) is "
            f"held; expanded K/V ({heads} heads) would take {human_bytes(full)}"
        )
    return KVCache(total, per_token, cached, counts, dtype, latent)


def _layer_kinds(config: Any, layers: int) -> list[tuple[str, int | None]]:
    """Each layer's cache: ``("full", None)``, ``("sliding", window)``, ``("chunked", chunk)`` or ``("none", None)``."""
    types = _get(config, ("layer_types", "layers_block_type"))
    window = _get(config, ("sliding_window",))
    if _get(config, ("use_sliding_window",)) is False:
        window = None
    chunk = _get(config, ("attention_chunk_size",))
    kinds: list[tuple[str, int | None]] = []
    if isinstance(types, (list, tuple)) and len(types) == layers:
        for value in types:
            kind = str(value)
            if kind in ("sliding_attention", "hybrid_sliding", "reference_sliding_attention") and isinstance(
                window, int
            ):
                kinds.append(("sliding", window))
            elif kind == "chunked_attention" and isinstance(chunk, int):
                kinds.append(("chunked", chunk))
            elif kind in _NO_CACHE or "linear" in kind or "mamba" in kind:
                kinds.append(("none", None))
            else:
                kinds.append(("full", None))
    elif isinstance(window, int) and window > 0:
        kinds = [("sliding", window)] * layers
    else:
        kinds = [("full", None)] * layers
    modes = _get(config, ("kv_sharing_modes",))
    if isinstance(modes, (list, tuple)) and len(modes) == layers:
        kinds = [("none", None) if mode == "reuse" else kind for kind, mode in zip(kinds, modes, strict=True)]
    shared = _get(config, ("num_kv_shared_layers",))
    if isinstance(shared, int) and 0 < shared < layers and not isinstance(modes, (list, tuple)):
        kinds = kinds[: layers - shared] + [("none", None)] * shared
    return kinds


def beyond_context(report: Report, seq: int | None) -> str | None:
    """A warning when ``seq`` is longer than the model's configured context (``max_position_embeddings``)."""
    if seq is None or report.config is None:
        return None
    config = _text_config(report.config)
    longest = _get(config, ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"))
    if isinstance(longest, int) and 0 < longest < seq:
        return (
            f"--seq {seq:,} is longer than the model's context ({longest:,} tokens, max_position_embeddings): the "
            "estimate is for a length the model was not configured for"
        )
    return None
