"""GitHub-flavoured Markdown: the same sections as the text table, as pipe tables.

Names come from files, so no cell may become markup: a cell that is one code span we wrote (a module path) is kept
as it is, every other text has the characters HTML, links, images and code spans start with escaped (``<img
onerror>`` shows as text), and control characters are shown as escapes (:func:`paramcount.render._text.printable`).
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.render._layout import Section, code, sections, source_line
from paramcount.render._text import printable

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["render"]


def render(report: Report, *, expand: bool = False, tensors: bool = False) -> str:
    """The report as Markdown with a final newline."""
    lines = [f"### {code(printable(report.target))}"]
    source = source_line(report)
    if source is not None:
        lines.append(f"\nsource: {_text(source)}")
    lines.extend(f"\n*{_text(note)}*" for note in report.notes)
    for section in sections(report, tree=False, expand=expand, tensors=tensors):
        lines.append("")
        lines.extend(_table(section))
    if report.memory is not None:
        lines.append("")
        lines.extend(f"- {_text(assumption)}" for assumption in report.memory.assumptions)
    if report.warnings:
        lines.append("")
        lines.extend(f"> **warning:** {_text(warning)}" for warning in report.warnings)
    return "\n".join(lines) + "\n"


# Characters that start HTML, entities, links, images and code spans, and the table's cell separator. A backslash
# comes first so that one in the text cannot undo the escape after it.
_MARKUP = str.maketrans(
    {"\\": "\\\\", "<": "&lt;", ">": "&gt;", "&": "&amp;", "[": "\\[", "]": "\\]", "`": "\\`", "|": "\\|"}
)


def _text(text: str) -> str:
    """Text from a report as Markdown that shows it and does nothing else.

    >>> _text("<img src=x onerror=alert(1)> ![t](http://x/p.png)")
    '&lt;img src=x onerror=alert(1)&gt; !\\\\[t\\\\](http://x/p.png)'
    """
    return printable(text).translate(_MARKUP)


def _is_code_span(text: str) -> bool:
    """Whether ``text`` is a single code span, as :func:`code` writes one: a fence of n backticks, no run of exactly
    n inside, the same fence at the end (CommonMark: nothing inside is markup then).

    >>> _is_code_span("`layers.0`"), _is_code_span("``a`b``"), _is_code_span("`a` <b> `c`")
    (True, True, False)
    """
    n = len(text) - len(text.lstrip("`"))
    if n == 0 or len(text) <= 2 * n or not text.endswith("`" * n) or text[-n - 1] == "`":
        return False
    return all(len(run) != n for run in _runs(text[n:-n]))


def _runs(text: str) -> list[str]:
    """The runs of backticks in ``text``."""
    found, current = [], ""
    for c in text:
        if c == "`":
            current += c
        elif current:
            found.append(current)
            current = ""
    if current:
        found.append(current)
    return found


def _cell(text: str) -> str:
    shown = text.replace("|", "\\|") if _is_code_span(text) else _text(text)
    return shown.strip() or " "


def _table(section: Section) -> list[str]:
    out = [f"**{_text(section.title)}**", ""] if section.title else []
    # Markdown tables need a header row; the untitled summary gets generic column names.
    headers = section.headers if any(section.headers) else ("", "exact", "approx.")
    out.append("| " + " | ".join(_cell(h) for h in headers) + " |")
    out.append("|" + "|".join("---:" if numeric else "---" for numeric in section.numeric) + "|")
    out.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows)
    return out
