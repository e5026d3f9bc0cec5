"""The package's promises: small pinned API, no torch import unless a model needs it, doctests, typing."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import paramcount

SRC = Path(paramcount.__file__).parent


def test_public_api_is_pinned() -> None:
    assert paramcount.__all__ == [
        "FormatError",
        "ParamcountError",
        "Report",
        "TargetError",
        "UnsafeTargetError",
        "UsageError",
        "VerificationError",
        "__version__",
        "count",
        "verify",
    ]
    assert dir(paramcount) == paramcount.__all__


def test_error_tree_and_exit_codes() -> None:
    errors = {
        paramcount.UsageError: (2, ValueError),
        paramcount.TargetError: (3, ValueError),
        paramcount.FormatError: (3, ValueError),
        paramcount.UnsafeTargetError: (4, ValueError),
        paramcount.VerificationError: (1, AssertionError),
    }
    for cls, (code, builtin) in errors.items():
        assert issubclass(cls, paramcount.ParamcountError) and issubclass(cls, builtin)
        assert cls.exit_code == code


def test_ships_type_information() -> None:
    assert (SRC / "py.typed").exists()


@pytest.mark.parametrize(
    "code",
    [
        "import paramcount",
        "import paramcount.cli, paramcount.render, paramcount.expectation, paramcount.tally, paramcount.examples",
        "from paramcount.cli import main; main(['--version'])",
        "from paramcount.cli import main; main(['count', 'model.safetensors'])",
        "from paramcount.cli import main; main(['verify', 'x:y', '--expect', 'lots'])",
    ],
    ids=["import", "submodules", "version", "not-a-spec", "usage-error"],
)
def test_torch_is_not_imported_unless_a_model_needs_it(code: str) -> None:
    check = (
        f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "paramcount",
        "paramcount.errors",
        "paramcount.records",
        "paramcount.tally",
        "paramcount.expectation",
        "paramcount.render.numbers",
        "paramcount.sources.spec",
        "paramcount._api",
        "paramcount.examples",
    ],
)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no doctest"
    assert result.failed == 0


def test_submodule_imports_do_not_shadow_the_api() -> None:
    for name in ("paramcount.expectation", "paramcount.sources.files", "paramcount.render.json"):
        importlib.import_module(name)
    assert paramcount.verify.__module__ == "paramcount._api"
    assert paramcount.count.__module__ == "paramcount._api"
