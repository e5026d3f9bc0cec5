"""Training states per device: gradients, master weights and optimizer states, partitioned by ZeRO, FSDP or tensor
parallelism, in the paper's terms or DeepSpeed's estimators'."""

from __future__ import annotations

import math

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import UsageError
from paramcount.footprint.plan import bits
from paramcount.footprint.tensors import floating, share
from paramcount.numbers import exact, human_bytes
from paramcount.records import Kind

if TYPE_CHECKING:
    from paramcount.footprint.results import Plan
    from paramcount.footprint.tensors import Tensor
    from paramcount.report import Report

_STEP_BYTES = 4  # torch.optim's per-parameter ``step``: a float32 scalar tensor (capturable=False, fused=False)
_RMS_BYTES = 4  # transformers' Adafactor keeps each tensor's RMS as a float32 scalar tensor after a step
_BNB_MIN_8BIT = 4096  # bitsandbytes' min_8bit_size default
_BNB_BLOCK = 256
_BNB_QMAPS = 2 * 256 * 4  # the signed and unsigned dynamic maps, 256 float32 each, shared by every tensor


class _States(NamedTuple):
    gradients: int
    master: int
    optimizer: int
    trainable: int
    trainable_tensors: int


def training_states(report: Report, tensors: list[Tensor], plan: Plan, assumptions: list[str]) -> _States:
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
        width = bits(t.dtype) or 32
        mixed = plan.precision == "mixed" and width < 32 and floating(t.dtype)
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
    elif plan.precision == "pure" and any((bits(t.dtype) or 32) < 32 for t in trainable):
        assumptions.append("pure precision: gradients and optimizer states in the weights' dtype, no master copy")
    return _States(gradients, master, optimizer, sum(t.elements for t in trainable), len(trainable))


def _adafactor_elements(shape: tuple[int, ...]) -> int:
    if len(shape) >= 2:
        return math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]
    return math.prod(shape)


def partition(
    report: Report, tensors: list[Tensor], weights: int, states: _States, *, plan: Plan, assumptions: list[str]
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
    master, optimizer = share(master, n), share(optimizer, n)
    if strategy in ("zero2", "zero3", "fsdp"):
        gradients = share(gradients, n)
    if strategy in ("zero3", "fsdp"):
        psi = max(1, sum(t.elements for t in tensors))
        unit, what = _unit(report, strategy)
        # the unit arrives whole, as its weights and (when trained) gradients, at their average width
        grad_per = states.gradients / states.trainable if states.trainable else 0
        gathered = math.ceil(unit * (weights / psi) + unit * (states.trainable / psi) * grad_per)
        weights = share(weights, n)
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
    report: Report, tensors: list[Tensor], weights: int, states: _States, *, plan: Plan, assumptions: list[str]
) -> tuple[int, int, int, int, int]:
    """DeepSpeed's estimators: 2Ψ + 18Ψ/N (ZeRO-2), 18Ψ/N + 4·largest layer (ZeRO-3); Ψ every parameter."""
    n, strategy = plan.gpus, plan.strategy
    if strategy not in ("zero2", "zero3"):
        raise UsageError(
            f"deepspeed reproduces DeepSpeed's ZeRO-2 and ZeRO-3 estimators, not {strategy}",
            option="convention",
            fix="plan the strategy zero2 or zero3, or use the paper convention",
        )
    if plan.optimizer != "adamw" or plan.precision != "mixed":
        raise UsageError(
            "deepspeed assumes what DeepSpeed's estimators do: mixed-precision AdamW",
            option="convention",
            fix="leave the optimizer and the precision as they are, or use the paper convention",
        )
    psi = sum(t.elements for t in tensors)
    largest = _largest_layer(report)
    assumptions.append(
        "DeepSpeed's convention (estimate_zero2/zero3_model_states_mem_needs, no offload): every parameter "
        "trained, 2 bytes of 16-bit weights, 2 + 4 of 16- and 32-bit gradients, 4 of fp32 master weights, 8 of "
        "Adam states per parameter"
    )
    if strategy == "zero2":
        return 2 * psi, share(6 * psi, n), share(4 * psi, n), share(8 * psi, n), 0
    assumptions.append(f"zero3: the largest layer ({exact(largest)} parameters) gathered as 4 bytes per parameter")
    return share(2 * psi, n), share(4 * psi, n), share(4 * psi, n), share(8 * psi, n), 4 * largest


def tensor_parallel(report: Report, tensors: list[Tensor], devices: int, assumptions: list[str]) -> int:
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
    return share(split + overhead, devices) + whole


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
