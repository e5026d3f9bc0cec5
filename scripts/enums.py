"""Regenerate ``src/paramcount/formats/enums.json`` from the installed transformers (``make architectures``).

A whole-model ``torch.save`` pickles an ``Enum`` member as a call of its class with the member's value
(``REDUCE(transformers.backbone_utils.BackboneType, ("transformers",))``: ``Enum.__reduce_ex__``). Loading it
calls ``EnumType.__call__``, which looks the value up among the members and returns that member: no code of the
package runs beyond importing it, unless the value is not a member (then the class's ``_missing_`` runs). The table
lists every ``Enum`` class of transformers with the values of its members, so that the evaluator can tell such a
lookup (untrusted, as instantiating a class is) from a call of any other class with a value the file chooses
(unsafe).

The classes are found by reading transformers' sources (classes whose bases lead to ``Enum``), then imported and
checked with ``issubclass(cls, enum.Enum)``; a class that does not import, or whose member values are not plain
strings, numbers, booleans or ``None``, is left out (a file calling it is judged unsafe).
"""

from __future__ import annotations

import ast
import enum
import importlib
import json
import os
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "paramcount" / "formats" / "enums.json"
ROOTS = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"})
PLAIN = (str, int, float, bool, type(None))


def candidates(package: str) -> list[tuple[str, str]]:
    """``(module, class)`` of every top-level class in ``package`` whose bases lead, by name, to an Enum."""
    root = os.path.dirname(importlib.import_module(package).__file__ or "")
    bases: dict[tuple[str, str], list[str]] = {}
    for folder, _, files in os.walk(root):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            module = package + "." + os.path.relpath(path, root)[:-3].replace(os.sep, ".")
            module = module.removesuffix(".__init__")
            try:
                tree = ast.parse(Path(path).read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    bases[(module, node.name)] = [
                        b.id if isinstance(b, ast.Name) else b.attr
                        for b in node.bases
                        if isinstance(b, (ast.Name, ast.Attribute))
                    ]
    known, found = set(ROOTS), set[tuple[str, str]]()
    grown = True
    while grown:
        grown = False
        for key, names in bases.items():
            if key not in found and any(n in known for n in names):
                found.add(key)
                known.add(key[1])
                grown = True
    return sorted(found)


def document(package: str = "transformers") -> dict[str, object]:
    """The table for the installed ``package``: ``{"module.Class": [member values]}``."""
    version = importlib.import_module(package).__version__
    table: dict[str, list[object]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module, name in candidates(package):
            try:
                cls = getattr(importlib.import_module(module), name)
            except Exception:  # an optional dependency is missing: left out, judged unsafe
                continue
            if not (isinstance(cls, type) and issubclass(cls, enum.Enum)) or cls.__module__ != module:
                continue
            values = [member.value for member in cls.__members__.values()]
            if values and all(type(v) in PLAIN for v in values):
                table[f"{module}.{name}"] = sorted({json.dumps(v): v for v in values}.values(), key=json.dumps)
    return {package: version, "enums": dict(sorted(table.items()))}


def main() -> int:
    table = document()
    OUT.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    enums = table["enums"]
    assert isinstance(enums, dict)
    print(f"{OUT}: {len(enums)} Enum classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
