"""The README and the documentation site: the README stays short, every relative link resolves, and the README's
examples print what the README shows (every line shown is a line the command prints now, in order)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

import paramcount

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
CONFIGS = Path(__file__).parent / "configs"
MAX_README_BYTES = 15_000

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def markdown_files() -> list[Path]:
    return [README, ROOT / "SECURITY.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """Markdown without its code blocks and code spans, where a '](' is not a link."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension gives a heading (its default slugify)."""
    text = re.sub(r"\{#([^}]+)\}$", "", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found = {slug(h) for h in HEADING.findall(text)}
    found.update(re.findall(r"\{#([^}]+)\}", text))
    return found


def test_readme_is_the_short_front_door() -> None:
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, f"README.md is {size:,} bytes; move detail into docs/"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^readme = "README.md"$', pyproject, re.MULTILINE)  # the package's long description


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, or an anchor of this page (mkdocs --strict checks those of the site)
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve()
        # the README's anchors into docs/ are checked here; mkdocs --strict checks those between site pages
        wrong_anchor = bool(anchor) and page == README and resolved.suffix == ".md"
        if not resolved.exists() or (wrong_anchor and anchor not in anchors(resolved)):
            broken.append(target)
    assert not broken, f"{page.name}: links that do not resolve: {broken}"


def examples() -> list[list[tuple[str, list[str]]]]:
    """The README's examples: console blocks whose every command runs paramcount or python, as (command, shown
    output lines) in order."""
    found = []
    for block in FENCE.findall(README.read_text(encoding="utf-8")):
        lines = block.splitlines()[1:-1]
        if not lines or not lines[0].startswith("$ ") or not block.startswith("```console"):
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line.rstrip())
        if all(command.split()[0] in {"paramcount", "python"} for command, _ in steps):
            found.append(steps)
    return found


def test_the_readme_has_five_examples() -> None:
    assert len(examples()) >= 5


def shown_in_order(shown: list[str], printed: list[str]) -> list[str]:
    """The shown lines that are not found, in order, among the printed ones ('...' stands for any lines)."""
    missing = []
    position = 0
    for line in shown:
        if line == "...":
            continue
        try:
            position = printed.index(line, position) + 1
        except ValueError:
            missing.append(line)
    return missing


@pytest.mark.parametrize("steps", examples(), ids=lambda steps: steps[-1][0][:60])
def test_readme_example_prints_what_the_readme_shows(steps: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    shutil.copytree(CONFIGS / "Llama-3.1-8B", tmp_path / "Llama-3.1-8B")  # the memory example's config.json
    src = str(Path(paramcount.__file__).parents[1])  # the paramcount under test, also in the child processes
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
        "COLUMNS": "100",
        "NO_COLOR": "1",
        "HF_HUB_OFFLINE": "1",
    }
    for command, shown in steps:
        program, *args = shlex.split(command, comments=True)
        argv = [sys.executable, "-m", "paramcount", *args] if program == "paramcount" else [sys.executable, *args]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
        printed = [line.rstrip() for line in (done.stdout + done.stderr).splitlines()]
        fails = any(line.startswith("paramcount: error:") for line in shown)
        assert (done.returncode != 0) == fails, f"{command}: exit {done.returncode}\n{done.stderr}"
        missing = shown_in_order(shown, printed)
        assert not missing, f"{command}: shown in the README but not printed (in order): {missing}\n" + "\n".join(
            printed
        )
