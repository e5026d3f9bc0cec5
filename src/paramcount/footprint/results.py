"""The memory engine's result types: a plan and the bytes it needs (a leaf module: :mod:`paramcount.report` holds a
:class:`Memory` without importing the engine)."""

from __future__ import annotations

from paramcount._typing import NamedTuple

__all__ = ["Activations", "KVCache", "Memory", "PerDevice", "Plan"]


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
