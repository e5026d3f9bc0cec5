"""mkdocs hooks: the pages generated at build time from what the package itself says.

- ``<!-- paramcount:cli -->`` becomes the output of ``paramcount --help`` and of ``paramcount COMMAND --help`` for
  every command, run in a subprocess (the help text is the CLI's stable interface; its internals are not imported).
- ``<!-- paramcount:schema -->`` becomes tables of every field of the JSON document, read from the package's JSON
  Schema (``src/paramcount/schema/report.schema.json``), each with its type and description. A field without a
  ``description`` in the schema takes it from ``docs/schema-fields.txt``; a field described nowhere, or a description
  of a field the schema does not have, is a warning, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.exceptions import PluginError

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "paramcount" / "schema" / "report.schema.json"
FIELDS = Path(__file__).with_name("schema-fields.txt")

# The commands the CLI page documents, in the order the top-level help lists them. The build fails if the top-level
# help names a command missing here, or if a command here has no help.
COMMANDS = ("count", "verify", "check", "diff", "memory")

CLI_MARKER = "<!-- paramcount:cli -->"
SCHEMA_MARKER = "<!-- paramcount:schema -->"

# A child of the "mkdocs" logger, so that --strict counts its warnings.
log = logging.getLogger("mkdocs.plugins.paramcount_docs")

Schema = dict[str, Any]


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace the markers of generated content in a page (mkdocs calls this for every page)."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if SCHEMA_MARKER in markdown:
        markdown = markdown.replace(SCHEMA_MARKER, schema_reference())
    return markdown


# --- the command line ---------------------------------------------------------------------------------------------


def run_help(*args: str) -> str:
    """The help text of ``paramcount ARGS --help``, from the package in this tree, at a fixed width."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "100"  # argparse and paramcount's help wrap to COLUMNS: one width for every build
    env["NO_COLOR"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "paramcount", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        command = " ".join(["paramcount", *args, "--help"])
        raise PluginError(f"'{command}' exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout.rstrip()


def commands_named_in(top_help: str) -> set[str]:
    """The commands a top-level help names, in either spelling: 'paramcount count ...' or '{count,verify,...}'."""
    named = set(re.findall(r"^\s*(?:usage:)?\s*paramcount ([a-z][a-z-]*)\b", top_help, flags=re.MULTILINE))
    for group in re.findall(r"\{([a-z,-]+)\}", top_help):
        named.update(group.split(","))
    return named


def cli_reference() -> str:
    top = run_help()
    unknown = commands_named_in(top) - set(COMMANDS)
    if unknown:
        raise PluginError(
            f"'paramcount --help' names command(s) the CLI page does not document: {', '.join(sorted(unknown))}; "
            "add them to COMMANDS in docs/hooks.py"
        )
    parts = ["## `paramcount --help`", "", "```text", top, "```", ""]
    for command in COMMANDS:
        parts += [f"## `paramcount {command}`", "", "```text", run_help(command), "```", ""]
    return "\n".join(parts)


# --- the JSON document --------------------------------------------------------------------------------------------


def read_descriptions() -> dict[str, tuple[str, str]]:
    """``docs/schema-fields.txt``: ``path: description`` lines, continued by indented lines; ``#`` starts a comment.

    Returns a map from the path with every ``<name>`` segment as ``*`` (as the schema walk spells it) to the path as
    written (for display) and the description.
    """
    described: dict[str, tuple[str, str]] = {}
    key = ""
    for number, line in enumerate(FIELDS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            if not key:
                raise PluginError(f"{FIELDS.name}:{number}: a continuation line before any field")
            shown, text = described[key]
            described[key] = (shown, f"{text} {line.strip()}")
            continue
        shown, sep, text = line.partition(": ")
        if not sep:
            raise PluginError(f"{FIELDS.name}:{number}: expected 'path: description', got {line[:60]!r}")
        key = re.sub(r"<[^>]+>", "*", shown)
        if key in described:
            raise PluginError(f"{FIELDS.name}:{number}: {shown!r} is described twice")
        described[key] = (shown, text.strip())
    return described


def alternatives(node: Schema) -> list[Schema]:
    found: list[Schema] = node.get("oneOf") or node.get("anyOf") or []
    return found


def type_of(node: Schema) -> str:
    """A short English spelling of a schema node's type, with its bounds."""
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " or ".join(f"`{json.dumps(value)}`" for value in node["enum"])
    declared = node.get("type")
    if declared is None:
        shapes = [type_of(alt) for alt in alternatives(node) if "type" in alt or "const" in alt or "enum" in alt]
        return " or ".join(shapes) if shapes else "any"
    names = declared if isinstance(declared, list) else [declared]
    bounds = []
    if "minimum" in node:
        bounds.append(f"≥ {node['minimum']}")
    if "maximum" in node:
        bounds.append(f"≤ {node['maximum']}")
    spelled = []
    for name in names:
        if name == "array":
            items = node.get("items")
            text = f"array of {type_of(items)}" if isinstance(items, dict) else "array"
            spelled.append(f"{text} (at least {node['minItems']})" if "minItems" in node else text)
        elif name == "object" and isinstance(node.get("additionalProperties"), dict):
            spelled.append("object (map)")
        elif name in {"integer", "number"} and bounds:
            spelled.append(f"{name} {' '.join(bounds)}")
        elif name == "string" and "format" in node:
            spelled.append(f"string ({node['format']})")
        else:
            spelled.append(name)
    return " or ".join(spelled)


def object_parts(node: Schema) -> list[Schema]:
    """The object schemas a node stands for: itself, and each alternative of a oneOf/anyOf."""
    return [node, *alternatives(node)]


def walk(node: Schema, path: str, required: bool) -> list[tuple[str, Schema, bool]]:
    """Every field below ``node`` as (path, schema, required within its parent), depth first."""
    rows: list[tuple[str, Schema, bool]] = []
    for part in object_parts(node):
        needed = set(part.get("required", []))
        for name, child in part.get("properties", {}).items():
            child_path = f"{path}.{name}" if path else name
            rows.append((child_path, child, name in needed))
            rows += walk(child, child_path, name in needed)
        extra = part.get("additionalProperties")
        if isinstance(extra, dict):
            rows.append((f"{path}.*", extra, False))
            rows += walk(extra, f"{path}.*", False)
        items = part.get("items")
        if isinstance(items, dict):
            rows += walk(items, f"{path}[]", required)
    return rows


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def schema_reference() -> str:
    schema: Schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    described = read_descriptions()
    used: set[str] = set()

    def describe(path: str, node: Schema) -> tuple[str, str]:
        shown, text = described.get(path, (path, ""))
        if path in described:
            used.add(path)
        if node.get("description"):
            if text:
                log.warning("%s: %r is described in the schema and in %s too", FIELDS.name, shown, FIELDS.name)
            text = str(node["description"])
        if not text:
            log.warning("the JSON document's field %r has no description (add it to docs/%s)", path, FIELDS.name)
        return shown, text

    top_required = set(schema.get("required", []))
    lines = [
        f"Schema: `src/paramcount/schema/report.schema.json` ({schema.get('$schema', 'JSON Schema')}), "
        f"`$id` `{schema.get('$id', '')}`.",
        "",
        "## Top-level fields",
        "",
        "| field | type | present | description |",
        "|---|---|---|---|",
    ]
    sections: list[str] = []
    for name, node in schema["properties"].items():
        shown, text = describe(name, node)
        nested = walk(node, name, True)
        link = f" See [`{name}`](#{name})." if nested else ""
        present = "always" if name in top_required else "when it applies"
        lines.append(f"| `{shown}` | {cell(type_of(node))} | {present} | {cell(text)}{link} |")
        if not nested:
            continue
        sections += [f"## `{name}` {{#{name}}}", "", text, ""]
        sections += ["| field | type | description |", "|---|---|---|"]
        for path, child, required in nested:
            shown, text = describe(path, child)
            optional = "" if required else ", optional"
            sections.append(f"| `{shown}` | {cell(type_of(child))}{optional} | {cell(text)} |")
        sections.append("")
    for key, (shown, _) in described.items():
        if key not in used:
            log.warning("%s describes %r, which the schema does not have", FIELDS.name, shown)
    return "\n".join([*lines, "", *sections])
