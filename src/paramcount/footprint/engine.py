"""The memory engine's entry point: :func:`estimate`, a report and a plan -> the bytes one device needs."""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, UsageError
from paramcount.footprint.caches import kv_cache
from paramcount.footprint.plan import (
    bits,
)
from paramcount.footprint.results import Activations, KVCache, Memory, PerDevice, Plan
from paramcount.footprint.tensors import buffer_bytes, compute_dtype, configured_dtype, parameters
from paramcount.footprint.training import partition, tensor_parallel, training_states
from paramcount.numbers import exact, human_bytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from paramcount.report import Report

__all__ = ["estimate"]


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
            assumptions.append("no KV cache: give a sequence length (seq, and batch) to add one")
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
            raise UsageError(
                "measure needs a sequence length (seq, and batch): the tokens to run the forward on",
                option="activations",
            )
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
        assumptions.append(
            "activations not counted: measure them with --activations measure and --seq (activations='measure', seq= "
            "in Python)"
        )
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
