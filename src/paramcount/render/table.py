"""Plain-text report for a terminal: exact counts with separators, a human figure, a module tree.

Standard library only, so that a CLI run costs no import beyond paramcount itself.
"""

from __future__ import annotations

import re

from paramcount._typing import TYPE_CHECKING
from paramcount.render._layout import Section, sections, source_line
from paramcount.render._text import fitter, printable

if TYPE_CHECKING:
    from collections.abc import Callable

    from paramcount.report import Report

__all__ = ["fitted", "render", "section_lines"]


def render(
    report: Report,
    *,
    expand: bool = False,
    tensors: bool = False,
    width: int | None = None,
    encoding: str | None = None,
) -> str:
    """The report as aligned text with a final newline.

    Args:
        report: the report.
        expand: one row per block of a run of repeated blocks.
        tensors: add the list of tensors.
        width: the terminal's width: table rows are fitted to it (names and types cut in the middle, never
            wrapped), and notes and warnings wrapped; ``None`` for no limit.
        encoding: the encoding of the stream the text goes to: where it cannot take the drawing characters, every
            piece of text is made ASCII before the columns are measured.
    """
    fit = fitter(encoding)
    text = _render(report, expand=expand, tensors=tensors, width=width, fit=fit)
    return fit(text) if fit is not None else text


def _render(report: Report, *, expand: bool, tensors: bool, width: int | None, fit: Callable[[str], str] | None) -> str:
    lines = [printable(report.target)]
    if report.format is not None:
        lines.append(f"format: {report.format}, {len(report.files)} file(s) read")
    source = source_line(report)
    if source is not None:
        lines.append(f"source: {source}")
    lines.extend(f"note: {printable(note)}" for note in report.notes)
    if width is not None:
        lines = [wrapped for line in lines for wrapped in _wrap(line, width)]
    for section in sections(report, tree=True, expand=expand, tensors=tensors):
        lines.append("")
        lines.extend(section_lines(section, width, fit=fit))
    if report.memory is not None:
        lines.append("")
        for assumption in map(printable, report.memory.assumptions):
            lines.extend(_wrap(f"- {assumption}", width) if width is not None else [f"- {assumption}"])
    for warning in map(printable, report.warnings):
        lines.append("")
        lines.extend(_wrap(f"warning: {warning}", width) if width is not None else [f"warning: {warning}"])
    return "\n".join(lines) + "\n"


_GAP = 2  # spaces between columns
_LEAST = 8  # the narrowest a text column is cut to
_COMFORT = 16  # a text column is cut to this before optional columns are dropped


def section_lines(section: Section, width: int | None = None, *, fit: Callable[[str], str] | None = None) -> list[str]:
    """One section as aligned lines: its title, a header and a rule when it has headers, then its rows.

    With ``width``, text columns (the first ones first) are narrowed to fit, each cell cut in the middle with an
    ellipsis, so that a row never wraps; numbers are never cut, in number columns or in text (``32 x …, 202,383,360
    each``). ``fit`` (:func:`~paramcount.render._text.fitter`) makes every cell encodable before the columns are
    measured; cut cells are then marked with ``~``.
    """
    rule = "\u2500" if fit is None else "-"
    if fit is not None:
        section = section._replace(title=fit(section.title))
    rows, widths, numbers = fitted(section, width, fit=fit)

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, numeric in zip(cells, widths, numbers, strict=True)
        )
        return (" " * _GAP).join(padded).rstrip()

    out = [section.title] if section.title else []
    if width is not None and section.title:
        out = _wrap(section.title, width)
    if any(section.headers):
        out.append(line(rows[0]))
        out.append((" " * _GAP).join(rule * width for width in widths))
    out.extend(line(row) for row in rows[1:])
    return out


def fitted(
    section: Section, width: int | None, *, gap: int = _GAP, fit: Callable[[str], str] | None = None
) -> tuple[list[tuple[str, ...]], list[int], tuple[bool, ...]]:
    """The header and rows of ``section`` fitted to ``width`` with ``gap`` spaces between columns: the cells (header
    first), each column's width and which columns are numbers. The plain table and the colour table share it.

    Optional columns are dropped first, then text columns are cut in the middle, never below what their figures
    need: a number in a text cell is kept whole, so a row holding one may stay wider than ``width``.
    """
    rows = [section.headers, *section.rows]
    if fit is not None:
        rows = [tuple(fit(cell) for cell in row) for row in rows]
    mark, tree = ("\u2026", "\u2502\u251c\u2514\u2500 ") if fit is None else ("~", "|`- ")
    numeric = section.numeric
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    if width is None:
        return rows, widths, numeric

    def excess() -> int:
        return sum(widths) + gap * (len(widths) - 1) - width

    # the narrowest each column can be cut to: _LEAST, or wider where a cell's figures need more
    floors = [max(_LEAST, *(_least(cell, mark, tree) for cell in column)) for column in zip(*rows, strict=True)]
    # Optional columns go first ("own", then "buffers", then "share"), then the widest long text column gives
    # way, a character at a time, down to its floor; short text columns ("trainable") and numbers are never cut.
    dropped: set[int] = set()
    # what cutting long text columns to a readable _COMFORT width would win
    comfort = sum(
        max(0, widths[c] - max(_COMFORT, floors[c])) for c in range(len(widths)) if not numeric[c] and widths[c] > 11
    )
    for column in section.optional:
        if excess() - sum(widths[c] + gap for c in dropped) <= comfort:
            break
        dropped.add(column)
    if dropped:
        keep = [c for c in range(len(widths)) if c not in dropped]
        rows = [tuple(row[c] for c in keep) for row in rows]
        widths = [widths[c] for c in keep]
        floors = [floors[c] for c in keep]
        numeric = tuple(numeric[c] for c in keep)
    narrowed = list(widths)
    while sum(narrowed) + gap * (len(narrowed) - 1) > width:
        candidates = [c for c in range(len(widths)) if not numeric[c] and widths[c] > 11 and narrowed[c] > floors[c]]
        if not candidates:
            break
        narrowed[max(candidates, key=lambda c: narrowed[c])] -= 1
    for column, (before, after) in enumerate(zip(widths, narrowed, strict=True)):
        if after < before:
            rows = [(*row[:column], _middle(row[column], after, mark, tree), *row[column + 1 :]) for row in rows]
    return rows, narrowed, numeric


