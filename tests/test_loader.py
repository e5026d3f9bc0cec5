"""The architecture's own load rules: every spelling transformers loads counts as the live model, stale tensors the
loader ignores are explained without a build, and what is missing is named as transformers names it.

Oracles: the live model (torch's ``parameters()``) and ``from_pretrained(..., output_loading_info=True)`` on the
same folder.
"""

from __future__ import annotations

import json
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
