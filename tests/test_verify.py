"""Expected counts, tolerances and VerificationError."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import torch

import paramcount
from paramcount.errors import UsageError, VerificationError
from paramcount.expectation import check_total, parse_expected, parse_tolerance

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("text", "value", "slack"),
    [
        ("7850", 7850, 0),
        ("7,850", 7850, 0),
        ("1,000,000", 10**6, 0),
        ("7_850", 7850, 0),
        ("124.4M", 124_400_000, 50_000),
        ("124.4 M", 124_400_000, 50_000),
        ("6.74B", 6_740_000_000, 5_000_000),
        ("6.74G", 6_740_000_000, 5_000_000),
        ("1.2e9", 1_200_000_000, 50_000_000),
        ("7.85K", 7850, 5),
        ("7.85k", 7850, 5),
        ("125M", 125_000_000, 500_000),
        ("0.5T", 500_000_000_000, 50_000_000_000),
    ],
    ids=str,
)
def test_parse_expected(text: str, value: int, slack: int) -> None:
    expected = parse_expected(text)
    assert (expected.value, expected.slack) == (Decimal(value), Decimal(slack))


@pytest.mark.parametrize(
    "text", ["", "lots", "-5", "1.2.3", "7,85", "12,3456", "1e", "nan", "inf", "1x", "1,000.5.5"], ids=repr
)
def test_parse_expected_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="cannot read expected count"):
        parse_expected(text)


def test_parse_expected_rejects_wrong_types() -> None:
    with pytest.raises(UsageError, match=r"\Aan expected count must be an int or a string, not bool\Z"):
        parse_expected(True)
    with pytest.raises(UsageError, match=r"\Aan expected count cannot be negative \(got -1\)\Z"):
        parse_expected(-1)
    with pytest.raises(UsageError, match="not a whole number"):
        parse_expected(1.5)
    with pytest.raises(UsageError, match="must be an int or a string"):
        parse_expected([1])  # type: ignore[arg-type]


def test_rounded_figures_match_within_their_printed_precision() -> None:
    assert check_total(124_439_808, parse_expected("124.4M"), None) is None
    assert check_total(6_738_415_616, parse_expected("6.74B"), None) is None
    assert check_total(124_439_808, parse_expected("124.5M"), None) is not None
    assert check_total(7_850, parse_expected("7850"), None) is None
    assert check_total(7_851, parse_expected("7850"), None) == "7,851, expected 7,850 (off by +1, +0.01%)"


def test_explicit_tolerance_replaces_implied_precision() -> None:
    assert check_total(124_439_808, parse_expected("124.4M"), 0) is not None
    assert check_total(1_005, parse_expected(1000), "0.5%") is None
    assert check_total(1_006, parse_expected(1000), "0.5%") is not None
    assert check_total(1_900, parse_expected(1000), "1K") is None
    assert parse_tolerance("1,000", parse_expected(0)) == Decimal(1000)


@pytest.mark.parametrize("tolerance", ["-1%", "lots", "%"], ids=repr)
def test_bad_tolerance_is_a_usage_error(tolerance: str) -> None:
    with pytest.raises(UsageError, match="tolerance"):
        parse_tolerance(tolerance, parse_expected(1))


def test_verify_returns_the_report_when_it_matches() -> None:
    report = paramcount.verify(torch.nn.Linear(784, 10), 7850)
    assert report.parameters.total == 7850
    assert paramcount.verify("torch.nn:Linear(784, 10)", "7.85K").parameters.total == 7850


def test_verification_error_is_an_assertion_error_listing_every_mismatch() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.BatchNorm1d(10))
    model[0].requires_grad_(False)
    refused = r"verification failed: parameters 130, expected 1 .*; frozen parameters 110, expected 2 "
    with pytest.raises(AssertionError, match=refused) as info:
        paramcount.verify(model, {"total": 1, "trainable": 20, "frozen": 2, "buffers": 21})
    error = info.value
    assert isinstance(error, VerificationError)
    assert error.exit_code == 1
    assert error.mismatches == (
        "parameters 130, expected 1 (off by +129, +12900.00%)",
        "frozen parameters 110, expected 2 (off by +108, +5400.00%)",
    )
    assert "parameters 130, expected 1" in str(error)


def test_lazy_model_cannot_verify_a_total() -> None:
    with pytest.raises(VerificationError, match=r"parameters unknown, expected 10.*uninitialized"):
        paramcount.verify(torch.nn.LazyLinear(3), 10)


def test_trainability_of_weights_that_do_not_record_it_is_a_usage_error(tmp_path: Path) -> None:
    """A file or state dict does not record requires_grad: expecting a trainable or frozen figure of it could never
    pass, so it is a usage error naming why (exit 2), not a failed verification (issue #20)."""
    from safetensors.torch import save_file

    weights = {"w": torch.zeros(2, 3)}
    path = tmp_path / "w.safetensors"
    save_file(weights, str(path))
    for target in (weights, str(path)):
        with pytest.raises(UsageError, match="trainable and frozen parameters cannot be checked: the weights do not"):
            paramcount.verify(target, {"total": 6, "trainable": 6, "frozen": 0})
        assert paramcount.verify(target, {"total": 6}).parameters.total == 6
    with pytest.raises(VerificationError, match="frozen parameters 0, expected 6"):  # a live model records it
        paramcount.verify(torch.nn.Linear(2, 2), {"total": 6, "frozen": 6})


def test_unknown_figure_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot verify 'weights'"):
        paramcount.verify(torch.nn.Linear(1, 1), {"weights": 2})
    with pytest.raises(UsageError, match="cannot verify nothing"):
        paramcount.verify(torch.nn.Linear(1, 1), {})
