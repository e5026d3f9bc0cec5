"""Sources: each turns one kind of target into an Inventory of records."""

from __future__ import annotations

import os
from contextvars import ContextVar

__all__ = ["CHECKING", "Checking", "looks_like_spec", "names_code"]


class Checking:
    """A ``paramcount check`` or ``diff`` in progress: the configuration to load the weights into (``None``: the
    weights' own ``config.json``), whether the model's shapes are wanted (a build), and what the architecture source
    leaves for it: the load report and the tensors under the model's names (``{key: (shape, dtype, elements)}``)."""

    __slots__ = ("document", "keys", "result", "shapes")

    def __init__(self, document: object, *, shapes: bool = True) -> None:
        self.document = document
        self.shapes = shapes
        self.result: object = None
        self.keys: object = None


#: set by ``paramcount.check`` around its count of the weights; read where a folder's configuration is applied
CHECKING: ContextVar[Checking | None] = ContextVar("paramcount_checking", default=None)


def looks_like_spec(text: str) -> bool:
    """Whether ``text`` is shaped like a model spec rather than a path (``mod:name`` before any ``(``).

    Kept here, free of imports, so that deciding between a spec and a file costs nothing.

    >>> looks_like_spec("torch.nn:Linear(1, 2)"), looks_like_spec("model.safetensors")
    (True, False)
    """
    head = text.split("(", 1)[0]
    module, sep, attribute = head.partition(":")
    return bool(sep) and _is_dotted_name(module.strip()) and _is_dotted_name(attribute.strip())


def names_code(text: str) -> bool:
    """Whether a TARGET string names code to import and build: shaped like a spec, and not an existing path.

    An existing path always wins (:func:`paramcount.sources.resolve.resolve`): a downloaded file named
    ``os:system('...')`` is a file to read, never code to run. ``./name`` names a path explicitly.
    """
    return looks_like_spec(text.strip()) and not os.path.lexists(text)


def _is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))
