"""Regenerate ``src/paramcount/formats/torch_functions.json`` from the installed torch (``make architectures``).

The table lists the names under which a pickle can hold one of torch's tensor operations: ``module`` and ``name``
as ``find_class`` looks them up (``torch._C._nn`` + ``gelu``, ``torch.nn.functional`` + ``silu``, ``torch`` +
``tanh``), and ``torch._C`` + ``_VariableFunctionsClass.tanh``, the name ``pickle`` writes for ``torch.tanh`` as the
arguments of a ``getattr``. A whole-model ``torch.save`` holds such functions as module attributes (BART's
``activation_fn = torch._C._nn.gelu``); loading imports torch and takes them, and calls nothing. Any other torch
function held by a pickle is judged unsafe (``torch.utils.collect_env.run`` runs commands, ``torch.hub.load``
downloads and runs code, ``torch.from_file`` opens files).

An operation is a builtin of torch's operator bindings (``torch._C._VariableFunctions``, ``_nn``, ``_special``,
``_fft``, ``_linalg``, ``_nested``, ``_sparse``) or a Python function defined in ``torch.nn.functional``,
``torch.functional`` or ``torch.nn.init``, reached under one of the modules below; operators that read, write or
map files or load libraries are left out.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import types
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "src" / "paramcount" / "formats" / "torch_functions.json"
BINDINGS = (
    "torch._C._VariableFunctions",
    "torch._C._nn",
    "torch._C._special",
    "torch._C._fft",
    "torch._C._linalg",
    "torch._C._nested",
    "torch._C._sparse",
)
PYTHON = ("torch.nn.functional", "torch.functional", "torch.nn.init")
MODULES = (*BINDINGS, *PYTHON, "torch", "torch.special", "torch.fft", "torch.linalg", "torch.nested", "torch.sparse")
EXCLUDED = re.compile(r"file|load|save|library|mmap|shared|exec|system|import", re.IGNORECASE)


def operations() -> set[int]:
    """ids of every operation object."""
    found: set[int] = set()
    for name in BINDINGS:
        module = importlib.import_module(name) if name != "torch._C._VariableFunctions" else torch._C._VariableFunctions
        for attribute in dir(module):
            value = getattr(module, attribute, None)
            if isinstance(value, types.BuiltinFunctionType) and not EXCLUDED.search(attribute):
                found.add(id(value))
    variable = torch._C._VariableFunctionsClass
    for attribute, member in vars(variable).items():
        value = member.__func__ if isinstance(member, staticmethod) else member
        if isinstance(value, types.BuiltinFunctionType) and not EXCLUDED.search(attribute):
            found.add(id(value))
    for name in PYTHON:
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if isinstance(value, types.FunctionType) and value.__module__ == name and not EXCLUDED.search(attribute):
                found.add(id(value))
    return found


def document() -> dict[str, object]:
    """The table for the installed torch (what ``torch_functions.json`` holds)."""
    ops = operations()
    table: dict[str, set[str]] = {}
    for name in MODULES:
        module = torch._C._VariableFunctions if name == "torch._C._VariableFunctions" else importlib.import_module(name)
        for attribute in dir(module):
            if attribute.startswith("__") or not attribute.isidentifier():
                continue
            value = getattr(module, attribute, None)
            if id(value) in ops:
                table.setdefault(name, set()).add(attribute)
                owner, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
                if isinstance(owner, str) and isinstance(qualname, str) and owner.startswith("torch"):
                    if qualname.startswith("_VariableFunctionsClass."):
                        table.setdefault("torch._C", set()).add(qualname)
                    elif "." not in qualname:
                        table.setdefault(owner, set()).add(qualname)
    return {
        "torch": torch.__version__,
        "operations": {module: sorted(names) for module, names in sorted(table.items())},
    }


def main() -> int:
    table = document()
    OUT.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    operations = table["operations"]
    assert isinstance(operations, dict)
    names = sum(len(v) for v in operations.values())
    print(f"{OUT}: {names} names in {len(operations)} modules (torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
