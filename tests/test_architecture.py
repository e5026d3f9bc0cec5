"""Model folders counted with their architecture's knowledge; models named by config.json; the generated table.

The oracle for every folder is the live model that wrote it: torch's own ``parameters()`` (which yields a tied
tensor once) and ``state_dict()`` minus the parameter names (its persistent buffers).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from safetensors.torch import save_file

import paramcount
from paramcount.errors import FormatError, TargetError
from tests.tiny import tiny_config, tiny_model

ROOT = Path(__file__).resolve().parent.parent

# Chosen to cover each way a name-rule count goes wrong: seq2seq final_logits_bias (BART family), MoE routing
# correction biases, frozen BatchNorm (RT-DETR), codebooks (EnCodec), I-BERT quantization buffers, MiniMax decay
# buffers, factorised and tied heads (ALBERT, ELECTRA, BERT), shared embeddings (T5, BART), Whisper, Mamba,
# multimodal models, parameters a checkpoint leaves out (Marian), and the usual decoder-only families.
ARCHITECTURES = [
    ("BartForConditionalGeneration", "bart"),
    ("PegasusForConditionalGeneration", "pegasus"),
    ("MarianMTModel", "marian"),
    ("MBartForConditionalGeneration", "mbart"),
    ("BlenderbotForConditionalGeneration", "blenderbot"),
    ("DeepseekV3ForCausalLM", "deepseek_v3"),
    ("Glm4MoeForCausalLM", "glm4_moe"),
    ("RTDetrForObjectDetection", "rt_detr"),
    ("EncodecModel", "encodec"),
    ("IBertForMaskedLM", "ibert"),
    ("MiniMaxForCausalLM", "minimax"),
    ("AlbertForMaskedLM", "albert"),
    ("ElectraForPreTraining", "electra"),
    ("ElectraForMaskedLM", "electra"),
    ("T5ForConditionalGeneration", "t5"),
    ("MT5ForConditionalGeneration", "mt5"),
    ("BertForMaskedLM", "bert"),
    ("BertLMHeadModel", "bert"),
    ("RobertaForMaskedLM", "roberta"),
    ("WhisperForConditionalGeneration", "whisper"),
    ("MambaForCausalLM", "mamba"),
    ("Mamba2ForCausalLM", "mamba2"),
    ("SwinForImageClassification", "swin"),
    ("LlavaForConditionalGeneration", "llava"),
    ("Qwen2VLForConditionalGeneration", "qwen2_vl"),
    ("CLIPModel", "clip"),
    ("SiglipModel", "siglip"),
    ("ViTForImageClassification", "vit"),
    ("LlamaForCausalLM", "llama"),
    ("LlamaModel", "llama"),
    ("MistralForCausalLM", "mistral"),
    ("MixtralForCausalLM", "mixtral"),
    ("Qwen2ForCausalLM", "qwen2"),
    ("Qwen3ForCausalLM", "qwen3"),
    ("Qwen2MoeForCausalLM", "qwen2_moe"),
    ("Qwen3MoeForCausalLM", "qwen3_moe"),
    ("GemmaForCausalLM", "gemma"),
    ("Gemma2ForCausalLM", "gemma2"),
    ("PhiForCausalLM", "phi"),
    ("Phi3ForCausalLM", "phi3"),
    ("GPT2LMHeadModel", "gpt2"),
    ("GPTNeoXForCausalLM", "gpt_neox"),
    ("GPTJForCausalLM", "gptj"),
    ("FalconForCausalLM", "falcon"),
    ("OPTForCausalLM", "opt"),
    ("BloomForCausalLM", "bloom"),
    ("DistilBertForMaskedLM", "distilbert"),
    ("DebertaV2ForMaskedLM", "deberta-v2"),
    ("ConvNextForImageClassification", "convnext"),
    ("ResNetForImageClassification", "resnet"),
    ("Wav2Vec2ForCTC", "wav2vec2"),
    ("FunnelForMaskedLM", "funnel"),
    # buffers that transformers 5 renames when it saves (found by make sweep)
    ("ExaoneMoeForCausalLM", "exaone_moe"),
    ("CohereAsrForConditionalGeneration", "cohere_asr"),
    ("DeepseekV4ForCausalLM", "deepseek_v4"),
    # a tie of some indices only: UDOP's first relative-bias table, not the others
    ("UdopForConditionalGeneration", "udop"),
]


def oracle(model: torch.nn.Module) -> tuple[int, int]:
    """Parameters (each tensor once) and persistent buffer elements, from torch itself."""
    parameters = sum(p.numel() for p in model.parameters())
    names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    buffers = sum(t.numel() for name, t in model.state_dict().items() if name not in names)
    return parameters, buffers


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``save_pretrained`` folders of tiny models, made once per class: (folder, model)."""
    made: dict[str, tuple[Path, torch.nn.Module]] = {}

    def make(name: str, model_type: str) -> tuple[Path, torch.nn.Module]:
        if name not in made:
            model = tiny_model(name, model_type)
            folder = tmp_path_factory.mktemp(name)
            model.save_pretrained(folder)
            made[name] = (folder, model)
        return made[name]

    return make


