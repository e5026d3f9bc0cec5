"""Expected counts: parsing ``"7,850"``, ``"124.4M"``, ``"6.74B"``, ``"1.2e9"``, tolerances, and comparison.

(DESIGN.md calls this module verify.py; that name would shadow the public ``paramcount.verify`` function as soon as
the module is imported, so it is named for what it holds.)

A rounded figure matches within its printed precision: ``"6.74B"`` means 6,740,000,000 +/- 5,000,000 (half a unit
in the last digit shown), ``"124.4M"`` means 124,400,000 +/- 50,000. A whole number without a suffix or exponent
(``"7850"``, ``"7,850"``) is exact. An explicit tolerance replaces the implied one: an absolute count (``1000``,
``"1K"``) or a percentage of the expected value (``"0.5%"``).

>>> e = parse_expected("6.74B")
>>> int(e.value), int(e.slack)
(6740000000, 5000000)
>>> check_total(6_738_415_616, parse_expected("6.74B"), None)
>>> check_total(7_850, parse_expected("7,850"), None)
>>> check_total(7_851, parse_expected("7,850"), None)
'7,851, expected 7,850 (off by +1, +0.01%)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import UsageError, VerificationError, quote
from paramcount.numbers import exact

if TYPE_CHECKING:
    from paramcount.report import Report

__all__ = [
    "Expectation",
    "Expected",
    "check_total",
    "compare",
    "parse_expectations",
    "parse_expected",
    "parse_tolerance",
]

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_NUMBER = re.compile(
    r"""^(?P<mantissa>\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*(?:\.\d+)?|\.\d+)
        (?P<exponent>[eE][+-]?\d{1,3})?
        \s*(?P<suffix>[kKmMbBgGtT]?)$""",
    re.VERBOSE,
)
_PERCENT = re.compile(r"^(?P<value>\d+(?:\.\d+)?|\.\d+)\s*%$")

#: The figures ``verify`` can check, by the name used in an expectation mapping.
FIGURES = ("total", "trainable", "frozen", "buffers")


class Expected(NamedTuple):
    """An expected count and the slack its printed precision allows.

    Attributes:
        text: the expectation as the user wrote it.
        value: the nominal count.
        slack: how far off a count may be and still match (0 for an exact figure).
    """

    text: str
    value: Decimal
    slack: Decimal


#: The largest count an expectation or a tolerance may name: more than any model has, and checked before a
#: count is printed (a 5,000-digit --expect must not become a 5,000-character line, or a ValueError).
LARGEST = 10**18
_LONGEST = 40  # characters of a written count, checked before it is parsed


def _parse_number(text: str, what: str) -> tuple[Decimal, Decimal]:
    """(value, implied slack) of a count written as a number with an optional exponent and K/M/B/G/T."""
    match = _NUMBER.match(text.strip()) if len(text) <= _LONGEST else None
    if match is None:
        raise UsageError(
            f"cannot read {what} {quote(text, 60)}",
            fix="write a count such as 7850, 7,850, 124.4M, 6.74B or 1.2e9",
        )
    mantissa = Decimal(match["mantissa"].replace(",", "").replace("_", ""))
    exponent = int(match["exponent"][1:]) if match["exponent"] else 0
    scale = Decimal(_SUFFIXES[match["suffix"].lower()]).scaleb(exponent)
    value = mantissa * scale
    last_digit = mantissa.as_tuple().exponent
    assert isinstance(last_digit, int)  # finite by the regex
    rounded = last_digit < 0 or scale > 1
    slack = Decimal(5).scaleb(last_digit - 1) * scale if rounded else Decimal(0)
    if value > LARGEST:
        raise _too_large(what, text.strip())
    return value, slack


def _too_large(what: str, text: str) -> UsageError:
    return UsageError(f"the {what} {quote(text, 60)} is more than 10^18", fix="write a count a model can have")


def parse_expected(expected: int | float | str) -> Expected:
    """Read an expected count.

    Args:
        expected: an int, a float holding a whole number (exact: ``1.2e9`` means 1,200,000,000 +- 0; write
            ``"1.2e9"`` for its printed precision), or a string such as ``"7850"``, ``"7,850"``, ``"124.4M"``,
            ``"6.74B"``, ``"1.2e9"``.

    Returns:
        The expectation, with the slack implied by its printed precision.

    Raises:
        UsageError: the value is negative, not a whole number of parameters, not a count, or a bool.

    >>> parse_expected("202048.5")
    Traceback (most recent call last):
    ...
    paramcount.errors.UsageError: the expected count '202048.5' is not a whole number of parameters; ...
    """
    if isinstance(expected, bool) or not isinstance(expected, (int, float, str)):
        raise UsageError(f"an expected count must be an int or a string, not {type(expected).__name__}")
    if isinstance(expected, float):
        if not expected.is_integer():
            raise _fractional(repr(expected))
        expected = int(expected)
    if isinstance(expected, int):
        if expected < 0:
            raise UsageError(f"an expected count cannot be negative (got {quote(expected, 60)})")
        if expected > LARGEST:
            raise _too_large("expected count", quote(expected, 40))
        return Expected(text=str(expected), value=Decimal(expected), slack=Decimal(0))
    value, slack = _parse_number(expected, "expected count")
    if value != value.to_integral_value():
        raise _fractional(expected.strip())
    return Expected(text=expected.strip(), value=value, slack=slack)


def _fractional(text: str) -> UsageError:
    return UsageError(
        f"the expected count {quote(text, 60)} is not a whole number of parameters",
        fix="write a whole number of parameters (7850), or a rounded count with a suffix (124.4M)",
    )


def parse_tolerance(tolerance: int | str, expected: Expected) -> Decimal:
    """The allowed difference for ``expected`` under an explicit tolerance.

    Args:
        tolerance: an absolute count (``1000``, ``"1K"``) or a percentage of the expected value (``"0.5%"``).
        expected: the expectation the percentage refers to.

    Returns:
        The allowed absolute difference.

    Raises:
        UsageError: the tolerance cannot be read or is negative.

    >>> parse_tolerance("0.5%", parse_expected(1000)), parse_tolerance("1K", parse_expected(0))
    (Decimal('5.0'), Decimal('1000'))
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, str)):
        raise UsageError(f"a tolerance must be an int or a string, not {type(tolerance).__name__}")
    if isinstance(tolerance, int):
        if tolerance < 0:
            raise UsageError(f"a tolerance cannot be negative (got {quote(tolerance, 60)})")
        if tolerance > LARGEST:
            raise _too_large("tolerance", quote(tolerance, 40))
        return Decimal(tolerance)
    percent = _PERCENT.match(tolerance.strip()) if len(tolerance) <= _LONGEST else None
    if percent is not None:
        return expected.value * Decimal(percent["value"]) / 100
    try:
        value, _ = _parse_number(tolerance, "tolerance")
    except UsageError:
        raise UsageError(
            f"cannot read tolerance {quote(tolerance, 60)}",
            fix="write an absolute count such as 1000 or 1K, or a percentage such as 0.5%",
        ) from None
    return value


