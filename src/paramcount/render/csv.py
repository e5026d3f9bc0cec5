"""One CSV row per module; the root row carries the totals. Exact integers, no separators.

Columns after ``shared_with`` (schema version 2): ``trainable`` and ``frozen`` (empty when unknowable), ``share``
of the total (a fraction), and for a block in a run of repeated blocks the run's first path and length.
"""

from __future__ import annotations

import csv
import io

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["render"]

_COLUMNS = (
    "path",
    "type",
    "depth",
    "parameters",
    "own_parameters",
    "buffers",
    "uninitialized_tensors",
    "shared_with",
    "trainable",
    "frozen",
    "share",
    "run_first",
    "run_count",
)


def render(report: Report) -> str:
    """Module rows as CSV text with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    whole = report.parameters.total or report.parameters.initialized
    runs = report.runs()
    for i, m in enumerate(report.modules):
        run = runs.get(i)
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
                "" if m.trainable is None else m.trainable,
                "" if m.frozen is None else m.frozen,
                round(m.parameters / whole, 6) if whole else "",
                "" if run is None else run.paths[0],
                "" if run is None else len(run.paths),
            )
        )
    return out.getvalue()