def test_the_suite_covers_at_least_forty_architectures() -> None:
    assert len({name for name, _ in ARCHITECTURES}) >= 40


@pytest.mark.parametrize(("name", "model_type"), ARCHITECTURES, ids=[name for name, _ in ARCHITECTURES])
def test_a_saved_folder_counts_as_the_live_model(saved: Any, name: str, model_type: str) -> None:
    folder, model = saved(name, model_type)
    parameters, buffers = oracle(model)
    report = paramcount.count(folder)
    assert (report.parameters.total, report.buffers.total) == (parameters, buffers)
    assert report.architecture is not None
    assert report.architecture.name == name
    assert report.architecture.source in ("table", "build")
    assert report.architecture.unexpected == () and report.architecture.missing == ()
    assert not [w for w in report.warnings if "guessed" in w]


@pytest.mark.parametrize(
    ("name", "model_type"),
    [("BartForConditionalGeneration", "bart"), ("DeepseekV3ForCausalLM", "deepseek_v3"), ("EncodecModel", "encodec")],
)
def test_name_rules_alone_recognise_the_known_buffers_and_say_they_guessed(
    saved: Any, name: str, model_type: str
) -> None:
    folder, model = saved(name, model_type)
    parameters, buffers = oracle(model)
    assert buffers > 0
    report = paramcount.count(folder / "model.safetensors")  # the file alone: no config, no architecture
    assert report.parameters.total == parameters
    assert any("taken for buffers by their names alone" in w for w in report.warnings)


def test_the_build_mode_agrees_with_the_table(saved: Any) -> None:
    for name, model_type in [("T5ForConditionalGeneration", "t5"), ("RTDetrForObjectDetection", "rt_detr")]:
        folder, model = saved(name, model_type)
        table = paramcount.count(folder)
        built = paramcount.count(folder, architecture="build")
        assert table.architecture is not None and table.architecture.source == "table"
        assert built.architecture is not None and built.architecture.source == "build"
        assert (built.parameters.total, built.buffers.total) == (table.parameters.total, table.buffers.total)
        assert (built.parameters.total, built.buffers.total) == oracle(model)


def test_off_counts_by_name_rules(saved: Any) -> None:
    folder, model = saved("RTDetrForObjectDetection", "rt_detr")
    report = paramcount.count(folder, architecture="off")
    # RT-DETR's frozen BatchNorm keeps weight and bias as buffers; names alone take them for parameters
    assert (report.parameters.total or 0) > oracle(model)[0]
    assert report.architecture is not None and report.architecture.source == "name rules"


@pytest.mark.parametrize(
    ("name", "model_type"),
    [
        ("T5ForConditionalGeneration", "t5"),
        ("BartForConditionalGeneration", "bart"),
        ("BertForMaskedLM", "bert"),
        ("AlbertForMaskedLM", "albert"),
        ("ElectraForMaskedLM", "electra"),
        ("WhisperForConditionalGeneration", "whisper"),
        ("GPT2LMHeadModel", "gpt2"),
    ],
)
def test_tied_tensors_saved_as_copies_count_once(tmp_path: Path, name: str, model_type: str) -> None:
    model = tiny_model(name, model_type)
    model.config.save_pretrained(tmp_path)
    # every name, tied ones too, written as its own copy: what a hand-rolled export or an old converter leaves
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    report = paramcount.count(tmp_path)
    assert (report.parameters.total, report.buffers.total) == oracle(model)
    assert report.architecture is not None and report.architecture.tied_copies
    assert any("stored as separate copies are counted once" in note for note in report.notes)
    naive = sum(v.numel() for k, v in state.items())
    assert (report.parameters.total or 0) < naive


