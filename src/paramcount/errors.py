"""One error tree for paramcount; each class carries the exit code the CLI uses for it.

```
ParamcountError                      exit 3 unless a subclass says otherwise
├── UsageError(ValueError)           exit 2   bad arguments: an unparsable expected count, an unknown format
├── TargetError(ValueError)          exit 3   the target cannot be read: bad spec, import or constructor failure
│   └── FormatError                  exit 3   a file breaks a rule of its format (names the file, tensor, rule)
├── UnsafeTargetError(ValueError)    exit 4   the target would need code execution to be read
└── VerificationError(AssertionError) exit 1  the count differs from the expectation (every mismatch listed)
```

Every message says what failed, for which target, why, and how to fix it, on one line.

>>> try:
...     raise TargetError("cannot import 'nope'", target="nope:Model()", fix="check the module path")
... except ParamcountError as e:
...     (e.exit_code, str(e))
(3, "nope:Model(): cannot import 'nope'; check the module path")
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, ClassVar


__all__ = [
    "FormatError",
    "ParamcountError",
    "TargetError",
    "UnsafeTargetError",
    "UsageError",
    "VerificationError",
    "quote",
]

#: characters of a value from a file shown in a message; the rest is cut (a mangled file can hold megabytes)
QUOTED_CHARACTERS = 120


def quote(value: object, limit: int = QUOTED_CHARACTERS) -> str:
    """``value`` for a one-line message: escaped like ``repr`` and cut to ``limit`` characters with an ellipsis.

    Names, keys and other values read from a file are the attacker's text: one of them must not turn an error
    into a 5 MB line or smuggle a line break or terminal escape into it. Long strings are cut before they are
    rendered, and other values are rendered a few levels and items deep (:mod:`reprlib`), so quoting costs little
    whatever the value: a tuple nested 80 levels deep over itself, 2^80 paths in a 500-byte pickle, included.

    >>> quote("model.layers.0.weight")
    "'model.layers.0.weight'"
    >>> quote("a" * 500)[-6:], len(quote("a" * 500))
    ("aaaa'…", 123)
    >>> print(quote("line" + chr(10) + "break" + chr(27) + "[31m"))
    'line\\nbreak\\x1b[31m'
    >>> quote(list(range(1000)), 20)
    '[0, 1, 2, 3, 4, 5, 6…'
    >>> nested = ()
    >>> for _ in range(80):
    ...     nested = (nested, nested)
    >>> quote(nested)
    '((((...), (...)), ((...), (...))), (((...), (...)), ((...), (...))))'
    """
    if isinstance(value, (str, bytes)):
        text = repr(value[:limit])
        return text + "\u2026" if len(value) > limit else text
    text = _BOUNDED.repr(value)
    return text if len(text) <= limit else text[:limit] + "\u2026"


class _BoundedRepr:
    """A :class:`reprlib.Repr` made on first use (reprlib is imported only when a value needs quoting)."""

    def __init__(self) -> None:
        self._repr: Any = None

    def repr(self, value: object) -> str:
        if self._repr is None:
            import reprlib

            self._repr = reprlib.Repr()
            self._repr.maxlevel = 3
            self._repr.maxtuple = self._repr.maxlist = self._repr.maxset = self._repr.maxdict = 8
            self._repr.maxstring = self._repr.maxother = 40
            self._repr.repr_int = _repr_int
        text: str = self._repr.repr(value)
        return text


_BOUNDED = _BoundedRepr()


def _repr_int(value: int, level: int) -> str:
    """An integer for a message: in full up to 128 bits, else only how long it is.

    ``str()`` refuses integers over 4,300 digits (``sys.set_int_max_str_digits``) and a pickle's ``LONG4`` opcode
    makes one from 1,800 bytes, so the digits of a large one are never asked for.
    """
    if value.bit_length() <= 128:
        return str(value)
    sign = "a negative" if value < 0 else "an"
    return f"<{sign} integer of about {int(value.bit_length() * 0.30103) + 1} digits>"


class ParamcountError(Exception):
    """Base class of every error paramcount raises on purpose.

    Args:
        problem: what went wrong, without the target name.
        target: the target (spec string or path) the error is about, if any.
        fix: what the user can do about it, if anything.
    """

    exit_code: ClassVar[int] = 3

    def __init__(self, problem: str, *, target: str | None = None, fix: str | None = None) -> None:
        self.problem = problem
        self.target = target
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        target = self.target
        if target and not (target.isprintable() and len(target) <= 300):
            target = quote(target, 300)  # a path or spec with a line break or escape stays on one line, escaped
        text = f"{target}: {self.problem}" if target else self.problem
        return f"{text}; {self.fix}" if self.fix else text


class UsageError(ParamcountError, ValueError):
    """Arguments that cannot be understood, such as an expected count of ``"lots"``.

    Args:
        option: the keyword argument at fault (``"gpu_memory"``), when one is; ``problem`` then says what is wrong
            with it and the message begins with its name. The command line names its flag instead
            (:meth:`naming`).
    """

    exit_code: ClassVar[int] = 2

    def __init__(
        self, problem: str, *, target: str | None = None, fix: str | None = None, option: str | None = None
    ) -> None:
        self.option = option
        self.detail = problem
        super().__init__(f"{option} {problem}" if option else problem, target=target, fix=fix)

    def naming(self, subject: str) -> UsageError:
        """The same error with the option called ``subject`` (a CLI flag such as ``--gpu-memory``)."""
        if self.option is None:
            return self
        return UsageError(f"{subject} {self.detail}", target=self.target, fix=self.fix)


class TargetError(ParamcountError, ValueError):
    """A target that cannot be read: malformed spec, failed import, failed constructor, not a model.

    Args:
        status: the HTTP status a server answered with, when that is why (404 for a missing file); else ``None``.
    """

    exit_code: ClassVar[int] = 3

    def __init__(
        self, problem: str, *, target: str | None = None, fix: str | None = None, status: int | None = None
    ) -> None:
        self.status = status
        super().__init__(problem, target=target, fix=fix)


class FormatError(TargetError):
    """A file that breaks a rule of its format.

    Args:
        problem: what is wrong, with the limit next to the actual value; values read from the file are quoted
            with :func:`quote`.
        target: the file.
        rule: a short name of the rule broken (``"offsets"``, ``"limit-header-bytes"``), for tests and tools.
        tensor: the tensor the problem is about, if any.
        member: the archive member the problem is about, if any (``"archive/data.pkl"``).
    """

    def __init__(
        self,
        problem: str,
        *,
        target: str | None = None,
        rule: str,
        tensor: str | None = None,
        member: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.rule = rule
        self.tensor = tensor
        self.member = member
        where = f"member {quote(member)}: " if member is not None else ""
        where += f"tensor {quote(tensor)}: " if tensor is not None else ""
        super().__init__(
            f"{where}{problem}", target=target, fix=fix or "the file is malformed or truncated; re-export it"
        )


class UnsafeTargetError(ParamcountError, ValueError):
    """A target whose reading would need code execution (used by the file readers)."""

    exit_code: ClassVar[int] = 4


class VerificationError(ParamcountError, AssertionError):
    """The counted parameters differ from what was expected.

    Args:
        mismatches: one sentence per mismatch; all of them are collected before raising.
        target: the target that was verified.
        report: the report, with ``verification`` saying what was compared (``None`` when not at hand).
    """

    exit_code: ClassVar[int] = 1

    def __init__(self, mismatches: tuple[str, ...], *, target: str | None = None, report: Any = None) -> None:
        self.mismatches = mismatches
        self.report = report
        problem = "verification failed: " + "; ".join(mismatches)
        super().__init__(problem, target=target)
