"""How a report reads: collapsed repeated blocks, per-row trainability and share, terminal width, colours, the
verification block, the notebook view, the JSON Schema, --tensors and --output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import paramcount
from paramcount.render import render
from tests.tiny import tiny_model

torch = pytest.importorskip("torch")
nn = torch.nn
SCHEMA = json.loads((Path(paramcount.__file__).parent / "schema" / "report.schema.json").read_text())


def blocks(count: int = 6) -> Any:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Embedding(10, 8), nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8)) for _ in range(count))
    )


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramcount", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


# --- repeated blocks -----------------------------------------------------------------------------------------------


def test_repeated_blocks_collapse_to_one_row_and_expand_shows_each() -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    report = paramcount.count(model, depth=3)
    layers = model.config.num_hidden_layers
    each = sum(p.numel() for n, p in model.named_parameters() if ".layers.0." in n)
    text = render(report)
    assert f"0\u2013{layers - 1}" in text
    assert f"{layers} \u00d7 LlamaDecoderLayer, {each:,} each" in text
    assert re.search(rf"{layers} × LlamaDecoderLayer, {each:,} each\s+{layers * each:,}", text)
    expanded = render(report, expand=True)
    assert "LlamaDecoderLayer, " not in expanded
    assert expanded.count("LlamaDecoderLayer") == layers


def test_a_frozen_block_or_a_tie_breaks_a_run() -> None:
    model = blocks(6)
    rows = {r.paths: r for r in paramcount.count(model).runs().values()}
    assert list(rows) == [tuple(f"1.{i}" for i in range(6))]
    model[1][2][0].weight.requires_grad_(False)
    runs = {r.paths for r in paramcount.count(model).runs().values()}
    assert runs == {("1.0", "1.1"), ("1.3", "1.4", "1.5")}
    model = blocks(6)
    model[1][4][1].weight = model[1][3][1].weight  # a tie between blocks 3 and 4
    runs = {r.paths for r in paramcount.count(model).runs().values()}
    assert runs == {("1.0", "1.1", "1.2")} or all("1.3" not in p and "1.4" not in p for p in runs)


def test_a_buffer_where_its_neighbours_hold_a_parameter_breaks_a_run() -> None:
    def holder(*, buffer: bool) -> Any:
        module = nn.Module()
        if buffer:  # the same shape and dtype as the others' parameter: only its kind differs
            module.register_buffer("w", torch.zeros(4))
        else:
            module.w = nn.Parameter(torch.zeros(4))
        return module

    model = nn.Sequential(holder(buffer=False), holder(buffer=True), holder(buffer=False), holder(buffer=False))
    runs = paramcount.count(model).runs()
    assert {run.paths for run in runs.values()} == {("2", "3")}


def test_runs_are_found_in_files_too(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    model.save_pretrained(tmp_path)
    report = paramcount.count(tmp_path)
    runs = {r.paths for r in report.runs().values()}
    assert ("model.layers.0", "model.layers.1") in runs


# --- module rows: trainable, frozen, share, reconciled --------------------------------------------------------------


def test_rows_split_trainable_and_frozen_and_reconcile_with_torch() -> None:
    peft = pytest.importorskip("peft")
    model = peft.get_peft_model(
        tiny_model("LlamaForCausalLM", "llama"), peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    )
    report = paramcount.count(model)
    assert any("PeftModel \u2192 LoraModel \u2192 LlamaForCausalLM" in n for n in report.notes)
    inner = model.base_model.model
    for row in report.modules:
        prefix = f"{row.path}." if row.path else ""
        tensors = [p for n, p in inner.named_parameters() if n.startswith(prefix)]
        assert row.trainable == sum(p.numel() for p in tensors if p.requires_grad), row.path
        assert row.frozen == sum(p.numel() for p in tensors if not p.requires_grad), row.path
    assert sum(row.own_parameters for row in report.modules) == report.parameters.total
    rows = {row["path"]: row for row in report.to_dict()["modules"]}
    assert rows["model.embed_tokens"]["trainable"] == 0
    assert rows[""]["share"] == 1.0
    text = render(report, expand=True)
    assert re.search(r"embed_tokens\s+Embedding\s+[\d,]+\s+[\d.]+%\s+frozen", text)
    assert re.search(r"q_proj\s+Linear\s+[\d,]+\s+[\d.]+%\s+partial \d+%", render(paramcount.count(model), expand=True))


def test_wrappers_are_looked_through_and_inactive_adapters_named() -> None:
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    model = nn.Sequential(checkpoint_wrapper(nn.Linear(3, 3)), nn.Linear(3, 1))
    assert [row.path for row in paramcount.count(model).modules] == ["", "0", "1"]
    peft = pytest.importorskip("peft")
    wrapped = peft.get_peft_model(
        tiny_model("LlamaForCausalLM", "llama"), peft.LoraConfig(r=4, target_modules=["q_proj"])
    )
    wrapped.add_adapter("spare", peft.LoraConfig(r=2, target_modules=["v_proj"]))
    report = paramcount.count(wrapped)
    spare = sum(p.numel() for name, p in wrapped.named_parameters() if ".spare." in name)
    assert any(f"adapter 'spare' is loaded but not active (active: default): its {spare:,} parameters" in n
               for n in report.notes)  # fmt: skip
    assert report.modules[1].path == "model"  # no base_model.model. prefix


def test_files_have_no_trainability() -> None:
    import tempfile

    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as folder:
        save_file(nn.Linear(4, 4).state_dict(), f"{folder}/model.safetensors")
        row = paramcount.count(f"{folder}/model.safetensors").to_dict()["modules"][0]
    assert (row["trainable"], row["frozen"], row["share"]) == (None, None, 1.0)


# --- terminal width and colours ------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 80, 45])
def test_the_table_fits_the_terminal_width(columns: int) -> None:
    target = "transformers:LlamaForCausalLM(transformers:LlamaConfig(num_hidden_layers=3, hidden_size=64, " \
        "intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=1000))"  # fmt: skip
    done = _cli("count", target, "--depth", "all", "--expand", COLUMNS=str(columns))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "\x1b[" not in done.stdout  # piped: no colour
    wide = _cli("count", target, "--depth", "all", "--expand", COLUMNS="300").stdout
    # rows are cut, never wrapped: the same number of module rows, each on one line
    assert sum("Linear" in line for line in lines) == sum("Linear" in line for line in wide.splitlines()) == 3 * 7 + 1


def _figures(text: str) -> set[str]:
    return set(re.findall(r"\d[\d,]*\d|\d", text))


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "rich"])
def test_a_narrow_table_cuts_names_never_numbers(colour: bool) -> None:
    """Issue: ``32 x LlamaDe…83,360 each`` for 202,383,360 at a narrow width; names are cut, figures stay whole."""
    from paramcount.render import table

    if colour:
        pytest.importorskip("rich")
        from paramcount.render import color

    report = paramcount.count(str(Path(__file__).parent / "configs" / "Llama-3.1-8B"), depth=3)
    config = json.loads((Path(__file__).parent / "configs" / "Llama-3.1-8B" / "config.json").read_text())
    h, i, kv = config["hidden_size"], config["intermediate_size"], config["num_key_value_heads"]
    kv_width = kv * h // config["num_attention_heads"]
    each = 2 * h * h + 2 * h * kv_width + 3 * h * i + 2 * h  # q, o; k, v; gate, up, down; two norms
    layers = config["num_hidden_layers"]

    def draw(width: int) -> str:
        text = color.render(report, width=width) if colour else table.render(report, width=width)
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    wide = draw(300)
    assert f"{layers} \u00d7 LlamaDecoderLayer, {each:,} each" in wide
    for width in (80, 60, 50, 40, 30):
        text = draw(width)
        modules = text[text.index("Modules") : text.index("By dtype")]
        run = next(line for line in modules.splitlines() if f"0\u2013{layers - 1}" in line)
        assert re.search(rf"{layers} \u00d7 .*{each:,}\b.*\s{layers * each:,}\s", run), (width, run)
        # no figure of the narrow table is a piece of a figure of the wide one
        assert _figures(modules) <= _figures(wide), (width, _figures(modules) - _figures(wide))
        if width >= 60:  # room enough: every row fits
            assert max(len(line.rstrip()) for line in text.splitlines()) <= width, width


def test_colours_follow_force_color_and_no_color() -> None:
    pytest.importorskip("rich")
    coloured = _cli("count", "torch.nn:Linear(784, 10)", FORCE_COLOR="1")
    assert "\x1b[" in coloured.stdout
    assert "7,850" in re.sub(r"\x1b\[[0-9;]*m", "", coloured.stdout)
    plain = _cli("count", "torch.nn:Linear(784, 10)", NO_COLOR="1")
    assert "\x1b[" not in plain.stdout


# --- one set of figures in every format ----------------------------------------------------------------------------


def _expected_share(part: int, whole: int) -> str:
    """The share a reader is shown, computed here: one decimal, and a part that holds parameters never reads 0.0%."""
    if part and part / whole < 0.001:
        return "<0.1%"
    return f"{100 * part / whole:.1f}%"


def _table_figures(text: str) -> tuple[dict[str, str], dict[str, str], str | None]:
    """(share by role, share by module leaf name, the active-per-token figure) read from the text table."""
    roles = {}
    block = text[text.index("By role") :].split("\n\n", maxsplit=1)[0].splitlines()[3:]
    for line in block:
        cells = re.split(r"\s{2,}", line.strip())
        roles[cells[0]] = cells[-1]
    modules = {}
    block = text[text.index("Modules") :].split("\n\n", maxsplit=1)[0].splitlines()[3:]
    for line in block:
        cells = re.split(r"\s{2,}", line.lstrip("\u2502\u251c\u2514\u2500 "))
        modules[cells[0]] = next(c for c in cells if c.endswith("%"))
    active = re.search(r"^active per token\s+(\S+)", text, re.MULTILINE)
    return roles, modules, None if active is None else active.group(1)


def _markdown_figures(text: str) -> tuple[dict[str, str], dict[str, str], str | None]:
    def table(title: str) -> list[list[str]]:
        block = text[text.index(f"**{title}") :].split("\n\n")[1].splitlines()[2:]
        return [[c.strip() for c in line.strip("|").split(" | ")] for line in block]

    roles = {row[0]: row[3].replace("&lt;", "<") for row in table("By role")}
    modules = {row[0].strip("`").rpartition(".")[2]: row[3].replace("&lt;", "<") for row in table("Modules")}
    active = re.search(r"^\| active per token \| (\S+)", text, re.MULTILINE)
    return roles, modules, None if active is None else active.group(1)


def _html_figures(text: str) -> tuple[dict[str, str], dict[str, str], str | None]:
    import html

    by_role = text[text.index('<table id="by-role">') :].split("</table>", maxsplit=1)[0]
    roles = {
        name: html.unescape(share)
        for name, share in re.findall(
            r"<tr><td>([^<]+)</td>(?:<td class='n'>[^<]*</td>){2}<td class='n'>([^<]*)</td>", by_role
        )
    }
    modules = {
        path.rpartition(".")[2]: html.unescape(share)
        for path, share in re.findall(
            r'data-path="([^"]*)"(?:><summary)?><code>[^<]*</code> <span class="muted">[^<]*</span> '
            r'<span class="n">[^<]*</span> <span class="muted">([^<]*)</span>',
            text,
        )
    }
    active = re.search(r"<tr><td>active per token</td><td class='n'>([^<]+)</td>", text)
    return roles, modules, None if active is None else active.group(1)


def _moe_file(folder: Path) -> str:
    from safetensors.torch import save_file

    save_file(tiny_model("MixtralForCausalLM", "mixtral").state_dict(), folder / "moe.safetensors")
    return str(folder / "moe.safetensors")


@pytest.mark.parametrize(
    ("target", "active"),
    [
        (lambda _: str(Path(__file__).parent / "configs" / "Llama-3.1-8B"), "absent"),
        (lambda _: tiny_model("MixtralForCausalLM", "mixtral"), "known"),
        (_moe_file, "unknown"),
    ],
    ids=["dense-config", "moe-live", "moe-file-without-config"],
)
def test_table_markdown_and_html_show_the_same_figures(target: Any, active: str, tmp_path: Path) -> None:
    """Issue: the HTML page said 0.0% where the table said <0.1%, had no by-role share column, and showed "active
    per token" for a dense model; every format now shows one set of figures."""
    report = paramcount.count(target(tmp_path), depth=3)
    whole = report.parameters.initialized
    expected_roles = {r.role.replace("_", " "): _expected_share(r.parameters, whole) for r in report.roles}
    assert expected_roles
    table = _table_figures(render(report, expand=True))
    markdown = _markdown_figures(render(report, "markdown", expand=True))
    page = _html_figures(render(report, "html"))
    for roles, _, _ in (table, markdown, page):
        assert roles == expected_roles
    # every module both show: the same share (the HTML tree shows every module, the table those to depth 3)
    shared = set(table[1]) & set(page[1])
    assert len(shared) >= 3
    assert {name: table[1][name] for name in shared} == {name: page[1][name] for name in shared}
    assert markdown[1] == table[1]
    c = report.conventions
    assert c is not None
    figure = {"absent": None, "known": f"{c.active_per_token or 0:,}", "unknown": "unknown"}[active]
    assert (c.active_per_token is None) == (active == "unknown")
    assert table[2] == markdown[2] == page[2] == figure
    if active == "absent":  # a dense model: no row of its own in any format, nothing on the page
        assert "active per token" not in render(report, "html")


