"""Resource limits for reading files, with their defaults; each can be raised (``--limit NAME=VALUE``).

Every reader checks its limits *before* it allocates or reads what a file claims, and exceeding one is an error
(exit 3) that names the limit and how to raise it: limits fail closed. The defaults admit every real checkpoint
seen (a 405B-parameter model's headers are a few MB) while bounding a hostile file's cost to well under a second
and a few hundred MB.

>>> Limits().pickle_bytes
268435456
>>> parse_limits(["pickle-bytes=1GiB", "tensors=2_000_000"]).pickle_bytes
1073741824
"""

from __future__ import annotations

from contextvars import ContextVar

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import FormatError, UsageError, quote

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["DEFAULT", "LIMITS", "Limits", "budget", "charge", "exceeded", "inflate", "parse_limits", "remaining"]


class Limits(NamedTuple):
    """Limits on what one target may make paramcount read, allocate or walk.

    Attributes:
        header_bytes: a safetensors JSON header (the reference implementation's cap is 100,000,000).
        json_bytes: an index or ``config.json``.
        pickle_bytes: one pickle (``data.pkl``, a legacy stream's pickle, DCP ``.metadata``), read whole.
        pickle_opcodes: opcodes executed by the inert evaluator in one pickle, an opcode whose argument is a line
            of text (``INT``, ``LONG``, ``FLOAT``, ``STRING``, ``UNICODE``, ``PUT``, ``GET``, ``PERSID``, ``GLOBAL``,
            ``INST``: protocols 0 and 1) counting as 4.
        pickle_memo: memo entries of one pickle.
        pickle_stack: values on one pickle's stack, counting those saved by MARK.
        nesting: MARK nesting depth of one pickle.
        pickle_values: values walked in one pickle's object graph (each shared object once), pairs of states
            given to instances (4 each, every time one is given), and every 16 characters of the paths naming values.
        pickle_items: items added to containers (lists, dicts, tuples, sets) by one pickle.
        pickle_globals: globals one pickle names (``GLOBAL``, ``STACK_GLOBAL``, ``INST``, and what a ``getattr`` or
            a reconstructor reaches); a whole-model save names each class and function once, a few hundred.
        total_pickle_opcodes: opcodes run over every pickle judged in one count (a zip of a thousand pickles, a
            polyglot's second reading, the legacy stream's five).
        total_inflated_bytes: bytes inflated from compressed zip members in one count, counted as they inflate.
        header_entries: tensors one safetensors header or GGUF file lists.
        gguf_keys: metadata keys of one GGUF file.
        npy_header_bytes: the literal header of one NumPy array (numpy reads any size when pickles are allowed).
        zip_entries: members of one zip archive.
        gguf_string_bytes: one GGUF string (llama.cpp: 1 GiB).
        gguf_array_elements: elements of one GGUF array (llama.cpp: 2^30).
        tensors: stored tensors in one target, all shards together.
        dimensions: dimensions of one tensor.
        elements: logical elements of one tensor, and of all tensors of a target together.
        remote_bytes: bytes fetched over the network for one count (headers are kilobytes to a few MB; this is
            what stops a server that ignores ``Range`` and streams a whole file).
        remote_timeout: seconds one request may wait to connect or between bytes.
        remote_attempts: tries of one request that meets a rate limit (429), a server error (5xx), a timeout or a
            dropped connection, with exponential backoff between them.
    """

    header_bytes: int = 100_000_000
    json_bytes: int = 64 * 2**20
    pickle_bytes: int = 256 * 2**20
    pickle_opcodes: int = 5_000_000
    pickle_memo: int = 2_000_000
    pickle_stack: int = 2_000_000
    nesting: int = 100_000
    pickle_values: int = 20_000_000
    pickle_items: int = 10_000_000
    pickle_globals: int = 100_000
    total_pickle_opcodes: int = 5_000_000
    total_inflated_bytes: int = 256 * 2**20
    header_entries: int = 300_000
    gguf_keys: int = 100_000
    npy_header_bytes: int = 2**20
    zip_entries: int = 1_000_000
    gguf_string_bytes: int = 2**30
    gguf_array_elements: int = 2**30
    tensors: int = 1_000_000
    dimensions: int = 64
    elements: int = 2**63 - 1
    remote_bytes: int = 256 * 2**20
    remote_timeout: int = 30
    remote_attempts: int = 5


DEFAULT = Limits()
#: CLI spelling (``pickle-bytes``) -> field name (``pickle_bytes``)
LIMITS = {name.replace("_", "-"): name for name in Limits._fields}
_SUFFIXES = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def exceeded(field: str, problem: str, limit: int, *, target: str | None, tensor: str | None = None) -> FormatError:
    """The error for a file that exceeds limit ``field``: rule ``limit-<name>``, and how to raise the limit.

    >>> e = exceeded("zip_entries", "has 2000000 zip entries", 1_000_000, target="x.pt")
    >>> e.rule, e.problem
    ('limit-zip-entries', 'has 2000000 zip entries, over the limit of 1000000 (zip-entries)')
    >>> e.fix
    "if the file is genuine, raise it: --limit zip-entries=N (limits={'zip_entries': N} in Python)"
    """
    name = field.replace("_", "-")
    return FormatError(
        f"{problem}, over the limit of {limit} ({name})",
        target=target,
        rule=f"limit-{name}",
        tensor=tensor,
        fix=f"if the file is genuine, raise it: --limit {name}=N (limits={{{field!r}: N}} in Python)",
    )


