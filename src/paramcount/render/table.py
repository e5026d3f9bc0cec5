"""Plain-text report for a terminal: exact counts with separators, a human figure, a module tree.

Standard library only, so that a CLI run costs no import beyond paramcount itself.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.render._layout import Section, sections, source_line

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["render"]


def render(report: Report) -> str:
    """The report as aligned text with a final newline."""
    lines = [report.target]
    if report.format is not None:
        lines.append(f"format: {report.format}, {len(report.files)} file(s) read")
    source = source_line(report)
    if source is not None:
        lines.append(f"source: {source}")
    lines.extend(f"note: {note}" for note in report.notes)
    for section in sections(report, tree=True):
        lines.append("")
        lines.extend(_table(section))
    for warning in report.warnings:
        lines.append("")
        lines.append(f"warning: {warning}")
    return "\n".join(lines) + "\n"


def _table(section: Section) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(section.headers, *section.rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(cells, widths, section.numeric, strict=True)
        )
        return "  ".join(padded).rstrip()

    out = [section.title] if section.title else []
    if any(section.headers):
        out.append(line(section.headers))
        out.append("  ".join("\u2500" * width for width in widths))
    out.extend(line(row) for row in section.rows)
    return out