# --- Python: str, repr, notebook, show -----------------------------------------------------------------------------


def test_str_is_the_table_repr_is_short_and_html_is_a_notebook_view(capsys: pytest.CaptureFixture[str]) -> None:
    report = paramcount.count(blocks(3))
    assert str(report) == render(report)
    assert repr(report).startswith("Report(") and len(repr(report)) < 120
    html = report._repr_html_()
    assert "<details" in html and "<script" not in html
    assert f'data-value="{report.parameters.total}"' in html
    report.show()
    assert capsys.readouterr().out == str(report)


# --- JSON: schema, rows, verification ------------------------------------------------------------------------------


def _documents(tmp_path: Path) -> list[dict[str, Any]]:
    from safetensors.torch import save_file

    model = tiny_model("GPT2LMHeadModel", "gpt2")
    model.save_pretrained(tmp_path / "gpt2")
    save_file({"w": torch.zeros(3, 3)}, tmp_path / "one.safetensors")
    documents = [
        paramcount.count(model).to_dict(),
        paramcount.count(tmp_path / "gpt2").to_dict(),
        paramcount.count(tmp_path / "one.safetensors").to_dict(),
        paramcount.count("tests.zoo:LazyHead()").to_dict(),
        paramcount.verify(blocks(2), {"total": 256, "trainable": "256"}).to_dict(),
    ]
    try:
        paramcount.verify(blocks(2), 1)
    except paramcount.VerificationError as e:
        documents.append(e.report.to_dict())
    return documents


