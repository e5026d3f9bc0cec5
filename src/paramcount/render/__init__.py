"""Renderers: pure functions from a Report to text. The CLI decides where the text goes.

Each format lives in its own module, imported only when it is used (a CLI run pays for one renderer).
"""

from __future__ import annotations

import importlib

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = ["FORMATS", "render"]

#: Output formats, in the order the CLI lists them; each is the module of the same name in this package.
FORMATS = ("table", "json", "csv", "markdown", "html")


def render(report: Report, format: str = "table", *, expand: bool = False, tensors: bool = False) -> str:
    """Render ``report`` as ``format`` (one of :data:`FORMATS`).

    ``expand`` shows every block of a run of repeated blocks (table, markdown); ``tensors`` adds the list of
    tensors (a table in table, markdown and html, ``tensors.list`` in json) or, in csv, makes the rows tensors
    instead of modules.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"paramcount.render.{format}")
    if format in ("table", "markdown"):
        text: str = module.render(report, expand=expand, tensors=tensors)
    else:
        text = module.render(report, tensors=tensors)
    return text
