"""Limits: every one has a default, a name on the command line, and fails closed with a way to raise it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import torch

import paramcount
from paramcount.errors import FormatError, UsageError
from paramcount.limits import DEFAULT, LIMITS, Limits, parse_limits

if TYPE_CHECKING:
    from pathlib import Path


def test_every_limit_is_documented_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in LIMITS:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("pickle-bytes=1GiB", "pickle_bytes", 2**30),
        ("tensors=2_000_000", "tensors", 2_000_000),
        ("zip-entries=2M", "zip_entries", 2_000_000),
        ("elements=1e12", "elements", 10**12),
        ("header-bytes=200,000,000", "header_bytes", 200_000_000),
    ],
)
def test_parse(text: str, field: str, value: int) -> None:
    limits = parse_limits([text])
    assert getattr(limits, field) == value
    assert limits._replace(**{field: getattr(DEFAULT, field)}) == DEFAULT


@pytest.mark.parametrize("text", ["pickle_bytes=1", "nope=3", "tensors", "tensors=0", "tensors=-5", "tensors=lots"])
def test_bad_limits_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_limits([text])


def save(path: Path, tensors: int) -> Path:
    torch.save({f"w{i}": torch.zeros(2) for i in range(tensors)}, path)
    return path


def test_lowering_a_limit_refuses_and_raising_it_accepts(tmp_path: Path) -> None:
    path = str(save(tmp_path / "sd.pt", 5))
    with pytest.raises(FormatError) as caught:
        paramcount.count(path, limits={"tensors": 4})
    assert caught.value.rule == "limit-tensors"
    assert "--limit tensors=N" in str(caught.value)
    assert paramcount.count(path, limits={"tensors": 5}).parameters.total == 10
    with pytest.raises(FormatError) as caught:
        paramcount.count(path, limits=Limits(pickle_opcodes=20))
    assert caught.value.rule == "limit-pickle-opcodes"
    with pytest.raises(FormatError) as caught:
        paramcount.count(path, limits={"pickle-bytes": "100"})
    assert caught.value.rule == "limit-pickle-bytes"
    with pytest.raises(FormatError) as caught:
        paramcount.count(path, limits={"zip_entries": 3})
    assert caught.value.rule == "limit-zip-entries"
    with pytest.raises(FormatError) as caught:
        paramcount.count(path, limits={"elements": 9})
    assert caught.value.rule == "limit-elements"


def test_cli_limit_flag(tmp_path: Path) -> None:
    path = str(save(tmp_path / "sd.pt", 3))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paramcount", "count", path, "--format", "json", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    refused = run("--limit", "tensors=2")
    assert refused.returncode == 3
    assert "over the limit of 2 (tensors)" in refused.stderr
    accepted = run("--limit", "tensors=2", "--limit", "tensors=3")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["parameters"]["total"] == 6
    assert run("--limit", "bogus=1").returncode == 2