def test_every_document_validates_against_the_schema_file(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    documents = _documents(tmp_path)
    for document in documents:
        jsonschema.validate(document, SCHEMA)
    assert documents[-1]["verification"]["passed"] is False
    assert documents[-2]["verification"]["checks"][1] == {
        "figure": "trainable",
        "expected": "256",
        "expected_value": 256,
        "tolerance": 0,
        "actual": 256,
        "passed": True,
    }
    broken = dict(documents[0], parameters={**documents[0]["parameters"], "total": "many"})  # only the type wrong
    with pytest.raises(jsonschema.ValidationError, match="'many' is not of type 'integer'"):
        jsonschema.validate(broken, SCHEMA)


def test_csv_rows_carry_trainability_share_and_runs() -> None:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(render(paramcount.count(blocks(3)), "csv"))))
    block = next(r for r in rows if r["path"] == "1.1")
    assert (block["trainable"], block["frozen"], block["run_first"], block["run_count"]) == ("88", "0", "1.0", "3")
    assert float(rows[0]["share"]) == 1.0


# --- --tensors and --output ------------------------------------------------------------------------------------------


def test_tensors_lists_every_tensor_and_output_writes_a_file(tmp_path: Path) -> None:
    done = _cli("count", "tests.zoo:FrozenBackbone()", "--tensors")
    assert done.returncode == 0
    section = done.stdout.split("\nTensors\n", 1)[1]
    report = paramcount.count("tests.zoo:FrozenBackbone()")
    for record in report.records:
        assert record.name in section
    assert re.search(r"\n\S*weight\s+\d+\u00d7\d+\s+float32\s+parameter\s+\S+\s+frozen", section)
    page = tmp_path / "report.html"
    done = _cli("count", "tests.zoo:FrozenBackbone()", "--format", "html", "--output", str(page))
    assert (done.returncode, done.stdout) == (0, "")
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "http://" not in text.replace("http://www.w3.org", "")
    assert f'data-value="{report.parameters.total}"' in text
