"""Live models that misbehave get a correct or flagged report, or one clear error: never a crash or a hang."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import nn

import paramcount
from paramcount.errors import TargetError


class NumelRaises(nn.Parameter):
    def numel(self) -> int:
        raise RuntimeError("numel is broken")


class Claims(torch.Tensor):
    """A wrapper subclass claiming any size over a small inner tensor (as torchao and DTensor are built)."""

    payload: torch.Tensor

    @staticmethod
    def __new__(cls, inner: torch.Tensor, size: tuple[int, ...]) -> Claims:
        made: Claims = torch.Tensor._make_wrapper_subclass(cls, size, dtype=inner.dtype, device=inner.device)
        made.payload = inner
        return made

    def __tensor_flatten__(self) -> tuple[list[str], None]:
        return ["payload"], None

    @staticmethod
    def __tensor_unflatten__(inner: dict[str, torch.Tensor], ctx: Any, size: Any, stride: Any) -> Claims:
        return Claims(inner["payload"], size)

    @classmethod
    def __torch_dispatch__(  # type: ignore[override]  # torch's stub types these loosely
        cls, func: Any, types: Any, args: Any = (), kwargs: Any = None
    ) -> Any:
        raise NotImplementedError(f"{func} on a test wrapper")


class ShapeRaises(torch.Tensor):
    @property
    def shape(self) -> torch.Size:  # type: ignore[override]
        raise RuntimeError("shape is broken")


class GetattrRaises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 3)

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no attribute {name} for you")


class NeverInitialized(nn.Module):
    def __init__(self) -> None:  # forgets super().__init__()
        pass


def test_a_parameter_whose_numel_raises_is_counted_from_its_shape() -> None:
    model = nn.Linear(2, 2)
    model.weight = NumelRaises(torch.zeros(2, 2))
    assert paramcount.count(model).parameters.total == 6


def test_a_wrapper_claiming_10_to_the_12_elements_is_flagged_and_its_bytes_are_real() -> None:
    model = nn.Module()
    model.register_buffer("big", Claims(torch.zeros(4), (10**6, 10**6)))
    report = paramcount.count(model)
    assert report.buffers.total == 10**12  # the claim, flagged
    assert any("wrapper subclasses whose size is their own claim" in w for w in report.warnings)
    (row,) = report.by_dtype
    assert row.buffer_bytes == 16  # 4 float32 inside it, not 4 TB


def test_getattr_that_raises_does_not_matter() -> None:
    assert paramcount.count(GetattrRaises()).parameters.total == 9


def test_a_module_cycle_terminates() -> None:
    outer = nn.Sequential(nn.Linear(2, 2))
    outer.add_module("again", outer)
    report = paramcount.count(outer)
    assert report.parameters.total == 6
    assert [r.shared_with for r in report.modules if r.path == "again"] == [""]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (NeverInitialized(), r"never initialized; its __init__ must call super\(\).__init__\(\)"),
        (None, "raised RuntimeError: shape is broken"),
    ],
    ids=["never-initialized", "shape-raises"],
)
def test_broken_models_are_one_clear_error(model: nn.Module | None, message: str) -> None:
    if model is None:
        model = nn.Module()
        model.register_buffer("x", torch.zeros(3).as_subclass(ShapeRaises))
    with pytest.raises(TargetError, match=message):
        paramcount.count(model)


def test_cli_on_a_broken_spec_prints_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paramcount", "count", "tests.test_misbehaving_models:NeverInitialized()"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "never initialized" in result.stderr