def check_total(actual: int | None, expected: Expected, tolerance: int | str | None) -> str | None:
    """Compare one figure; return the mismatch sentence, or ``None`` when it matches.

    Args:
        actual: the counted figure; ``None`` when unknown (uninitialized lazy parameters).
        expected: the expectation.
        tolerance: an explicit tolerance, or ``None`` for the precision implied by ``expected``.
    """
    slack = expected.slack if tolerance is None else parse_tolerance(tolerance, expected)
    return _compare(actual, expected, slack)


def _compare(actual: int | None, expected: Expected, slack: Decimal) -> str | None:
    if actual is None:
        return f"unknown, expected {expected.text}"
    difference = actual - expected.value
    if abs(difference) <= slack:
        return None
    within = f" \u00b1{exact(int(slack))}" if slack else ""
    shown = exact(int(expected.value)) if expected.value == int(expected.value) else str(expected.value)
    off = f"{int(difference):+,}"
    if expected.value:
        off += f", {float(difference / expected.value):+.2%}"
    return f"{exact(actual)}, expected {shown}{within} (off by {off})"


class Expectation(NamedTuple):
    """One figure to check: its name (``"total"``, ...), the expected value and the allowed difference."""

    figure: str
    expected: Expected
    slack: Decimal


def parse_expectations(
    expected: int | float | str | Mapping[str, int | float | str], tolerance: int | str | None = None
) -> tuple[Expectation, ...]:
    """Read every expectation up front, so that a typo fails before any model is built.

    Args:
        expected: the expected total parameters, or a mapping from ``"total"``, ``"trainable"``, ``"frozen"``,
            ``"buffers"`` to expected figures.
        tolerance: an explicit tolerance applied to each figure; ``None`` uses each figure's printed precision.

    Raises:
        UsageError: an expectation or the tolerance cannot be read, or names an unknown figure.
    """
    wanted = dict(expected) if isinstance(expected, Mapping) else {"total": expected}
    unknown = sorted(set(wanted) - set(FIGURES))
    if unknown or not wanted:
        raise UsageError(
            f"cannot verify {', '.join(map(repr, unknown)) or 'nothing'}",
            fix=f"expect one or more of {', '.join(FIGURES)}",
        )
    result = []
    for figure in FIGURES:
        if figure in wanted:
            parsed = parse_expected(wanted[figure])
            slack = parsed.slack if tolerance is None else parse_tolerance(tolerance, parsed)
            result.append(Expectation(figure, parsed, slack))
    return tuple(result)


