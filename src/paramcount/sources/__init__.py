"""Sources: each turns one kind of target into an Inventory of records."""

from __future__ import annotations

__all__ = ["looks_like_spec"]


def looks_like_spec(text: str) -> bool:
    """Whether ``text`` is shaped like a model spec rather than a path (``mod:name`` before any ``(``).

    Kept here, free of imports, so that deciding between a spec and a file costs nothing.

    >>> looks_like_spec("torch.nn:Linear(1, 2)"), looks_like_spec("model.safetensors")
    (True, False)
    """
    head = text.split("(", 1)[0]
    module, sep, attribute = head.partition(":")
    return bool(sep) and _is_dotted_name(module.strip()) and _is_dotted_name(attribute.strip())


def _is_dotted_name(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))
