"""The package's promises: small pinned API, no torch import unless a model needs it, doctests, typing."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import paramcount
from paramcount import _typing

if TYPE_CHECKING:
    from collections.abc import Callable

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
        "paramcount.render._layout",
        "paramcount.roles",
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


@pytest.mark.parametrize("width", [1, 3, 16, 17, 24, 25])
def test_named_tuples_behave_as_collections_namedtuple(width: int) -> None:
    """paramcount._typing.NamedTuple makes its classes without compiling anything (SECURITY.md, and 150 us a class
    at import); collections.namedtuple is the oracle for what they do, past the 24 fields it writes out too."""
    import copy
    import pickle
    from collections import namedtuple

    from paramcount._typing import NamedTuple

    fields = [f"f{i}" for i in range(width)]
    defaults = list(range(100, 100 + min(2, width)))
    make_oracle: Any = namedtuple  # classes made at run time: typed Any
    meta: Any = type(NamedTuple)
    oracle = make_oracle("Row", fields, defaults=defaults)
    row_class = meta("Row", (NamedTuple,), {"__module__": __name__, "__annotations__": dict.fromkeys(fields, "int")}
                                 | dict(zip(fields[width - len(defaults) :], defaults, strict=True)))  # fmt: skip
    values = list(range(width))
    ours: Any = row_class(*values)
    theirs = oracle(*values)
    assert issubclass(row_class, tuple) and tuple(ours) == tuple(theirs) and repr(ours) == repr(theirs)
    assert row_class._fields == oracle._fields and row_class.__match_args__ == oracle.__match_args__
    assert row_class._field_defaults == oracle._field_defaults
    assert tuple(row_class(**dict(zip(fields, values, strict=True)))) == tuple(theirs)
    short = values[: width - len(defaults)]
    assert tuple(row_class(*short)) == tuple(oracle(*short))
    assert ours._asdict() == theirs._asdict() and ours.f0 == theirs.f0 == 0
    assert tuple(ours._replace(f0=-1)) == tuple(theirs._replace(f0=-1))
    assert tuple(row_class._make(values)) == tuple(oracle._make(values))
    calls: list[Callable[[Any], object]] = [
        lambda c: c(*values, 0),
        lambda c: c(*short[:-1]) if short else c(nope=1),
        lambda c: c(nope=1),
    ]
    for bad in calls:
        expected = r"takes (from \d+ to )?\d+ positional arguments but \d+ were given|missing \d+ required|unexpected"
        with pytest.raises(TypeError, match=expected) as ours_error:
            bad(row_class)
        with pytest.raises(TypeError, match=expected) as their_error:
            bad(oracle)
        assert str(ours_error.value).split("(")[-1] == str(their_error.value).split("(")[-1]
    with pytest.raises(ValueError, match="unexpected field names: \\['nope'\\]"):
        ours._replace(nope=1)
    with pytest.raises(TypeError, match=f"Expected {width} arguments, got {width + 1}"):
        row_class._make([*values, 0])
    globals()["Row"] = row_class  # pickle finds classes by module and name
    try:
        assert pickle.loads(pickle.dumps(ours)) == ours and type(pickle.loads(pickle.dumps(ours))) is row_class
    finally:
        del globals()["Row"]
    assert copy.deepcopy(ours) == ours and type(copy.copy(ours)) is row_class


class _Outer:
    class Inner(_typing.NamedTuple):
        x: int


def test_named_tuples_refuse_what_typing_refuses_and_pickle_when_nested() -> None:
    """What typing.NamedTuple does that a class body could trip on (found in review)."""
    import copy
    import pickle

    assert _Outer.Inner.__qualname__ == "_Outer.Inner"
    assert pickle.loads(pickle.dumps(_Outer.Inner(3))) == _Outer.Inner(3)
    inner: Any = _Outer.Inner(1)
    assert inner.__replace__(x=2) == _Outer.Inner(2)  # copy.replace on Python 3.13
    assert copy.copy(_Outer.Inner(1)) == (1,)
    meta: Any = type(_typing.NamedTuple)
    with pytest.raises(AttributeError, match="cannot overwrite NamedTuple attribute _replace"):
        meta("Bad", (_typing.NamedTuple,), {"__module__": __name__, "__annotations__": {"x": "int"}, "_replace": 1})
    with pytest.raises(TypeError, match="can only inherit from NamedTuple"):
        meta("Bad", (_typing.NamedTuple, object), {"__module__": __name__, "__annotations__": {"x": "int"}})
    with pytest.raises(ValueError, match="cannot start with an underscore"):
        meta("Bad", (_typing.NamedTuple,), {"__module__": __name__, "__annotations__": {"_x": "int"}})


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
    quarter of a 70B header count); benchmarks/bench_files.py times it, this pins it. The command line is parsed by
    argparse since issue #20 (about 1 ms with gettext and locale, measured in the closing note); what argparse would
    import only to ask the terminal's width (shutil, and bz2, lzma and fnmatch through it) stays out."""
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\x08" + bytes(7) + b"{}      ")
    unneeded: tuple[str, ...] = ("typing", "shutil", "bz2", "lzma", "fnmatch", "pathlib", "dataclasses")
    unneeded += ("decimal", "contextlib")
    # nor the optional libraries of other targets and outputs (colour, remote reads)
    unneeded += ("rich", "huggingface_hub", "httpx2", "httpx", "fsspec", "textwrap")
    # A bare interpreter (-I -S: no site, no sitecustomize, no .pth files, which may import typing or pathlib on
    # their own) with the package's own folder on its path; only what paramcount imports is held against it.
    code = (
        "import sys, io\n"
        f"sys.path.insert(0, {str(SRC.parent)!r})\n"
        "before = set(sys.modules)\n"
        "from paramcount.cli import main\n"
        "sys.stdout = io.StringIO()\n"
        f"assert main(['count', {str(model)!r}, '--format', 'json']) == 0\n"
        f"assert main(['count', {str(model)!r}]) == 0\n"
        "sys.stdout = sys.__stdout__\n"
        "assert 'paramcount.cli' in sys.modules and sys.modules['paramcount'].__file__.startswith(sys.path[0])\n"
        f"print(' '.join(m for m in {unneeded!r} if m in sys.modules and m not in before))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