# A number inside a text cell ("32 x LlamaDecoderLayer, 202,383,360 each", "stored 4096x4096"): digits with
# separators, a decimal point or shape signs, standing alone (the digits of a name, "layers.0", "x1b", are names).
_FIGURE = re.compile(r"(?<![\w.\-])\d[\d,.x\u00d7]*(?<![,.x\u00d7])(?![\w\-]|\.\w)")
# A name inside a text cell: what is cut first, the longest first.
_NAME = re.compile(r"(?:[^\W\d]|_)[\w.\-/]*")


def _least(text: str, mark: str, tree: str) -> int:
    """The narrowest ``text`` can be cut to without cutting a number in it (0 when it holds none)."""
    name = text.lstrip(tree)
    if _FIGURE.search(name) is None:
        return 0
    branches = len(text) - len(name)
    return min(branches, 1 + 3) + len(_keep_figures(name, 0, mark))


def _middle(text: str, width: int, mark: str = "\u2026", tree: str = "\u2502\u251c\u2514\u2500 ") -> str:
    """``text`` cut to ``width`` characters by dropping the middle of its name; a tree label keeps its last branch;
    a number in it is never cut (the names around it are, so the result may be wider than ``width``).

    >>> _middle("model.layers.0.self_attn.q_proj", 16)
    'model.la….q_proj'
    >>> _middle("\u2502  \u251c\u2500 embed_tokens", 12)
    '│  ├─ emb…ns'
    >>> _middle("\u2502  \u2502  \u2502  \u251c\u2500 0", 8)
    '…├─ 0'
    >>> _middle("32 x LlamaDecoderLayer, 202,383,360 each", 30)
    '32 x Lla…yer, 202,383,360 each'
    >>> _middle("32 x LlamaDecoderLayer, 202,383,360 each", 10)
    '32 x …, 202,383,360 …'
    """
    if len(text) <= width:
        return text
    name = text.lstrip(tree)
    branches = text[: len(text) - len(name)]
    if len(branches) + min(len(name), 4) > width:  # a deep tree: keep the last branch, cut the ones before
        branches = mark + branches[-3:] if branches else ""
    room = width - len(branches)
    if len(name) <= room:
        return branches + name
    if _FIGURE.search(name) is not None:
        return branches + _keep_figures(name, room, mark)
    return branches + _cut(name, max(room, 2), mark)


def _cut(text: str, width: int, mark: str) -> str:
    """``text`` cut in the middle to ``width`` characters (at least the mark)."""
    keep = max(width - 1, 0)
    head = (keep + 1) // 2
    return text[:head] + mark + text[len(text) - (keep - head) :]


def _keep_figures(text: str, width: int, mark: str) -> str:
    """``text`` cut towards ``width`` without cutting its numbers: its names first, the longest first and each down
    to the mark before the next, then any longer stretch of other characters down to three; numbers stay whole."""
    pieces: list[list[str]] = []  # [kind, text]: "figure", "name" or "other"
    at = 0
    for match in _FIGURE.finditer(text):
        pieces.extend(_names(text[at : match.start()]))
        pieces.append(["figure", match.group()])
        at = match.end()
    pieces.extend(_names(text[at:]))
    excess = len(text) - width
    for kind, least in (("name", 1), ("other", 3)):
        for piece in sorted((p for p in pieces if p[0] == kind), key=lambda p: -len(p[1])):
            if excess <= 0:
                break
            shorter = max(len(piece[1]) - excess, least)
            if shorter < len(piece[1]):
                excess -= len(piece[1]) - shorter
                piece[1] = _cut(piece[1], shorter, mark)
    return "".join(piece[1] for piece in pieces)


def _names(text: str) -> list[list[str]]:
    """``text`` (holding no number) as name pieces and the other pieces between them."""
    pieces: list[list[str]] = []
    at = 0
    for match in _NAME.finditer(text):
        if match.start() > at:
            pieces.append(["other", text[at : match.start()]])
        pieces.append(["name", match.group()])
        at = match.end()
    if at < len(text):
        pieces.append(["other", text[at:]])
    return pieces


def _wrap(line: str, width: int) -> list[str]:
    """A note or warning wrapped at ``width`` (table rows are fitted instead, never wrapped)."""
    if len(line) <= width:
        return [line]
    import textwrap

    return textwrap.wrap(line, width, subsequent_indent="  ", break_long_words=True) or [line]
