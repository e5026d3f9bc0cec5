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
        "check",
        "count",
        "diff",
        "memory",
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
        "paramcount.numbers",
        "paramcount.sources.spec",
        "paramcount._api",
        "paramcount.examples",
        "paramcount.render.table",
        "paramcount.limits",
        "paramcount.formats._pickle",
        "paramcount.formats.torch_functions",
        "paramcount.formats.enums",
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


def test_no_unpickling_or_evaluation_anywhere_in_the_package() -> None:
    """SECURITY.md promises it: no pickle.load(s), torch.load, torch.jit.load, eval, exec or compile is called."""
    import ast
    from pathlib import Path

    import paramcount

    forbidden_attributes = {("pickle", "load"), ("pickle", "loads"), ("torch", "load"), ("jit", "load")}
    found = []
    for path in Path(paramcount.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in {"eval", "exec", "compile", "__import__"}:
                found.append(f"{path.name}:{node.lineno} {func.id}")
            if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Name, ast.Attribute)):
                owner = func.value.id if isinstance(func.value, ast.Name) else func.value.attr
                if (owner, func.attr) in forbidden_attributes or func.attr == "Unpickler":
                    found.append(f"{path.name}:{node.lineno} {owner}.{func.attr}")
    assert found == []


def test_a_count_of_a_file_imports_no_stdlib_module_it_does_not_need(tmp_path: Path) -> None:
    """What makes the CLI on a file fast (issue #9: typing, argparse's gettext/locale/shutil, pathlib, ... cost a
    quarter of a 70B header count); benchmarks/bench_files.py times it, this pins it."""
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\x08" + bytes(7) + b"{}      ")
    unneeded: tuple[str, ...] = ("typing", "argparse", "gettext", "locale", "shutil", "pathlib", "dataclasses")
    unneeded += ("decimal", "contextlib")
    # nor the optional libraries of other targets and outputs (colour, remote reads)
    unneeded += ("rich", "huggingface_hub", "httpx2", "httpx", "fsspec", "textwrap")
    code = (
        "import sys, io\n"
        "from paramcount.cli import main\n"
        "sys.stdout = io.StringIO()\n"
        f"assert main(['count', {str(model)!r}, '--format', 'json']) == 0\n"
        f"assert main(['count', {str(model)!r}]) == 0\n"
        "sys.stdout = sys.__stdout__\n"
        f"print(' '.join(m for m in {unneeded!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == []
