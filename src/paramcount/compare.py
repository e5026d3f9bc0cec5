"""Two models' tensors compared: ``paramcount diff``. Pure Python, no torch.

Each side arrives as its tensors under the names its own architecture gives them
(``{name: (shape, dtype, elements)}``: fused and per-expert spellings of the same experts are already one entry,
and the base model's prefix is gone), so what remains different is a real difference: tensors only one side holds,
shapes or dtypes that changed, and the parameters each module gains or loses.
"""

from __future__ import annotations

import re

from paramcount._typing import TYPE_CHECKING
from paramcount.records import Changed, Diff, ModuleDelta, index_value

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from paramcount.records import TensorRecord

__all__ = ["Tensors", "compare", "stored_tensors"]

#: a side's tensors: name -> (shape, dtype, elements)
Tensors = dict[str, tuple[tuple[int, ...] | None, str | None, int]]

_INDEX = re.compile(r"(?:(?<=\.)|^)\d+(?=\.|$)")


def compare(
    a: str,
    b: str,
    tensors_a: Mapping[str, tuple[tuple[int, ...] | None, str | None, int]],
    tensors_b: Mapping[str, tuple[tuple[int, ...] | None, str | None, int]],
    *,
    parameters_a: int | None,
    parameters_b: int | None,
    strict_dtype: bool = False,
) -> Diff:
    """The difference between two sides' tensors.

    >>> d = compare("a", "b", {"x.weight": ((2, 3), "float32", 6)}, {"x.weight": ((2, 3), "bfloat16", 6),
    ...     "y.bias": ((4,), "float32", 4)}, parameters_a=6, parameters_b=10)
    >>> d.only_in_b, [c.name for c in d.changed], d.same, [(m.module, m.a, m.b) for m in d.modules]
    (('y.bias',), ['x.weight'], False, [('y', 0, 4)])
    """
    only_a = tuple(sorted((n for n in tensors_a if n not in tensors_b), key=_natural))
    only_b = tuple(sorted((n for n in tensors_b if n not in tensors_a), key=_natural))
    changed = tuple(
        Changed(name, tensors_a[name][:2], tensors_b[name][:2])
        for name in sorted((n for n in tensors_a if n in tensors_b), key=_natural)
        if tensors_a[name][:2] != tensors_b[name][:2]
    )
    return Diff(
        a=a,
        b=b,
        only_in_a=only_a,
        only_in_b=only_b,
        changed=changed,
        parameters_a=parameters_a,
        parameters_b=parameters_b,
        modules=_modules(tensors_a, tensors_b),
        strict_dtype=strict_dtype,
    )


def _modules(
    a: Mapping[str, tuple[tuple[int, ...] | None, str | None, int]],
    b: Mapping[str, tuple[tuple[int, ...] | None, str | None, int]],
) -> tuple[ModuleDelta, ...]:
    """Each module's own elements on both sides, where they differ; modules that differ alike at every layer index
    are one row (``model.layers.*.mlp``, with how many instances)."""
    own: dict[str, list[int]] = {}
    for side, tensors in enumerate((a, b)):
        for name, (_, _, elements) in tensors.items():
            module = name.rpartition(".")[0]
            own.setdefault(module, [0, 0])[side] += elements
    runs: dict[tuple[str, int, int], list[str]] = {}
    for module, (in_a, in_b) in own.items():
        if in_a != in_b:
            runs.setdefault((_INDEX.sub("*", module), in_a, in_b), []).append(module)
    rows = [
        ModuleDelta(pattern if len(modules) > 1 else modules[0], len(modules), in_a, in_b)
        for (pattern, in_a, in_b), modules in runs.items()
    ]
    return tuple(sorted(rows, key=lambda row: _natural(row.module)))


def _natural(name: str) -> list[tuple[int, int | str]]:
    return [(0, index_value(p)) if p.isdecimal() else (1, p) for p in name.split(".")]  # "²": a digit, no number


def stored_tensors(records: Iterable[TensorRecord], prefix: str) -> dict[str, tuple[tuple[int, ...] | None, str, int]]:
    """What a checkpoint of these records holds, by name with the base-model ``prefix`` taken off: each tensor once
    (a tied name is one tensor), parameters and persistent buffers only, as ``(shape, dtype, elements)``."""
    from paramcount.records import Kind

    tensors: dict[str, tuple[tuple[int, ...] | None, str, int]] = {}
    seen: set[object] = set()
    for r in records:
        if r.kind not in (Kind.PARAMETER, Kind.BUFFER) or r.persistent is False:
            continue  # a non-persistent buffer is not in a checkpoint
        if r.identity is not None:
            if r.identity in seen:
                continue  # a tied name: the model holds the tensor once
            seen.add(r.identity)
        name = r.name[len(prefix) + 1 :] if prefix and r.name.startswith(prefix + ".") else r.name
        tensors[name] = (r.shape, r.dtype, r.elements or 0)
    return tensors
