"""One CSV row per module; the root row carries the totals. Exact integers, no separators."""

from __future__ import annotations

import csv
import io

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["render"]

_COLUMNS = ("path", "type", "depth", "parameters", "own_parameters", "buffers", "uninitialized_tensors", "shared_with")


def render(report: Report) -> str:
    """Module rows as CSV text with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for m in report.modules:
        writer.writerow(
            (
                m.path,
                m.type,
                m.depth,
                m.parameters,
                m.own_parameters,
                m.buffers,
                m.uninitialized_tensors,
                m.shared_with or "",
            )
        )
    return out.getvalue()
