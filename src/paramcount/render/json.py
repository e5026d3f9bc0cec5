"""The JSON renderer: :meth:`paramcount.report.Report.to_dict` written as text."""

from __future__ import annotations

import json
from json import encoder

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from paramcount.report import Report

__all__ = ["render"]


def _encoder() -> Callable[[object], str]:
    """``json.dumps`` with its default options, made once: ``dumps`` makes its C encoder anew on every call, about a
    third of the time of encoding a module row (a 70B model's 1,000 rows: 1 ms of a 70 ms count)."""
    make = getattr(encoder, "c_make_encoder", None)  # not in typeshed: CPython's accelerator, beside the pure one
    if make is None:  # a Python without the _json accelerator
        return json.dumps
    default = json.JSONEncoder().default  # the same TypeError as dumps for what JSON cannot hold
    encode = make({}, default, encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encode(value, 0))


def render(report: Report, *, tensors: bool = False) -> str:
    """The JSON document as text: one top-level key per line, one list item (a module, a tie) per line;
    ``tensors`` adds ``tensors.list`` (``--tensors``).

    Each line is encoded by the C encoder; ``indent=2`` would route a 50,000-module document through the
    pure-Python encoder, which took half of a file count's time (benchmarks/bench_files.py).
    """
    dumps = _encoder()
    lines = []
    for key, value in report.to_dict(tensors=tensors).items():
        if isinstance(value, list) and value:
            items = ",\n".join([f"    {dumps(item)}" for item in value])
            lines.append(f"  {dumps(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
