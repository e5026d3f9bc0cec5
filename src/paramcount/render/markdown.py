"""GitHub-flavoured Markdown: the same sections as the text table, as pipe tables."""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.render._layout import Section, sections, source_line

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["render"]


def render(report: Report, *, expand: bool = False, tensors: bool = False) -> str:
    """The report as Markdown with a final newline."""
    lines = [f"### `{report.target}`"]
    source = source_line(report)
    if source is not None:
        lines.append(f"\nsource: {source}")
    lines.extend(f"\n*{note}*" for note in report.notes)
    for section in sections(report, tree=False, expand=expand, tensors=tensors):
        lines.append("")
        lines.extend(_table(section))
    if report.memory is not None:
        lines.append("")
        lines.extend(f"- {assumption}" for assumption in report.memory.assumptions)
    if report.warnings:
        lines.append("")
        lines.extend(f"> **warning:** {warning}" for warning in report.warnings)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").strip() or " "


def _table(section: Section) -> list[str]:
    out = [f"**{section.title}**", ""] if section.title else []
    # Markdown tables need a header row; the untitled summary gets generic column names.
    headers = section.headers if any(section.headers) else ("", "exact", "approx.")
    out.append("| " + " | ".join(_cell(h) for h in headers) + " |")
    out.append("|" + "|".join("---:" if numeric else "---" for numeric in section.numeric) + "|")
    out.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows)
    return out
