"""The JSON renderer: :meth:`paramcount.report.Report.to_dict` written as text."""

from __future__ import annotations

import json

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["render"]


def render(report: Report, *, tensors: bool = False) -> str:
    """The JSON document as text: one top-level key per line, one list item (a module, a tie) per line;
    ``tensors`` adds ``tensors.list`` (``--tensors``).

    Each line is encoded by the C encoder; ``indent=2`` would route a 50,000-module document through the
    pure-Python encoder, which took half of a file count's time (benchmarks/bench_files.py).
    """
    lines = []
    for key, value in report.to_dict(tensors=tensors).items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {json.dumps(item)}" for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"
