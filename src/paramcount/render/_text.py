"""Text that is safe to show: names from files escaped for a terminal, and output that fits its stream's encoding.

A tensor name, a module type or a file name is the attacker's text: written raw, ``ESC[2J`` clears the screen, an
OSC sequence retitles the window, a carriage return overwrites the line before it, and U+202E turns what follows
around. Every renderer that writes for a person (the table, ``--tensors``, Markdown, HTML) shows such characters as
the escapes Python's ``repr`` uses; JSON and CSV keep the exact string (CSV neutralises formulas instead).

A terminal whose encoding cannot show the table's box-drawing characters (``PYTHONIOENCODING=ascii``, a latin-1
locale) gets ASCII stand-ins for them, and backslash escapes for anything else it cannot encode, rather than a
``UnicodeEncodeError``.
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["encodable", "fitter", "printable"]

# What the renderers draw with (box drawing, ellipsis, multiplication sign, dashes, minus, comparisons, plus-minus,
# almost equal, middle dot), and an ASCII stand-in for each.
_ASCII = str.maketrans(
    {
        "\u2500": "-",
        "\u2502": "|",
        "\u251c": "|",
        "\u2514": "`",
        "\u2026": "...",
        "\u00d7": "x",
        "\u2013": "-",
        "\u2014": "--",
        "\u2212": "-",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u00b1": "+/-",
        "\u2248": "~",
        "\u00b7": ".",
    }
)


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape (``\\x1b``, ``\\r``, ``\\x9b``,
    ``\\u202e``): control characters, C1 controls, format characters such as bidi overrides, line separators,
    surrogates; printable text, spaces included, is left as it is.

    >>> printable("model.layers.0.weight")
    'model.layers.0.weight'
    >>> printable("evil" + chr(27) + "[2J" + chr(13) + "ok" + chr(0x202E) + "gpj.exe")
    'evil\\\\x1b[2J\\\\rok\\\\u202egpj.exe'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as a stream of ``encoding`` can take it: unchanged when it can, else with the drawing characters
    in ASCII and anything else still outside the encoding as backslash escapes.

    >>> encodable("depth \u2264 2 \u2502 \u251c\u2500 0", "ascii")
    'depth <= 2 | |- 0'
    >>> encodable("caf\u00e9 \u00e9t\u00e9 \u4e2d", "latin-1")
    'café été \\\\u4e2d'
    """
    encoding = encoding or "utf-8"
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    except LookupError:
        encoding = "ascii"
    return text.translate(_ASCII).encode(encoding, "backslashreplace").decode(encoding)


def fitter(encoding: str | None) -> Callable[[str], str] | None:
    """For a stream of ``encoding``: ``None`` when it takes the table's drawing characters (UTF-8), else the
    function that makes each piece of text encodable, so that a renderer can apply it *before* it measures
    columns (``…`` turned into ``...`` after the layout would push a row out of line).

    >>> fitter("utf-8") is None, fitter("ascii")("a \u2502 b")
    (True, 'a | b')
    """
    try:
        _DRAWN.encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return lambda text: encodable(text, encoding)
    return None


_DRAWN = "".join(chr(c) for c in (0x2500, 0x2502, 0x251C, 0x2514, 0x2026, 0x00D7, 0x2013, 0x2212, 0x2264, 0x00B1))
