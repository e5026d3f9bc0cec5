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

The engine is a package named so that the function :func:`paramcount.memory` is not shadowed: :mod:`.plan` (what
a plan may ask for), :mod:`.results` (the result types, a leaf), :mod:`.tensors` (the report's unique tensors),
:mod:`.training` (states and partitions), :mod:`.caches` (the KV cache) and :mod:`.activations` (measured on fake
tensors). It reads a report, a plan and a configuration handed to it; it never imports :mod:`paramcount.sources`.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, UsageError
from paramcount.footprint.caches import beyond_context, kv_cache
from paramcount.footprint.plan import (
    CONVENTIONS,
    GPUS,
    MODES,
    OPTIMIZERS,
    PRECISIONS,
    STRATEGIES,
    bits,
    capacity,
    dtype_name,
    plan,
)
from paramcount.footprint.results import Activations, KVCache, Memory, PerDevice, Plan
from paramcount.footprint.tensors import buffer_bytes, compute_dtype, configured_dtype, parameters
from paramcount.footprint.training import partition, tensor_parallel, training_states
from paramcount.numbers import exact, human_bytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

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
    "plan",
]


def estimate(report: Report, plan: Plan, *, config: Any = None, model: Callable[[], Any] | None = None) -> Memory:
    """The memory one device needs for ``plan``.

    Args:
        report: the model's count.
        plan: what to estimate.
        config: the model's configuration for the KV cache, normalised by the caller (a transformers configuration
            object, or ``report.config`` as read when transformers cannot build it); default ``report.config``.
        model: returns the model to run for ``plan.activations == "measure"`` (built only then).

    Raises:
        UsageError: the plan does not fit the model (``--seq`` without attention fields, a convention that does
            not apply).
        TargetError: the model's size is unknown (lazy parameters), or its forward cannot run on fake tensors.
    """
    assumptions: list[str] = []
    configured = configured_dtype(report) if plan.dtype is None else None
    if configured is not None:
        plan = plan._replace(dtype=configured)
        assumptions.append(f"weights in {configured}, the configuration's torch_dtype (no weights were read)")
    tensors = parameters(report, plan.dtype)
    n = plan.gpus
    compute = plan.dtype or compute_dtype(tensors)
    weights = sum(t.bytes for t in tensors)
    if report.quantization is not None and plan.dtype is None:
        weights += report.quantization.overhead_bytes
        assumptions.append(
            f"weights as stored, {report.quantization.scheme}: packed values and "
            f"{human_bytes(report.quantization.overhead_bytes)} of scales and other auxiliaries"
        )
    elif plan.dtype is not None and configured is None:
        assumptions.append(f"weights in {plan.dtype}, {bits(plan.dtype)} bits per parameter, no quantization overhead")
    elif configured is None:
        dtypes = sorted({t.dtype for t in tensors})
        assumptions.append(f"weights as stored ({', '.join(dtypes) or 'none'})")
    c = report.conventions
    if c is not None and c.experts is not None and c.active_per_token is not None and c.total:
        assumptions.append(
            f"a mixture of experts holds all {c.experts} experts: memory follows the {exact(c.total)} parameters, "
            f"compute per token the {exact(c.active_per_token)} active ones"
        )
    buffers = buffer_bytes(report, plan.dtype)
    if report.buffers.tensors and n > 1:
        assumptions.append(f"buffers ({report.buffers.tensors} tensors) are held whole on every device")
    gradients = optimizer = master = gathered = kv_bytes = 0
    kv: KVCache | None = None
    measured: Activations | None = None
    if plan.mode == "training":
        states = training_states(report, tensors, plan, assumptions)
        weights, gradients, master, optimizer, gathered = partition(
            report, tensors, weights, states, plan=plan, assumptions=assumptions
        )
    else:
        split = plan.strategy == "tp" and n > 1
        if split:
            weights = tensor_parallel(report, tensors, n, assumptions)
        elif n > 1:
            assumptions.append(f"inference: the whole model on each of {n} devices (data parallel replicas)")
        if plan.seq is None:
            assumptions.append("no KV cache: give --seq (and --batch) to add one")
        else:
            kv = kv_cache(
                report,
                report.config if config is None else config,
                plan.batch,
                plan.seq,
                dtype=plan.kv_dtype or compute,
                assumptions=assumptions,
                devices=n if split else 1,
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
        from paramcount.footprint.activations import measure  # a live model's forward: torch

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
