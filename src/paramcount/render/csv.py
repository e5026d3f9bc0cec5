"""One CSV row per module; the root row carries the totals. Exact integers, no separators.

Columns after ``shared_with`` (schema version 2): ``trainable`` and ``frozen`` (empty when unknowable), ``share``
of the total (a fraction), and for a block in a run of repeated blocks the run's first path and length.

Paths and types come from files: a text cell a spreadsheet would take for a formula (one starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is written with a ``'`` in front, as OWASP advises, and control
characters are shown as escapes (a CSV is often printed to a terminal); the JSON document keeps every name
exactly.
"""

from __future__ import annotations

import csv
import io

from paramcount._typing import TYPE_CHECKING
from paramcount.render._text import printable

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


def _text(cell: str) -> str:
    """A text cell no spreadsheet runs as a formula and no terminal acts on (control characters as escapes).

    >>> _text("=1+1"), _text("-x"), _text("layers.0"), _text("a" + chr(27) + "[2J")
    ("'=1+1", "'-x", 'layers.0', 'a\\\\x1b[2J')
    """
    cell = printable(cell)
    return "'" + cell if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell


def render(report: Report, *, tensors: bool = False) -> str:
    """Module rows as CSV text with a header line; with ``tensors``, one row per tensor instead (``--tensors``:
    name, shape as ``4096x4096``, dtype, kind, role, trainable, elements, bytes)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if tensors:
        from paramcount.render.document import tensor_rows

        columns = ("name", "shape", "dtype", "kind", "role", "trainable", "elements", "bytes")
        writer.writerow(columns)
        for row in tensor_rows(report):
            shape = "" if row["shape"] is None else "x".join(map(str, row["shape"]))
            trainable = "" if row["trainable"] is None else str(row["trainable"]).lower()
            writer.writerow(
                [_text(row["name"]), shape, row["dtype"] or "", row["kind"], _text(row["role"]), trainable]
                + ["" if row[k] is None else row[k] for k in ("elements", "bytes")]
            )
        return out.getvalue()
    writer.writerow(_COLUMNS)
    whole = report.parameters.total or report.parameters.initialized
    runs = report.runs()
    for i, m in enumerate(report.modules):
        run = runs.get(i)
        writer.writerow(
            (
                _text(m.path),
                _text(m.type),
                m.depth,
                m.parameters,
                m.own_parameters,
                m.buffers,
                m.uninitialized_tensors,
                _text(m.shared_with or ""),
                "" if m.trainable is None else m.trainable,
                "" if m.frozen is None else m.frozen,
                round(m.parameters / whole, 6) if whole else "",
                "" if run is None else _text(run.paths[0]),
                "" if run is None else len(run.paths),
            )
        )
    return out.getvalue()