# Published totals for default configurations, with the live meta build as a second, independent oracle.
PUBLISHED = {
    "LlamaForCausalLM": 6_738_415_616,  # Llama-2-7b
    "MistralForCausalLM": 7_241_732_096,  # Mistral-7B-v0.1
    "MixtralForCausalLM": 46_702_792_704,  # Mixtral-8x7B
    "GPT2LMHeadModel": 124_439_808,  # gpt2
    "BertModel": 109_482_240,  # bert-base-uncased
    "T5ForConditionalGeneration": 60_506_624,  # t5-small
    "ViTModel": 86_389_248,  # vit-base-patch16-224-in21k
}
CONFIG_ONLY = [
    ("LlamaForCausalLM", "llama"),
    ("MistralForCausalLM", "mistral"),
    ("MixtralForCausalLM", "mixtral"),
    ("Qwen2ForCausalLM", "qwen2"),
    ("Qwen3ForCausalLM", "qwen3"),
    ("GemmaForCausalLM", "gemma"),
    ("PhiForCausalLM", "phi"),
    ("GPT2LMHeadModel", "gpt2"),
    ("BertModel", "bert"),
    ("T5ForConditionalGeneration", "t5"),
    ("ViTModel", "vit"),
    ("WhisperForConditionalGeneration", "whisper"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "model_type"), CONFIG_ONLY, ids=[name for name, _ in CONFIG_ONLY])
def test_a_config_counts_as_the_model_built_from_it(tmp_path: Path, name: str, model_type: str) -> None:
    config = transformers.CONFIG_MAPPING[model_type]()
    config.architectures = [name]
    config.save_pretrained(tmp_path)
    with torch.device("meta"):
        expected = sum(p.numel() for p in getattr(transformers, name)(config).parameters())
    for target in (tmp_path / "config.json", tmp_path):  # the file, and a folder holding it and no weights
        report = paramcount.count(target)
        assert report.parameters.total == expected
        assert report.architecture is not None and report.architecture.name == name
    if name in PUBLISHED:
        assert expected == PUBLISHED[name]


