"""The report's unique parameters and buffers as the memory engine sees them: elements, shape, dtype and bytes."""

from __future__ import annotations

import math

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import TargetError
from paramcount.footprint.plan import bits
from paramcount.records import Kind, Note

_FLOATS = ("float", "bfloat")

if TYPE_CHECKING:
    from paramcount.records import TensorRecord
    from paramcount.report import Report


class Tensor(NamedTuple):
    """One unique parameter as memory sees it."""

    elements: int
    shape: tuple[int, ...]
    dtype: str
    bytes: int
    trainable: bool
    quantized: bool


def parameters(report: Report, dtype: str | None) -> list[Tensor]:
    """The report's unique parameters, each with the bytes it takes at ``dtype`` (or as stored)."""
    seen: set[object] = set()
    found: list[Tensor] = []
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
            Tensor(
                r.elements,
                r.shape,
                dtype or r.dtype,
                tensor_bytes(r, dtype),
                r.trainable is not False and not quantized,
                quantized,
            )
        )
    return found


def tensor_bytes(r: TensorRecord, dtype: str | None) -> int:
    elements = r.elements or 0
    if dtype is None:
        if r.stored_bytes is not None and Note.EXPANDED not in r.notes:
            return r.stored_bytes
        width = bits(r.dtype)
        return math.ceil(elements * (width or 32) / 8)
    return math.ceil(elements * (bits(dtype) or 32) / 8)


def floating(name: str) -> bool:
    return name.startswith(_FLOATS) and (bits(name) or 0) >= 16


def share(value: int | float, devices: int) -> int:
    """What one device holds of ``value`` bytes split over ``devices``: the ceiling, as padded partitions are."""
    return math.ceil(value / devices) if devices > 1 else math.ceil(value)


def compute_dtype(tensors: list[Tensor]) -> str:
    """The floating dtype most of the parameters are in (what activations and the KV cache default to)."""
    by: dict[str, int] = {}
    for t in tensors:
        if floating(t.dtype) and not t.quantized:
            by[t.dtype] = by.get(t.dtype, 0) + t.elements
    return max(by, key=lambda name: by[name]) if by else "bfloat16"


def configured_dtype(report: Report) -> str | None:
    """The dtype a model built from its ``config.json`` (no weights read) would be loaded in: its ``torch_dtype``."""
    config = report.config
    if report.format is not None or not isinstance(config, dict):
        return None
    value = config.get("torch_dtype", config.get("dtype"))
    if not isinstance(value, str):
        return None
    name = value.removeprefix("torch.")
    return name if floating(name) else None


def buffer_bytes(report: Report, dtype: str | None) -> int:
    seen: set[object] = set()
    total = 0
    for r in report.records:
        if r.kind is not Kind.BUFFER or r.elements is None:
            continue
        if r.identity is not None:
            if r.identity in seen:
                continue
            seen.add(r.identity)
        total += tensor_bytes(r, dtype if dtype is not None and floating(r.dtype) else None)
    return total
