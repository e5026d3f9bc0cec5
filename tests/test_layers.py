"""The import graph shows the layers (DESIGN.md, "Layout"): no module imports one on a higher floor, and no circle.

Every import counts, those inside functions included (a lazy import still ties two modules together); imports under
``if TYPE_CHECKING:`` do not, as they never run. The floors, lowest first, are listed once below: a new module gets a
floor here or the test fails naming it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[1] / "src"

#: modules (or packages: every module under them) by floor, lowest first
FLOORS: tuple[tuple[str, ...], ...] = (
    # leaves: no paramcount import but each other
    ("paramcount._typing", "paramcount._version", "paramcount._gc", "paramcount.errors", "paramcount.numbers"),
    # facts: records, dtypes, limits, rules by name, bytes on disk, the memory engine's result types
    (
        "paramcount.dtypes",
        "paramcount.limits",
        "paramcount.records",
        "paramcount.roles",
        "paramcount.quant",
        "paramcount.classify",
        "paramcount.blob",
        "paramcount.footprint.results",
        "paramcount.examples",
    ),
    ("paramcount.remote",),  # bytes from elsewhere
    ("paramcount.formats",),  # bytes -> records
    ("paramcount.sources",),  # any target -> an inventory
    ("paramcount.tally", "paramcount.report"),  # records -> a report
    ("paramcount.expectation", "paramcount.compare", "paramcount.footprint"),  # a report judged or costed
    ("paramcount.render",),  # a report as text
    ("paramcount._api", "paramcount"),  # the library's functions
    ("paramcount.cli", "paramcount.__main__"),  # the command line
)

#: imports that run up a floor on purpose, each with its reason
EXCEPTIONS = {
    # Report's conveniences (str(report), report.to_dict(), a notebook's display) hand the report to a renderer when
    # called: the report stays data, and the renderers are imported only then.
    ("paramcount.report", "paramcount.render"),
    ("paramcount.report", "paramcount.render.html"),
    ("paramcount.report", "paramcount.render.document"),
    ("paramcount.report", "paramcount.render._text"),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted((SOURCE / "paramcount").rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _imports(name: str, path: Path, package: bool, modules: dict[str, tuple[Path, bool]]) -> set[str]:
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if package else name.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join([*here, base] if base else here)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            module = target
            while module not in modules and "." in module:
                module = module.rsplit(".", 1)[0]
            if module in modules and module != name:
                found.add(module)
    return found


def _floor(name: str) -> int:
    best, length = None, -1
    for floor, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > length:
                best, length = floor, len(prefix)
    assert best is not None, f"{name} has no floor: add it to FLOORS in tests/test_layers.py"
    return best


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, package, modules) for name, (path, package) in modules.items()}


def test_no_module_imports_from_a_higher_floor() -> None:
    upward = sorted(
        f"{a} (floor {_floor(a)}) imports {b} (floor {_floor(b)})"
        for a, targets in _graph().items()
        for b in targets
        if _floor(b) > _floor(a) and (a, b) not in EXCEPTIONS
    )
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_circle() -> None:
    graph = {a: {b for b in targets if (a, b) not in EXCEPTIONS} for a, targets in _graph().items()}
    # a module's package __init__ is imported before the module itself: that edge is not a circle
    circles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(circles)


def test_the_exceptions_are_still_needed() -> None:
    graph = _graph()
    unused = sorted(f"{a} -> {b}" for a, b in EXCEPTIONS if b not in graph.get(a, set()))
    assert not unused, f"no longer imported; drop from EXCEPTIONS: {unused}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("paramcount.footprint", "paramcount.sources"),  # the memory engine reads a configuration handed to it
        ("paramcount.remote", "paramcount.sources"),  # below the sources
        ("paramcount.report", "paramcount.footprint.plan"),  # data only: the result types come from a leaf
        ("paramcount.render", "paramcount.footprint.engine"),  # a document needs the result types, not the engine
    ],
)
def test_named_boundaries(module: str, forbidden: str) -> None:
    crossing = sorted(
        f"{a} -> {b}"
        for a, targets in _graph().items()
        if a == module or a.startswith(module + ".")
        for b in targets
        if b == forbidden or b.startswith(forbidden + ".")
    )
    assert not crossing, crossing
