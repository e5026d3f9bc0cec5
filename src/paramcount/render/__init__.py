"""Renderers: pure functions from a Report to text. The CLI decides where the text goes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paramcount.render import csv, json, markdown, table

if TYPE_CHECKING:
    from collections.abc import Callable

    from paramcount.report import Report

__all__ = ["FORMATS", "render"]

_RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": table.render,
    "json": json.render,
    "csv": csv.render,
    "markdown": markdown.render,
}

#: Output formats, in the order the CLI lists them.
FORMATS = tuple(_RENDERERS)


def render(report: Report, format: str = "table") -> str:
    """Render ``report`` as ``format`` (one of :data:`FORMATS`)."""
    return _RENDERERS[format](report)
