"""The architecture's own load rules: every spelling transformers loads counts as the live model, stale tensors the
loader ignores are explained without a build, and what is missing is named as transformers names it.

Oracles: the live model (torch's ``parameters()``) and ``from_pretrained(..., output_loading_info=True)`` on the
same folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import torch
import transformers
from safetensors.torch import save_file

import paramcount
from paramcount.sources import loader
from tests.tiny import tiny_model

if TYPE_CHECKING:
    from pathlib import Path

transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def live_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def runtime_folder(model: Any, folder: Path, *, torch_save: bool = False, drop: tuple[str, ...] = ()) -> Path:
    """config.json and the model's state dict under its run-time names, as a Trainer or accelerate saves it."""
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(folder)
    state = {k: v for k, v in model.state_dict().items() if k not in drop}
    if torch_save:
        torch.save(state, folder / "pytorch_model.bin")
    else:
        save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, folder / "model.safetensors")
    return folder


def loading_info(cls: Any, folder: Path) -> dict[str, list[str]]:
    _, info = cls.from_pretrained(folder, output_loading_info=True)
    return {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys")}


# Mixture-of-experts families whose experts transformers 5 fuses at run time, and renames of other kinds.
RUNTIME = [
    ("MixtralForCausalLM", "mixtral"),
    ("Qwen3MoeForCausalLM", "qwen3_moe"),
    ("Qwen2MoeForCausalLM", "qwen2_moe"),
    ("MiniMaxForCausalLM", "minimax"),
    ("GraniteMoeForCausalLM", "granitemoe"),
    ("PhimoeForCausalLM", "phimoe"),
    ("Ernie4_5_MoeForCausalLM", "ernie4_5_moe"),
    ("DeepseekV3ForCausalLM", "deepseek_v3"),
    ("GPTNeoXForCausalLM", "gpt_neox"),
    ("LlavaForConditionalGeneration", "llava"),
]


@pytest.mark.parametrize(("name", "model_type"), RUNTIME)
@pytest.mark.parametrize("torch_save", [False, True], ids=["safetensors-copies", "torch-save"])
def test_a_folder_in_the_runtime_spelling_counts_as_the_live_model(
    tmp_path: Path, name: str, model_type: str, torch_save: bool
) -> None:
    model = tiny_model(name, model_type)
    folder = runtime_folder(model, tmp_path / "runtime", torch_save=torch_save)
    info = loading_info(type(model), folder)
    assert info == {"missing_keys": [], "unexpected_keys": []}  # transformers loads it whole
    report = paramcount.count(folder)
    assert report.parameters.total == live_parameters(model)
    assert report.architecture is not None and report.architecture.source == "table"
    assert report.architecture.unexpected == () and report.architecture.missing == ()
    assert report.warnings == ()


def test_mixtral_runtime_names_are_converted_not_dropped(tmp_path: Path) -> None:
    model = tiny_model("MixtralForCausalLM", "mixtral")
    report = paramcount.count(runtime_folder(model, tmp_path / "m"))
    assert report.architecture is not None and report.architecture.converted == 0  # run-time names need no rename
    assert any(r.name.endswith("experts.gate_up_proj") and r.kind == "parameter" for r in report.records)
    saved = tmp_path / "pretrained"
    model.save_pretrained(saved)
    report = paramcount.count(saved)
    assert report.architecture is not None and report.architecture.converted > 0  # w1/w3 fused at load
    assert report.parameters.total == live_parameters(model)


def test_a_parameter_the_model_skips_on_save_is_counted_when_stored(tmp_path: Path) -> None:
    """Marian's sinusoidal positions are parameters of the live model, left out by save_pretrained."""
    model = tiny_model("MarianMTModel", "marian")
    report = paramcount.count(runtime_folder(model, tmp_path / "m"))
    assert report.parameters.total == live_parameters(model)
    assert report.architecture is not None and report.architecture.source == "table"
    assert report.architecture.unexpected == ()


def test_gpt2_stale_masks_are_ignored_by_rule_or_reported_as_transformers_reports_them(tmp_path: Path) -> None:
    model = tiny_model("GPT2LMHeadModel", "gpt2")
    layers = model.config.n_layer
    folder = runtime_folder(model, tmp_path / "g")
    # the layout of the real gpt2 checkpoint: a causal mask and a masked_bias scalar per layer
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    for i in range(layers):
        state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(1, 1, 8, 8))
        state[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(state, folder / "model.safetensors")
    info = loading_info(transformers.GPT2LMHeadModel, folder)
    report = paramcount.count(folder)
    assert report.parameters.total == live_parameters(model)
    assert report.architecture is not None and report.architecture.source == "table"  # no meta build
    assert sorted(report.architecture.ignored) == [f"transformer.h.{i}.attn.bias" for i in range(layers)]
    assert sorted(report.architecture.unexpected) == info["unexpected_keys"]
    assert info["unexpected_keys"] == [f"transformer.h.{i}.attn.masked_bias" for i in range(layers)]
    assert any("ignored by GPT2LMHeadModel at load" in n for n in report.notes)
    assert not any("attn.bias" in w and "masked" not in w for w in report.warnings)


def test_old_rotary_buffers_are_a_note_not_a_warning_and_need_no_build(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    folder = runtime_folder(model, tmp_path / "l")
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    for i in range(model.config.num_hidden_layers):
        state[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.ones(8)
    save_file(state, folder / "model.safetensors")
    assert loading_info(transformers.LlamaForCausalLM, folder) == {"missing_keys": [], "unexpected_keys": []}
    code = (
        "import sys, paramcount; r = paramcount.count(sys.argv[1]); "
        "print(r.parameters.total, r.architecture.source, len(r.architecture.ignored), len(r.warnings), "
        "'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(live_parameters(model)), "table", "2", "0", "False", "False"]


def test_a_missing_layer_is_named_tensor_by_tensor_as_transformers_names_it(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    drop = tuple(k for k in model.state_dict() if k.startswith("model.layers.1."))
    folder = runtime_folder(model, tmp_path / "l", drop=drop)
    info = loading_info(transformers.LlamaForCausalLM, folder)
    assert info["missing_keys"] == sorted(drop)
    report = paramcount.count(folder)
    assert report.architecture is not None
    assert sorted(report.architecture.missing) == info["missing_keys"]
    assert any("initialize them): 'model.layers.1.input_layernorm.weight', " in w for w in report.warnings)


def test_a_config_with_more_layers_than_the_weights_says_so(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    folder = runtime_folder(model, tmp_path / "l")
    document = json.loads((folder / "config.json").read_text())
    document["num_hidden_layers"] = 4
    (folder / "config.json").write_text(json.dumps(document))
    info = loading_info(transformers.LlamaForCausalLM, folder)
    report = paramcount.count(folder, architecture="table")
    assert report.architecture is not None
    assert sorted(report.architecture.missing) == info["missing_keys"]
    assert len(info["missing_keys"]) == 2 * len([k for k in model.state_dict() if k.startswith("model.layers.0.")])
    assert any("num_hidden_layers is 4, but the weights hold 2 of model.layers" in w for w in report.warnings)


def test_the_renaming_order_is_transformers_natural_order() -> None:
    names = ["layers.10.w", "layers.2.w", "a.shard_11", "a.shard_2", "b"]
    from transformers.core_model_loading import dot_natural_key

    assert sorted(names, key=loader.natural_key) == sorted(names, key=dot_natural_key)


@pytest.mark.parametrize(
    ("name", "model_type"),
    [("MixtralForCausalLM", "mixtral"), ("LlavaForConditionalGeneration", "llava"), ("BertForMaskedLM", "bert")],
)
def test_replayed_renames_equal_transformers_renames(name: str, model_type: str) -> None:
    """Every key of a save_pretrained checkpoint, and legacy spellings, renamed as transformers renames them."""
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import (
        WeightConverter,
        WeightRenaming,
        rename_source_key,
        revert_weight_conversion,
    )

    from paramcount.sources import architecture, hf

    model = tiny_model(name, model_type)
    described = hf.describe(model)
    rules = loader.rules_of(described, architecture._legacy())
    state = model.state_dict()
    transforms = get_model_conversion_mapping(model)
    renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    stored = list(revert_weight_conversion(model, dict(state)))
    stored += [k.replace("LayerNorm.weight", "LayerNorm.gamma") for k in stored if "LayerNorm.weight" in k]
    stored += ["not.a.key", "model." + stored[0]]
    loaded = loader.load(stored, rules, lambda key: key in state)
    for key in stored:
        expected, _ = rename_source_key(key, renamings, converters, model.base_model_prefix, state)
        got = loaded.keys[key] or loaded.unexpected[key]
        assert got[0] == expected, key


# --- paramcount check = from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True) -------------


def transformers_load(cls: Any, folder: Path) -> dict[str, Any]:
    loaded: Any = cls.from_pretrained(folder, output_loading_info=True, ignore_mismatched_sizes=True)
    info = loaded[1]
    return {
        "missing": sorted(info["missing_keys"]),
        "unexpected": sorted(info["unexpected_keys"]),
        "mismatched": sorted((n, tuple(a), tuple(b)) for n, a, b in info["mismatched_keys"]),
    }


def paramcount_load(folder: Path, model: Path | None = None) -> dict[str, Any]:
    load = paramcount.check(folder, model=model).load
    assert load is not None and load.loader == "transformers" and load.shapes_checked
    return {
        "missing": sorted(load.missing_keys),
        "unexpected": sorted(load.unexpected_keys),
        "mismatched": sorted((m.name, m.stored, m.expected) for m in load.mismatched_keys),
    }


def perturb(model: Any, folder: Path, how: str) -> tuple[Path, Any]:
    """A folder transformers loads with problems, and the class to load it into."""
    cls = type(model)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    names = sorted(state, key=loader.natural_key)
    document = model.config.to_dict()
    document["architectures"] = [cls.__name__]
    if how == "dropped":
        state.pop(next(n for n in names if ".layers.0." in n or ".h.0." in n or ".layer.0." in n))
    elif how == "extra":
        state["model.extra_adapter.weight"] = torch.zeros(4, 4)
    elif how == "vocabulary":
        text = document.get("text_config") or document
        text["vocab_size"] = int(text["vocab_size"]) + 8
    elif how == "deeper":
        text = document.get("text_config") or document
        key = next(k for k in ("num_hidden_layers", "n_layer", "num_layers") if k in text)
        text[key] = int(text[key]) + 1
    elif how == "stale":
        for n in names:
            if n.endswith("self_attn.q_proj.weight"):
                state[n.replace("q_proj.weight", "rotary_emb.inv_freq")] = torch.ones(4)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(document, default=str))
    save_file(state, folder / "model.safetensors")
    return folder, cls


CHECKED = [
    ("LlamaForCausalLM", "llama"),
    ("MixtralForCausalLM", "mixtral"),
    ("Qwen3MoeForCausalLM", "qwen3_moe"),
    ("GPT2LMHeadModel", "gpt2"),
    ("BertForMaskedLM", "bert"),
]


@pytest.mark.parametrize("how", ["none", "dropped", "extra", "vocabulary", "deeper", "stale"])
@pytest.mark.parametrize(("name", "model_type"), CHECKED)
def test_check_reports_what_from_pretrained_reports(tmp_path: Path, name: str, model_type: str, how: str) -> None:
    model = tiny_model(name, model_type)
    folder, cls = perturb(model, tmp_path / "w", how)
    try:
        expected = transformers_load(cls, folder)
    except NotImplementedError as e:  # transformers 5.25 compares a mismatched tied head on the meta device
        pytest.skip(f"transformers itself cannot load this folder: {str(e)[:80]}")
    assert paramcount_load(folder) == expected


def test_check_of_base_weights_against_a_head_class(tmp_path: Path) -> None:
    base = tiny_model("LlamaModel", "llama")
    folder = runtime_folder(base, tmp_path / "base")
    head = tmp_path / "head"
    head.mkdir()
    document = base.config.to_dict() | {"architectures": ["LlamaForCausalLM"]}
    (head / "config.json").write_text(json.dumps(document, default=str))
    expected = transformers_load(transformers.LlamaForCausalLM, _with_config(folder, head, tmp_path / "both"))
    assert paramcount_load(folder, head) == expected
    assert expected["missing"] == ["lm_head.weight"]


def _with_config(weights: Path, config: Path, folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_bytes((config / "config.json").read_bytes())
    (folder / "model.safetensors").write_bytes((weights / "model.safetensors").read_bytes())
    return folder


def test_check_against_a_live_module_is_load_state_dicts_report(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state.pop("2.bias")
    state["0.weight"] = torch.zeros(8, 5)
    state["3.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "w.safetensors")
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    load = paramcount.check(tmp_path / "w.safetensors", model=other).load
    assert load is not None and load.loader == "torch"
    without_mismatch = {k: v for k, v in state.items() if k != "0.weight"}
    result = other.load_state_dict(without_mismatch, strict=False)
    assert list(load.missing_keys) == [k for k in result.missing_keys if k != "0.weight"]
    assert list(load.unexpected_keys) == list(result.unexpected_keys)
    assert [(m.name, m.stored, m.expected) for m in load.mismatched_keys] == [("0.weight", (8, 5), (8, 4))]
    assert not load.loads


# --- the check command -----------------------------------------------------------------------------------------


def run_cli(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "paramcount", *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_check_exits_0_when_the_weights_load_and_1_with_every_problem_listed(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    good = runtime_folder(model, tmp_path / "good")
    result = run_cli("check", str(good))
    assert result.returncode == 0, result.stderr
    assert "Load check" in result.stdout and "loads" in result.stdout
    bad, _ = perturb(model, tmp_path / "bad", "deeper")
    result = run_cli("check", str(bad), "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["load"]["loads"] is False
    assert len(document["load"]["missing_keys"]) == 9  # every tensor of the third layer, by name
    assert "does not load into LlamaForCausalLM: 9 missing, 0 unexpected, 0 mismatched" in result.stderr


def test_check_against_another_config_and_a_model_in_code(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    weights = runtime_folder(model, tmp_path / "w")
    other, _ = perturb(model, tmp_path / "other", "vocabulary")
    result = run_cli("check", str(weights / "model.safetensors"), "--model", str(other / "config.json"))
    assert result.returncode == 1
    assert "lm_head.weight: stored 128×64, model 136×64" in result.stdout
    save_file({"weight": torch.zeros(10, 784), "bias": torch.zeros(10)}, tmp_path / "linear.safetensors")
    result = run_cli("check", str(tmp_path / "linear.safetensors"), "--model", "torch.nn:Linear(784, 10)")
    assert result.returncode == 0, result.stderr
    assert "torch" in result.stdout


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("no-config", "names no model to check the weights against"),
        ("model-is-weights", "is not a model"),
        ("weights-are-a-config", "holds no weights to check"),
        ("model-json-not-a-config", "is not a model's configuration"),
    ],
)
def test_check_of_what_is_not_weights_or_not_a_model_is_one_line_exit_3(tmp_path: Path, how: str, says: str) -> None:
    save_file({"weight": torch.zeros(2, 2)}, tmp_path / "w.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "other.json").write_text(json.dumps({"name": "not a config"}))
    args = {
        "no-config": ["check", str(tmp_path / "w.safetensors")],
        "model-is-weights": ["check", str(tmp_path / "w.safetensors"), "--model", str(tmp_path / "w.safetensors")],
        "weights-are-a-config": ["check", str(tmp_path / "config.json"), "--model", str(tmp_path / "config.json")],
        "model-json-not-a-config": ["check", str(tmp_path / "w.safetensors"), "--model", str(tmp_path / "other.json")],
    }[how]
    result = run_cli(*args)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert result.stdout == ""


def test_check_with_architecture_off_is_a_usage_error(tmp_path: Path) -> None:
    save_file({"weight": torch.zeros(2, 2)}, tmp_path / "w.safetensors")
    result = run_cli("check", str(tmp_path / "w.safetensors"), "--architecture", "off")
    assert result.returncode == 2 and "--architecture off" in result.stderr


def test_check_of_a_state_dict_against_a_live_module() -> None:
    model = torch.nn.Linear(3, 2)
    load = paramcount.check({"weight": torch.zeros(2, 3), "extra": torch.zeros(1)}, model=model).load
    assert load is not None
    assert load.missing_keys == ("bias",) and load.unexpected_keys == ("extra",) and not load.loads


# --- paramcount diff: set differences computed from the real state dicts ----------------------------------------


def test_diff_of_a_fine_tune_against_its_base_lists_what_the_state_dicts_differ_by(tmp_path: Path) -> None:
    base = tiny_model("LlamaForCausalLM", "llama")
    tuned = tiny_model("LlamaForCausalLM", "llama")
    tuned.resize_token_embeddings(136)  # a fine-tune that added tokens
    a, b = tmp_path / "base", tmp_path / "tuned"
    base.save_pretrained(a)
    tuned.save_pretrained(b)
    found = paramcount.diff(a, b).diff
    assert found is not None
    sa, sb = base.state_dict(), tuned.state_dict()
    changed = sorted(k for k in sa.keys() & sb.keys() if sa[k].shape != sb[k].shape)
    only_prefixless = {k.removeprefix("model."): v for k, v in sa.items()}
    assert sorted(found.only_in_a) == sorted(set(only_prefixless) - {k.removeprefix("model.") for k in sb})
    assert sorted(c.name for c in found.changed) == sorted(k.removeprefix("model.") for k in changed)
    assert (found.parameters_a, found.parameters_b) == (live_parameters(base), live_parameters(tuned))
    assert not found.same


def test_fused_and_per_expert_spellings_are_the_same_model(tmp_path: Path) -> None:
    model = tiny_model("MixtralForCausalLM", "mixtral")
    fused = runtime_folder(model, tmp_path / "fused", torch_save=True)
    model.save_pretrained(tmp_path / "experts")
    found = paramcount.diff(fused, tmp_path / "experts").diff
    assert found is not None and found.same
    assert (found.only_in_a, found.only_in_b, found.changed) == ((), (), ())
    assert found.parameters_a == found.parameters_b == live_parameters(model)


def test_diff_names_a_dropped_layer_and_collapses_the_modules_it_touches(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    a = runtime_folder(model, tmp_path / "a")
    dropped = tuple(k for k in model.state_dict() if k.startswith("model.layers.1."))
    b = runtime_folder(model, tmp_path / "b", drop=dropped)
    found = paramcount.diff(a, b).diff
    assert found is not None
    assert sorted(found.only_in_a) == sorted(k.removeprefix("model.") for k in dropped)
    rows = {m.module: m for m in found.modules}
    assert rows["layers.1.self_attn.q_proj"].b == 0
    assert sum(m.a - m.b for m in found.modules) == sum(model.state_dict()[k].numel() for k in dropped)


def test_diff_of_live_modules_state_dicts_and_dtype_only_changes(tmp_path: Path) -> None:
    a = torch.nn.Linear(4, 3)
    b = torch.nn.Linear(4, 3).to(torch.bfloat16)
    found = paramcount.diff(a, b).diff
    assert found is not None and found.same and len(found.changed) == 2
    assert not paramcount.diff(a, b, strict_dtype=True).diff.same  # type: ignore[union-attr]
    found = paramcount.diff(a.state_dict(), {"weight": torch.zeros(5, 4)}).diff
    assert found is not None and found.only_in_a == ("bias",) and found.changed[0].b[0] == (5, 4)


def test_diff_cli_exit_codes_and_a_target_compared_with_itself(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    a = runtime_folder(model, tmp_path / "a")
    b = runtime_folder(model, tmp_path / "b")
    result = run_cli("diff", str(a), str(b), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["diff"]["same"] is True
    result = run_cli("diff", str(a), str(a) + "/")
    assert result.returncode == 2 and "both are" in result.stderr and result.stderr.count("\n") == 1
    (tmp_path / "notes.txt").write_text("not a model")
    result = run_cli("diff", str(a), str(tmp_path / "notes.txt"))
    assert result.returncode == 3 and result.stderr.count("\n") == 1
    result = run_cli("diff", str(a))
    assert result.returncode == 2 and "two TARGETs" in result.stderr


def test_check_and_diff_documents_validate_against_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path as Folder

    schema = json.loads((Folder(paramcount.__file__).parent / "schema" / "report.schema.json").read_text())
    model = tiny_model("MixtralForCausalLM", "mixtral")
    a = runtime_folder(model, tmp_path / "a")
    b, _ = perturb(model, tmp_path / "b", "vocabulary")
    checked = paramcount.check(a, model=b).to_dict()
    jsonschema.validate(checked, schema)
    assert checked["load"]["mismatched_keys"][0]["expected"][0] == 136
    model.resize_token_embeddings(136)
    compared = paramcount.diff(a, runtime_folder(model, tmp_path / "resized")).to_dict()
    jsonschema.validate(compared, schema)
    assert compared["diff"]["changed"][0]["b"]["shape"] == [136, 64]


# --- --tensors in every format ------------------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["table", "json", "csv", "markdown", "html"])
def test_tensors_lists_every_tensor_in_every_format(tmp_path: Path, format: str) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    folder = runtime_folder(model, tmp_path / "l")
    result = run_cli("count", str(folder), "--tensors", "--format", format, columns=300)
    assert result.returncode == 0, result.stderr
    names = list(model.state_dict())
    if format == "json":
        listed = json.loads(result.stdout)["tensors"]["list"]
        assert [r["name"] for r in listed] == sorted(names) or sorted(r["name"] for r in listed) == sorted(names)
        q = next(r for r in listed if r["name"] == "model.layers.0.self_attn.q_proj.weight")
        assert (q["shape"], q["dtype"], q["role"], q["bytes"]) == ([64, 64], "float32", "attention", 64 * 64 * 4)
    else:
        for name in names:
            assert name in result.stdout, (format, name)


# --- shapes from the table's formulas: no build -------------------------------------------------------------------


def test_a_config_whose_sizes_the_weights_do_not_have_gets_a_warning_naming_each_tensor(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    folder = runtime_folder(model, tmp_path / "l")
    document = json.loads((folder / "config.json").read_text())
    document["vocab_size"] = 200
    (folder / "config.json").write_text(json.dumps(document))
    code = (
        "import sys, paramcount; r = paramcount.count(sys.argv[1]); "
        "print('\\n'.join(r.warnings)); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    assert "'model.embed_tokens.weight' is stored [128, 64], LlamaForCausalLM as configured has [200, 64]" in out.stdout
    assert "'lm_head.weight' is stored [128, 64]" in out.stdout
    assert out.stdout.split()[-1] == "False"  # the table's formulas, not a build


@pytest.mark.parametrize(("name", "model_type"), [("LlamaForCausalLM", "llama"), ("MixtralForCausalLM", "mixtral")])
def test_check_takes_shapes_from_the_table_without_torch_and_agrees_with_transformers(
    tmp_path: Path, name: str, model_type: str
) -> None:
    model = tiny_model(name, model_type)
    folder, cls = perturb(model, tmp_path / "w", "vocabulary")
    expected = transformers_load(cls, folder)
    code = (
        "import sys, json, paramcount; l = paramcount.check(sys.argv[1]).load; "
        "print(json.dumps([l.shapes_checked, sorted(l.missing_keys), sorted(l.unexpected_keys), "
        "sorted([m.name, list(m.stored), list(m.expected)] for m in l.mismatched_keys), 'torch' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    checked, missing, unexpected, mismatched, imported = json.loads(out.stdout)
    assert (checked, imported) == (True, False)
    assert missing == expected["missing"] and unexpected == expected["unexpected"]
    assert [tuple(x) for x in ((n, tuple(a), tuple(b)) for n, a, b in mismatched)] == expected["mismatched"]


# --- found by the attacker review of issue #19 ---------------------------------------------------------------------


def _config_with(folder: Path, **changes: Any) -> Path:
    document = json.loads((folder / "config.json").read_text())
    document.update(changes)
    (folder / "config.json").write_text(json.dumps(document))
    return folder


@pytest.mark.parametrize(
    "changes",
    [
        {"num_hidden_layers": 10**12},
        {"num_hidden_layers": "two"},
        {"num_hidden_layers": None},
        {"num_attention_heads": 0},
        {"num_attention_heads": "4"},
        {"vocab_size": -1},
        {"tie_word_embeddings": "yes"},
    ],
    ids=["1e12-layers", "layers-string", "layers-null", "heads-0", "heads-string", "vocab-negative", "tie-string"],
)
def test_a_config_transformers_cannot_build_from_is_one_line_exit_3(tmp_path: Path, changes: dict[str, Any]) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    folder = _config_with(runtime_folder(model, tmp_path / "l"), **changes)
    for args in (["check", str(folder)], ["count", str(folder)], ["count", str(folder / "config.json")]):
        result = run_cli(*args)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "config.json's" in result.stderr, result.stderr


def test_a_fused_expert_stack_missing_an_expert_does_not_load(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model = tiny_model("MixtralForCausalLM", "mixtral")
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    state = load_file(folder / "model.safetensors")
    state.pop("model.layers.0.block_sparse_moe.experts.3.w1.weight")
    save_file(state, folder / "model.safetensors")
    with pytest.raises(RuntimeError, match="conversion"):  # transformers' own answer: it cannot load this
        transformers.MixtralForCausalLM.from_pretrained(folder)
    load = paramcount.check(folder).load
    assert load is not None and not load.loads
    assert "model.layers.0.mlp.experts.gate_up_proj" in load.missing_keys
    assert any("cannot be made from the stored ones" in w for w in paramcount.count(folder).warnings)


def test_unexpected_fused_keys_are_listed_once_as_transformers_lists_them(tmp_path: Path) -> None:
    model = tiny_model("Qwen2MoeForCausalLM", "qwen2_moe")
    model.save_pretrained(tmp_path / "moe")
    document = json.loads((tmp_path / "moe" / "config.json").read_text())
    document["mlp_only_layers"] = [1]
    (tmp_path / "moe" / "config.json").write_text(json.dumps(document))
    assert paramcount_load(tmp_path / "moe") == transformers_load(transformers.Qwen2MoeForCausalLM, tmp_path / "moe")


def test_keys_a_class_ignores_at_load_do_not_make_the_weights_foreign(tmp_path: Path) -> None:
    """T5EncoderModel ignores a whole T5 checkpoint's decoder by rule."""
    model = tiny_model("T5ForConditionalGeneration", "t5")
    folder = _config_with(runtime_folder(model, tmp_path / "t5"), architectures=["T5EncoderModel"])
    encoder: Any = transformers.T5EncoderModel.from_pretrained(folder)
    assert paramcount.count(folder).parameters.total == live_parameters(encoder)
    assert paramcount_load(folder) == transformers_load(transformers.T5EncoderModel, folder)


def test_one_key_stored_under_two_names_counts_once(tmp_path: Path) -> None:
    model = tiny_model("GPT2LMHeadModel", "gpt2")
    folder = runtime_folder(model, tmp_path / "g")
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    state.update({k.removeprefix("transformer."): v.clone() for k, v in state.items() if k.startswith("transformer.")})
    save_file(state, folder / "model.safetensors")
    loaded: Any = transformers.GPT2LMHeadModel.from_pretrained(folder)
    assert paramcount.count(folder).parameters.total == live_parameters(loaded)


def test_diff_of_a_model_and_its_config_and_of_a_file_and_its_folder_is_the_same(tmp_path: Path) -> None:
    model = tiny_model("LlamaForCausalLM", "llama")
    folder = _config_with(runtime_folder(model, tmp_path / "l"), architectures=["LlamaForCausalLM"])
    only_config = tmp_path / "config-only"
    only_config.mkdir()
    (only_config / "config.json").write_bytes((folder / "config.json").read_bytes())
    for other in (only_config, folder / "model.safetensors"):
        found = paramcount.diff(folder, other).diff
        assert found is not None and found.same, (other, found)


def test_diff_of_a_tied_head_stored_or_not_is_the_same_and_differing_copies_are_not(tmp_path: Path) -> None:
    model = tiny_model("GPT2LMHeadModel", "gpt2")
    both = runtime_folder(model, tmp_path / "both")
    one = runtime_folder(model, tmp_path / "one", drop=("lm_head.weight",))
    found = paramcount.diff(both, one).diff
    assert found is not None and found.same
    untied = tiny_model("LlamaForCausalLM", "llama")
    a = runtime_folder(untied, tmp_path / "untied")
    b = _config_with(runtime_folder(untied, tmp_path / "tied"), tie_word_embeddings=True)
    found = paramcount.diff(a, b).diff
    assert found is not None and not found.same  # one more parameter tensor in a: the models differ
