"""GGUF files that break llama.cpp's rules (reference/formats.md 9, #43-#52), crafted with struct."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.corpus import Case
from tests.test_gguf import CASES

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _file(make: Callable[[], bytes]) -> Callable[[Path], str]:
    def build(folder: Path) -> str:
        (folder / "model.gguf").write_bytes(make())
        return str(folder / "model.gguf")

    return build


def cases() -> list[Case]:
    made: list[tuple[str, Any, str]] = CASES
    return [Case(f"gguf-{name}", "gguf", _file(make), 3, rule=rule) for name, make, rule in made]