def parse_limits(items: list[str] | tuple[str, ...], base: Limits = DEFAULT) -> Limits:
    """``NAME=VALUE`` strings (``"pickle-bytes=1GiB"``, ``"tensors=2e6"``) applied over ``base``.

    Raises:
        UsageError: an unknown name or a value that is not a positive integer (with an optional K/M/G/T or
            KiB/MiB/GiB/TiB suffix).
    """
    changes: dict[str, int] = {}
    for item in items:
        name, sep, text = item.partition("=")
        field = LIMITS.get(name.strip())
        if field is not None and not sep:
            raise UsageError(f"limit {quote(name, 60)} needs a value", fix=f"write {name.strip()}=N")
        if not sep or field is None:
            import difflib

            near = difflib.get_close_matches(name.strip().replace("_", "-"), list(LIMITS), n=1, cutoff=0.75)
            fix = f"did you mean {near[0]}{sep}{text}? " if near else ""
            fix += f"use NAME=VALUE with NAME one of {', '.join(LIMITS)}"
            raise UsageError(f"unknown limit {quote(item, 60)}", fix=fix)
        changes[field] = _value(text, name)
    return base._replace(**changes)


def _value(text: str, name: str) -> int:
    if len(text) > 40:  # checked before it is parsed: no limit needs more
        raise _not_positive(text, name)
    raw = text.strip().replace("_", "").replace(",", "")
    upper = raw.upper()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if upper.endswith(suffix) and upper[: -len(suffix)]:
            number, scale = upper[: -len(suffix)], _SUFFIXES[suffix]
            break
    else:
        number, scale = upper, 1
    try:
        value = int(number) * scale if number.isdigit() else int(float(number) * scale)
    except (ValueError, OverflowError):
        value = 0
    if value <= 0:
        raise _not_positive(text, name)
    return value


def _not_positive(text: str, name: str) -> UsageError:
    return UsageError(f"limit {name} must be a positive integer, not {quote(text, 60)}", fix="e.g. pickle-bytes=1GiB")


class _Spent:
    """What one count has spent of its totals (``total_pickle_opcodes``, ``total_inflated_bytes``)."""

    __slots__ = ("inflated", "opcodes")

    def __init__(self) -> None:
        self.opcodes = 0
        self.inflated = 0


_SPENT: ContextVar[_Spent | None] = ContextVar("paramcount_spent", default=None)


class budget:  # noqa: N801 (used as a function: ``with budget():``)
    """A count's totals: pickle opcodes and inflated bytes spent inside the block add up, across every file.

    Outside such a block each pickle or member has its totals to itself (the per-count limits still cap it).

    >>> from paramcount.formats._pickle import Allowlist, evaluate
    >>> small = Limits(total_pickle_opcodes=5)
    >>> with budget():
    ...     _ = evaluate(b"N.", Allowlist(frozenset()), small)  # 2 opcodes
    ...     _ = evaluate(b"N.", Allowlist(frozenset()), small)  # 4 in all
    ...     evaluate(b"N.", Allowlist(frozenset()), small)  # 6: over the count's total
    Traceback (most recent call last):
    ...
    paramcount.formats._pickle.MalformedPickleError: runs too many opcodes (at byte 1)
    """

    def __enter__(self) -> None:
        self._token = _SPENT.set(_Spent())

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        _SPENT.reset(self._token)


def remaining(limits: Limits) -> int:
    """Opcodes the current count may still run (``total_pickle_opcodes`` less what it has spent)."""
    spent = _SPENT.get()
    return limits.total_pickle_opcodes - (spent.opcodes if spent is not None else 0)


def charge(opcodes: int, limits: Limits) -> None:
    """Add ``opcodes`` run to the current count's total (checked by the next :func:`remaining`)."""
    spent = _SPENT.get()
    if spent is not None:
        spent.opcodes += opcodes


def inflate(n: int, limits: Limits, *, target: str | None, member: str | None = None) -> None:
    """Spend ``n`` inflated bytes of the current count's ``total_inflated_bytes``, or raise when it is exceeded.

    Raises:
        FormatError: the count has inflated more than the limit (rule ``limit-total-inflated-bytes``).
    """
    spent = _SPENT.get()
    total = n + (spent.inflated if spent is not None else 0)
    if total > limits.total_inflated_bytes:
        where = f"member {quote(member, 120)} " if member else ""
        raise exceeded(
            "total_inflated_bytes",
            f"{where}inflates past {limits.total_inflated_bytes} bytes with the other compressed members",
            limits.total_inflated_bytes,
            target=target,
        )
    if spent is not None:
        spent.inflated = total
