"""The table in colour, through rich (an optional extra: ``pip install 'paramcount[color]'``).

The same sections as :mod:`paramcount.render.table`, drawn by rich for a terminal: fitted to its width (rich cuts
cells with an ellipsis and never wraps a row), numbers in one colour, frozen and partial rows marked, failures
and warnings in red and yellow. The command line uses it only when stdout is a terminal (or ``FORCE_COLOR`` is
set) and ``NO_COLOR`` is not, and falls back to the plain table when rich is not installed.
"""

from __future__ import annotations

import io

from paramcount._typing import TYPE_CHECKING
from paramcount.render._layout import sections, source_line
from paramcount.render._text import printable

if TYPE_CHECKING:
    from paramcount.render._layout import Section
    from paramcount.report import Report

__all__ = ["available", "render"]


def available() -> bool:
    """Whether rich can be imported."""
    import importlib.util

    return importlib.util.find_spec("rich") is not None


def render(report: Report, *, expand: bool = False, tensors: bool = False, width: int | None = None) -> str:
    """The report as text with ANSI colours, ``width`` columns wide (80 when ``None``)."""
    from rich.console import Console
    from rich.text import Text

    out = io.StringIO()
    fitted_to = width or 80
    console = Console(file=out, force_terminal=True, width=fitted_to, color_system="standard", highlight=False)
    console.print(Text(printable(report.target), style="bold"))
    if report.format is not None:
        console.print(Text(f"format: {report.format}, {len(report.files)} file(s) read", style="dim"))
    source = source_line(report)
    if source is not None:
        console.print(Text(f"source: {source}", style="dim"))
    for note in report.notes:
        console.print(Text(f"note: {printable(note)}", style="dim"))
    for section in sections(report, tree=True, expand=expand, tensors=tensors):
        console.print()
        if section.title:
            console.print(Text(section.title, style="bold"))
        table, needed = _table(section, fitted_to)
        # a row whose numbers do not fit stays whole (the plain table's rule): rich would shrink every column
        console.width = max(fitted_to, needed)
        console.print(table)
        console.width = fitted_to
    if report.memory is not None:
        console.print()
        for assumption in map(printable, report.memory.assumptions):
            console.print(Text(f"- {assumption}", style="dim"))
    for warning in map(printable, report.warnings):
        console.print()
        console.print(Text(f"warning: {warning}", style="yellow"))
    return out.getvalue()


# what rich adds around the cells: no edges, and a separator and a space of padding between columns, as the plain
# table's two spaces
_EDGES, _GAP = 0, 2


def _table(section: Section, width: int) -> tuple[object, int]:
    """The section (less its title) as a rich table fitted to ``width`` as the plain table fits it (the same
    columns dropped, the same cells cut, numbers never cut), and the width it needs."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from paramcount.render.table import fitted

    rows, widths, numeric = fitted(section, max(width - _EDGES, 1), gap=_GAP)
    headed = any(section.headers)
    table = Table(
        box=box.SIMPLE_HEAD if headed else None,
        show_header=headed,
        header_style="bold",
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, 1),
    )
    for index, (header, column, number) in enumerate(zip(rows[0], widths, numeric, strict=True)):
        table.add_column(
            header,
            justify="right" if number else "left",
            no_wrap=True,
            overflow="ellipsis",
            style="cyan" if number and index > 0 else None,
            width=column,
        )
    for row in rows[1:]:
        cells = []
        for cell in row:
            style = None
            if cell == "frozen":
                style = "blue"
            elif cell.startswith("partial "):
                style = "yellow"
            elif cell == "FAILED":
                style = "bold red"
            elif cell == "ok":
                style = "green"
            cells.append(Text(cell, style=style) if style else Text(cell))
        table.add_row(*cells)
    return table, sum(widths) + _GAP * (len(widths) - 1) + _EDGES
