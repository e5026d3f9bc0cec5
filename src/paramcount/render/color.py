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
    console = Console(file=out, force_terminal=True, width=width or 80, color_system="standard", highlight=False)
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
        console.print(_table(section))
    if report.memory is not None:
        console.print()
        for assumption in map(printable, report.memory.assumptions):
            console.print(Text(f"- {assumption}", style="dim"))
    for warning in map(printable, report.warnings):
        console.print()
        console.print(Text(f"warning: {warning}", style="yellow"))
    return out.getvalue()


def _table(section: Section) -> object:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    headed = any(section.headers)
    table = Table(
        title=section.title or None,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD if headed else None,
        show_header=headed,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1),
    )
    for index, (header, numeric) in enumerate(zip(section.headers, section.numeric, strict=True)):
        widest = max((len(row[index]) for row in section.rows), default=0)
        table.add_column(
            header,
            justify="right" if numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            style="cyan" if numeric and index > 0 else None,
            ratio=None,
            # a number is never cut (the plain table's rule): narrow terminals shrink the names instead
            min_width=max(widest, len(header)) if numeric else None,
        )
    for row in section.rows:
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
    return table