_LABELS = {
    "total": "parameters",
    "trainable": "trainable parameters",
    "frozen": "frozen parameters",
    "buffers": "buffer elements",
}


def compare(report: Report, expectations: tuple[Expectation, ...]) -> Report:
    """Check a report against parsed expectations; raise with every mismatch, or return the report.

    Either way the report carries what was compared (``report.verification``): on failure it is the error's
    ``report``, so that a caller can still show it.

    Raises:
        VerificationError: at least one figure differs; ``mismatches`` lists them all.
        UsageError: a trainable or frozen figure is expected of weights that do not record trainability (a file, a
            state dict): no count could ever match it.
    """
    from paramcount.report import Check

    actual = {
        "total": report.parameters.total,
        "trainable": report.parameters.trainable,
        "frozen": report.parameters.frozen,
        "buffers": report.buffers.total,
    }
    unknowable = [e.figure for e in expectations if e.figure in ("trainable", "frozen") and actual[e.figure] is None]
    if unknowable and report.parameters.total is not None:  # (unknown totals: uninitialized, a mismatch below)
        raise UsageError(
            f"{' and '.join(dict.fromkeys(unknowable))} parameters cannot be checked: the weights do not record "
            "which parameters are trainable",
            target=report.target,
            fix="expect the total instead, or verify the model in code or a live module, where requires_grad is known",
        )
    mismatches = []
    checks = []
    for e in expectations:
        mismatch = _compare(actual[e.figure], e.expected, e.slack)
        checks.append(
            Check(e.figure, e.expected.text, int(e.expected.value), int(e.slack), actual[e.figure], mismatch is None)
        )
        if mismatch is not None:
            mismatches.append(f"{_LABELS[e.figure]} {mismatch}")
    lazy = report.parameters.uninitialized_tensors
    if lazy and any(e.figure != "buffers" for e in expectations):
        mismatches.append(f"{lazy} parameter tensor(s) are uninitialized (lazy)")
    report = report.replace(verification=tuple(checks))
    if mismatches:
        raise VerificationError(tuple(mismatches), target=report.target, report=report)
    return report