def test_without_architectures_the_model_types_base_class_is_built(tmp_path: Path) -> None:
    config = tiny_config("llama")
    config.save_pretrained(tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document.pop("architectures", None)
    (tmp_path / "config.json").write_text(json.dumps(document))
    report = paramcount.count(tmp_path / "config.json")
    with torch.device("meta"):
        expected = sum(p.numel() for p in transformers.LlamaModel(config).parameters())
    assert report.parameters.total == expected
    assert report.architecture is not None and report.architecture.name == "LlamaModel"
    assert any("model_type" in note for note in report.notes)


def test_the_head_matters(tmp_path: Path) -> None:
    config = tiny_config("llama")
    totals: dict[str, int] = {}
    for name in ("LlamaForCausalLM", "LlamaModel"):
        config.architectures = [name]
        folder = tmp_path / name
        config.save_pretrained(folder)
        totals[name] = paramcount.count(folder).parameters.total or 0
    assert totals["LlamaForCausalLM"] - totals["LlamaModel"] == config.vocab_size * config.hidden_size


def test_a_count_of_a_folder_with_a_known_architecture_does_not_import_torch(saved: Any) -> None:
    folder, _ = saved("BartForConditionalGeneration", "bart")
    code = (
        "import sys, paramcount\n"
        f"r = paramcount.count({str(folder)!r})\n"
        "print(r.architecture.source, r.buffers.total, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    buffers = oracle(saved("BartForConditionalGeneration", "bart")[1])[1]
    assert result.stdout.split() == ["table", str(buffers), "False", "False"]


def test_a_tensor_the_model_does_not_have_is_listed_and_not_counted(saved: Any, tmp_path: Path) -> None:
    folder, model = saved("LlamaForCausalLM", "llama")
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    state["model.extra_adapter.weight"] = torch.zeros(3, 5)
    del state["model.norm.weight"]
    save_file(state, str(tmp_path / "model.safetensors"))
    report = paramcount.count(tmp_path)
    parameters, _ = oracle(model)
    assert report.parameters.total == parameters - model.model.norm.weight.numel()
    assert report.architecture is not None
    assert report.architecture.unexpected == ("model.extra_adapter.weight",)
    assert report.architecture.missing == ("model.norm.weight",)
    assert any("not tensors of LlamaForCausalLM and are not counted" in w for w in report.warnings)
    assert any("no stored tensor loads into" in w for w in report.warnings)
    doc = report.to_dict()["architecture"]
    assert doc["unexpected"] == {"count": 1, "names": ["model.extra_adapter.weight"]}
    assert doc["class"] == "LlamaForCausalLM" and doc["chosen_by"] == "architectures[0]"


def test_an_unknown_architecture_falls_back_to_name_rules_with_a_warning(saved: Any, tmp_path: Path) -> None:
    folder, model = saved("BartForConditionalGeneration", "bart")
    document = json.loads((folder / "config.json").read_text())
    document["architectures"], document["model_type"] = ["NoSuchModelForThings"], "no_such_model"
    (tmp_path / "config.json").write_text(json.dumps(document))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    report = paramcount.count(tmp_path)
    assert report.parameters.total == oracle(model)[0]  # final_logits_bias is still a buffer, by name
    guessed = [w for w in report.warnings if "guessed from their names" in w]
    assert guessed and "final_logits_bias" in guessed[0] and "NoSuchModelForThings" in guessed[0]
    assert report.architecture is not None and report.architecture.source == "name rules"


def test_a_live_model_whose_tied_head_was_replaced_gets_a_warning() -> None:
    config = tiny_config("llama")
    config.tie_word_embeddings = True
    model = transformers.LlamaForCausalLM(config)
    assert "untied" not in " ".join(paramcount.count(model).warnings)
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    warnings = [w for w in paramcount.count(model).warnings if "tie_word_embeddings" in w]
    assert warnings and "'lm_head.weight'" in warnings[0] and "'model.embed_tokens.weight'" in warnings[0]


# --- bad input: one line, exit 3, nothing run -----------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramcount", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_a_config_that_is_not_json_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama", ')
    (tmp_path / "model.safetensors").write_bytes(b"\x08" + bytes(7) + b"{}      ")
    result = run_cli("count", str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "config.json is not valid JSON" in result.stderr


def test_a_config_naming_an_unknown_architecture_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForTeleportation"], "model_type": "x"}))
    result = run_cli("count", str(tmp_path / "config.json"))
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "'LlamaForTeleportation'" in result.stderr


def test_base_model_weights_load_into_a_head_class_as_transformers_loads_them(saved: Any, tmp_path: Path) -> None:
    """transformers adds the base-model prefix and initialises the head: the count says which tensors are missing,
    exactly as ``from_pretrained(output_loading_info=True)`` names them."""
    folder, base = saved("LlamaModel", "llama")
    document = json.loads((folder / "config.json").read_text())
    document["architectures"] = ["LlamaForCausalLM"]
    (tmp_path / "config.json").write_text(json.dumps(document))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    loaded: Any = transformers.LlamaForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    info = loaded[1]
    report = paramcount.count(tmp_path)
    assert report.architecture is not None
    assert sorted(report.architecture.missing) == sorted(info["missing_keys"]) == ["lm_head.weight"]
    assert report.architecture.unexpected == ()
    assert report.parameters.total == oracle(base)[0]
    assert any("lm_head.weight" in w and "initialize" in w for w in report.warnings)


def test_remote_code_is_refused_unless_trusted_and_then_runs_only_from_the_folder(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "modeling_toy.py").write_text(
        "import pathlib\n"
        "import torch\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
        "class ToyConfig(PretrainedConfig):\n"
        "    model_type = 'toy'\n"
        "    def __init__(self, width=8, **kwargs):\n"
        "        self.width = width\n"
        "        super().__init__(**kwargs)\n"
        "class ToyModel(PreTrainedModel):\n"
        "    config_class = ToyConfig\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config)\n"
        "        self.proj = torch.nn.Linear(config.width, config.width)\n"
        "        self.post_init()\n"
    )
    (tmp_path / "configuration_toy.py").write_text("from .modeling_toy import ToyConfig\n")
    document = {
        "architectures": ["ToyModel"],
        "model_type": "toy",
        "width": 8,
        "auto_map": {"AutoConfig": "modeling_toy.ToyConfig", "AutoModel": "modeling_toy.ToyModel"},
    }
    (tmp_path / "config.json").write_text(json.dumps(document))
    refused = run_cli("count", str(tmp_path))
    assert refused.returncode == 3 and "--trust-remote-code" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert not marker.exists()
    trusted = run_cli("count", str(tmp_path), "--trust-remote-code", "--format", "json", env={"HF_HUB_OFFLINE": "0"})
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["parameters"]["total"] == 8 * 8 + 8
    assert marker.exists()


# --- Hugging Face ids, from the local cache -------------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_cache(root: Path, repo_id: str, files: dict[str, bytes], ref: bytes = COMMIT.encode()) -> Path:
    """A hub cache as huggingface_hub lays it out: blobs by hash, a snapshot of links, refs/main."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_bytes(ref)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for i, (name, data) in enumerate(files.items()):
        blob = repo / "blobs" / f"{i:040x}"
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def test_an_id_in_the_local_cache_is_counted_offline(saved: Any, tmp_path: Path, monkeypatch: Any) -> None:
    folder, model = saved("GPT2LMHeadModel", "gpt2")
    files = {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}
    make_cache(tmp_path, "openai-community/gpt2", files)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    for target in ("openai-community/gpt2", f"openai-community/gpt2@{COMMIT}", "openai-community/gpt2@main"):
        report = paramcount.count(target)
        assert report.parameters.total == oracle(model)[0]
        assert report.target == target
        assert any("local Hugging Face cache" in note for note in report.notes)


def test_an_existing_path_wins_over_an_id(saved: Any, tmp_path: Path, monkeypatch: Any) -> None:
    folder, model = saved("GPT2LMHeadModel", "gpt2")
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "openai" / "gpt2"
    local.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (local / name).write_bytes((folder / name).read_bytes())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert paramcount.count("openai/gpt2").parameters.total == oracle(model)[0]


def test_a_missing_id_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli("count", "nobody/nothing", env={"HF_HUB_CACHE": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and str(tmp_path / "models--nobody--nothing") in result.stderr


def test_a_broken_ref_is_exit_3(tmp_path: Path) -> None:
    make_cache(tmp_path, "org/broken", {"config.json": b"{}"}, ref=b"not a commit\n")
    result = run_cli("count", "org/broken", env={"HF_HUB_CACHE": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "not a 40-character commit hash" in result.stderr


def test_a_snapshot_link_out_of_the_cache_is_refused(tmp_path: Path, saved: Any, monkeypatch: Any) -> None:
    folder, _ = saved("GPT2LMHeadModel", "gpt2")
    cache = tmp_path / "cache"
    snapshot = make_cache(cache, "org/escape", {"config.json": (folder / "config.json").read_bytes()})
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes((folder / "model.safetensors").read_bytes())
    (snapshot / "model.safetensors").symlink_to(outside)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(FormatError, match="outside the folder"):
        paramcount.count("org/escape")
    result = run_cli("count", "org/escape")
    assert result.returncode == 3 and result.stderr.count("\n") == 1


def test_a_missing_revision_says_where_refs_are(tmp_path: Path, monkeypatch: Any) -> None:
    make_cache(tmp_path, "org/model", {"config.json": b"{}"})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(TargetError, match="no revision 'v2'"):
        paramcount.count("org/model@v2")


# --- the table ---------------------------------------------------------------------------------------------------


def _script(name: str = "architectures") -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("model_type", ["llama", "bart", "t5", "deepseek_v3", "rt_detr", "marian", "gpt2", "mixtral"])
def test_table_matches_installed_transformers(model_type: str) -> None:
    script = _script()
    document, failed = script.model_type_file(model_type, script.classes_by_model_type()[model_type])
    assert failed == []
    shipped = json.loads((ROOT / "src" / "paramcount" / "architectures" / f"{model_type}.json").read_text())
    document.pop("transformers")  # which transformers wrote it is informative; the content must match
    shipped.pop("transformers")
    assert json.loads(json.dumps(document)) == shipped, f"regenerate the table: make architectures ({model_type})"


def test_the_shared_legacy_renames_match_installed_transformers(tmp_path: Path) -> None:
    _script().write_legacy(str(tmp_path))
    written = json.loads((tmp_path / "legacy.rules.json").read_text())
    shipped = json.loads((ROOT / "src" / "paramcount" / "architectures" / "legacy.rules.json").read_text())
    assert written == shipped, "regenerate the table: make architectures (legacy.rules.json)"
    assert {"kind": "rename", "sources": ["LayerNorm.gamma"], "targets": ["LayerNorm.weight"]} in shipped["transforms"]


@pytest.mark.parametrize(
    ("script", "table", "version"),
    [
        ("torch_functions", "torch_functions.json", "torch"),
        ("enums", "enums.json", "transformers"),
    ],
)
def test_the_pickle_tables_match_the_installed_packages(script: str, table: str, version: str) -> None:
    """torch's tensor operations a pickle may hold, transformers' Enum classes it may look members up in."""
    document = _script(script).document()
    shipped = json.loads((ROOT / "src" / "paramcount" / "formats" / table).read_text())
    document.pop(version)
    shipped.pop(version)
    assert json.loads(json.dumps(document)) == shipped, f"regenerate the table: make architectures ({table})"


def test_the_setstate_table_matches_the_installed_packages(tmp_path: Path) -> None:
    """Classes of torch, transformers and kernels whose __setstate__ is not audited: the generator imports every
    module of the three packages, so it runs in a child process (the imports would change this one)."""
    out = tmp_path / "setstate.json"
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from scripts import setstate; "
        "open(sys.argv[2], 'w').write(json.dumps(setstate.document()))"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(out)], check=True, timeout=900, capture_output=True)
    document = json.loads(out.read_text())
    shipped = json.loads((ROOT / "src" / "paramcount" / "formats" / "setstate.json").read_text())
    assert document["classes"] == shipped["classes"], "regenerate the table: make architectures (setstate.json)"
    assert "torch.utils.data.datapipes.datapipe._DataPipeSerializationWrapper" in shipped["classes"]
    assert "torch.nn.modules.linear.Linear" not in shipped["classes"]  # Module's __setstate__, audited


def test_table_files_are_in_the_package() -> None:
    folder = ROOT / "src" / "paramcount" / "architectures"
    names = sorted(p.stem for p in folder.glob("*.json") if p.name != "legacy.rules.json")
    assert len(names) >= 400
    classes = sum(len(json.loads((folder / f"{n}.json").read_text())["classes"]) for n in names)
    assert classes >= 1000


# --- PEFT adapters ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """A tiny Llama saved as a base folder, and a LoRA adapter of it (with a modules_to_save head)."""
    import peft

    model = tiny_model("LlamaForCausalLM", "llama")
    base = tmp_path_factory.mktemp("base")
    model.save_pretrained(base)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"])
    peft_model = peft.get_peft_model(model, config)
    adapter = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(str(adapter))
    return base, adapter, peft_model


def test_an_adapter_folder_counts_its_own_parameters(lora: tuple[Path, Path, Any]) -> None:
    _, adapter, peft_model = lora
    report = paramcount.count(adapter)
    lora_elements = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    assert report.parameters.total == report.parameters.trainable == lora_elements
    assert report.adapter is not None
    assert (report.adapter.method, report.adapter.rank) == ("LORA", 4)
    assert sorted(report.adapter.target_modules) == ["q_proj", "v_proj"]
    assert report.adapter.saved_copies  # the lm_head copy: listed apart, not counted
    assert report.adapter.base is None


def test_an_adapter_with_its_base_gives_the_figures_a_lora_user_checks(lora: tuple[Path, Path, Any]) -> None:
    base, adapter, peft_model = lora
    trainable, everything = peft_model.get_nb_trainable_parameters()  # PEFT's own figures, the oracle here
    report = paramcount.count(adapter, base=base)
    assert report.adapter is not None
    assert (report.adapter.peft_trainable, report.adapter.peft_all) == (trainable, everything)
    lora_elements = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    base_elements = sum(p.numel() for p in tiny_model("LlamaForCausalLM", "llama").parameters())
    assert report.parameters.trainable == lora_elements
    assert report.parameters.frozen == base_elements
    result = run_cli("count", str(adapter), "--base", str(base))
    assert result.returncode == 0 and f"trainable params: {trainable:,} || all params: {everything:,}" in result.stdout
    # the bytes stored are the adapter's file and the base's, each read from disk
    alone = [paramcount.count(p).tensors for p in (adapter, base)]
    on_disk = sum(t.bytes for t in alone if t is not None)
    assert report.tensors is not None and report.tensors.bytes == on_disk


def test_a_trainer_checkpoint_of_a_lora_run_counts_its_adapter(lora: tuple[Path, Path, Any], tmp_path: Path) -> None:
    _, adapter, peft_model = lora
    checkpoint = tmp_path / "checkpoint-500"
    checkpoint.mkdir()
    for item in adapter.iterdir():
        (checkpoint / item.name).write_bytes(item.read_bytes())
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):
        torch.save({"state": {}}, checkpoint / name)
    report = paramcount.count(checkpoint)
    assert report.parameters.total == sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    assert any("optimizer.pt" in note and "left out" in note for note in report.notes)


def test_a_folder_with_a_base_and_an_adapter_counts_both(lora: tuple[Path, Path, Any], tmp_path: Path) -> None:
    base, adapter, peft_model = lora
    for folder in (base, adapter):
        for item in folder.iterdir():
            (tmp_path / item.name).write_bytes(item.read_bytes())
    report = paramcount.count(tmp_path)
    _, everything = peft_model.get_nb_trainable_parameters()
    assert report.adapter is not None and report.adapter.peft_all == everything
    assert any("base model" in note for note in report.notes)


# --- diffusers pipelines ---------------------------------------------------------------------------------------


def test_a_pipeline_counts_every_component_from_weights_or_config(tmp_path: Path) -> None:
    diffusers: Any = importlib.import_module("diffusers")  # its annotations do not type-check; used untyped

    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        cross_attention_dim=32,
        norm_num_groups=8,
        attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    unet.save_pretrained(tmp_path / "unet")
    vae = diffusers.AutoencoderKL(block_out_channels=(32,), norm_num_groups=8, latent_channels=4)
    vae.save_config(tmp_path / "vae")  # config only: built on the meta device
    text_encoder = tiny_model("CLIPTextModel", "clip_text_model")
    text_encoder.save_pretrained(tmp_path / "text_encoder")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "safety_checker": [None, None],
    }
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    report = paramcount.count(tmp_path, depth=1)
    expected = {
        "unet": sum(p.numel() for p in unet.parameters()),
        "vae": sum(p.numel() for p in vae.parameters()),
        "text_encoder": oracle(text_encoder)[0],
    }
    assert report.parameters.total == sum(expected.values())
    rows = {row.path: row.parameters for row in report.modules if row.depth == 1}
    assert rows == expected
    assert any("vae (AutoencoderKL, from its config" in note for note in report.notes)


def test_a_path_that_an_adapter_config_names_is_not_read(lora: tuple[Path, Path, Any], tmp_path: Path) -> None:
    """adapter_config.json's base_model_name_or_path chose a path outside the target, and paramcount read it (a
    review found /etc/passwd and other folders reachable that way): SECURITY.md promises no path outside the target
    is read. The base is added only when the user names it (--base) or it is a Hugging Face id in the cache."""
    base, adapter, peft_model = lora
    evil = tmp_path / "adapter"
    evil.mkdir()
    for item in adapter.iterdir():
        (evil / item.name).write_bytes(item.read_bytes())
    lora_elements = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    for named in (str(base), "/etc/passwd", str(tmp_path / "missing")):
        config = json.loads((adapter / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = named
        (evil / "adapter_config.json").write_text(json.dumps(config))
        report = paramcount.count(evil)
        assert report.parameters.total == lora_elements, named  # the adapter alone
        assert report.adapter is not None and report.adapter.base is None
        assert not any(str(base) in f for f in report.files)
        assert any("never to a path a file names" in note for note in report.notes)
    assert paramcount.count(evil, base=base).parameters.frozen  # named by the user, it is read


def test_base_on_a_target_that_is_not_an_adapter_is_a_usage_error(saved: Any) -> None:
    folder, _ = saved("GPT2LMHeadModel", "gpt2")
    result = run_cli("count", str(folder), "--base", str(folder))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "adapter_config.json" in result.stderr
