"""Roles and the conventions built on them (issue #13, first part): non-embedding counts equal transformers' own
``num_parameters(exclude_embeddings=True)``; active parameters per token meet the published figures of
Mixtral-8x7B, Qwen3-30B-A3B and DeepSeek-V3 from their configurations; a saved folder gets the roles of its live
model from names alone."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

import paramcount
from paramcount.roles import conventions, experts_of, role
from tests.tiny import tiny_model

if TYPE_CHECKING:
    from pathlib import Path

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize(
    ("name", "model_type"),
    [
        ("GPT2LMHeadModel", "gpt2"),
        ("LlamaForCausalLM", "llama"),
        ("T5ForConditionalGeneration", "t5"),
        ("BertForMaskedLM", "bert"),
        ("MixtralForCausalLM", "mixtral"),
        ("OPTForCausalLM", "opt"),
    ],
)
def test_non_embedding_is_transformers_own_figure(name: str, model_type: str) -> None:
    model = tiny_model(name, model_type)
    c = paramcount.count(model).conventions
    assert c is not None
    assert c.non_embedding == model.num_parameters(exclude_embeddings=True)
    assert c.total == model.num_parameters()


def test_gpt2_published_non_embedding() -> None:
    c = paramcount.count("transformers:GPT2LMHeadModel(transformers:GPT2Config())").conventions
    assert c is not None
    assert (c.total, c.non_embedding, c.kaplan_non_embedding) == (124_439_808, 85_056_000, 85_056_000)
    assert c.active_per_token == c.total  # dense: every parameter is active


def _spec(cls: str, config: str, **values: Any) -> str:
    arguments = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return f"transformers:{cls}(transformers:{config}({arguments}))"


# Published: Mixtral-8x7B 46.7 B total, 12.9 B active; Qwen3-30B-A3B 30.5 B / 3.3 B; DeepSeek-V3 671 B / 37 B.
ANCHORS = {
    "mixtral-8x7b": (
        _spec("MixtralForCausalLM", "MixtralConfig", num_hidden_layers=32, num_local_experts=8, num_experts_per_tok=2),
        46_702_792_704,
        12_879_925_248,
    ),
    "qwen3-30b-a3b": (
        _spec(
            "Qwen3MoeForCausalLM",
            "Qwen3MoeConfig",
            vocab_size=151936,
            hidden_size=2048,
            intermediate_size=6144,
            moe_intermediate_size=768,
            num_hidden_layers=48,
            num_attention_heads=32,
            num_key_value_heads=4,
            head_dim=128,
            num_experts=128,
            num_experts_per_tok=8,
            tie_word_embeddings=False,
            decoder_sparse_step=1,
            mlp_only_layers=[],
        ),
        30_532_122_624,
        3_353_032_704,
    ),
    "deepseek-v3": (
        _spec(
            "DeepseekV3ForCausalLM",
            "DeepseekV3Config",
            vocab_size=129280,
            hidden_size=7168,
            intermediate_size=18432,
            moe_intermediate_size=2048,
            num_hidden_layers=61,
            num_attention_heads=128,
            num_key_value_heads=128,
            n_shared_experts=1,
            n_routed_experts=256,
            num_experts_per_tok=8,
            first_k_dense_replace=3,
            kv_lora_rank=512,
            q_lora_rank=1536,
            qk_nope_head_dim=128,
            qk_rope_head_dim=64,
            v_head_dim=128,
            n_group=8,
            topk_group=4,
            tie_word_embeddings=False,
        ),
        671_026_404_352,
        37_552_282_624,
    ),
}


@pytest.mark.parametrize("name", list(ANCHORS))
def test_active_parameters_meet_the_published_figures(name: str) -> None:
    spec, total, active = ANCHORS[name]
    report = paramcount.count(spec)
    c = report.conventions
    assert c is not None
    assert (c.total, c.active_per_token) == (total, active)
    roles = {r.role: r.parameters for r in report.roles}
    # the formula, from the roles: everything but the routed experts, plus top_k / E of them
    assert c.experts is not None
    assert c.experts_per_token is not None
    assert active == total - roles["routed_expert"] + roles["routed_expert"] * c.experts_per_token // c.experts
    assert sum(roles.values()) == total


def test_a_folder_gets_its_live_model_s_roles_from_names(tmp_path: Path) -> None:
    model = tiny_model("MixtralForCausalLM", "mixtral")
    model.save_pretrained(tmp_path)
    live, folder = paramcount.count(model), paramcount.count(tmp_path)
    assert {r.role: r.parameters for r in folder.roles} == {r.role: r.parameters for r in live.roles}
    assert folder.conventions is not None
    assert live.conventions is not None
    assert folder.conventions.active_per_token == live.conventions.active_per_token
    assert (folder.conventions.experts_per_token, folder.conventions.experts) == (
        model.config.num_experts_per_tok,
        model.config.num_local_experts,
    )


def test_experts_per_token_overrides_the_configuration() -> None:
    spec = ANCHORS["mixtral-8x7b"][0]
    c = paramcount.count(spec, experts_per_token=8).conventions
    assert c is not None
    assert c.active_per_token == c.total  # all 8 of 8 experts
    done = subprocess.run(
        [sys.executable, "-m", "paramcount", "count", spec, "--experts-per-token", "1", "--format", "json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)["conventions"]
    assert (document["experts_per_token"], document["experts"]) == (1, 8)
    bad = subprocess.run(
        [sys.executable, "-m", "paramcount", "count", "torch.nn:Linear(2, 2)", "--experts-per-token", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("token_embd.weight", "embedding"),
        ("blk.0.attn_q.weight", "attention"),
        ("blk.0.ffn_gate_exps.weight", "routed_expert"),
        ("blk.0.ffn_up_shexp.weight", "shared_expert"),
        ("blk.0.ffn_gate_inp.weight", "router"),
        ("blk.0.attn_norm.weight", "norm"),
        ("output.weight", "output_head"),
        ("output_norm.weight", "norm"),
        ("bert.embeddings.token_type_embeddings.weight", "token_type_embedding"),
        ("bert.encoder.layer.0.attention.output.dense.weight", "attention"),
        ("bert.encoder.layer.0.output.dense.weight", "mlp"),
        ("model.layers.0.mlp.experts.gate_up_proj", "routed_expert"),
        ("model.layers.0.mlp.shared_experts.down_proj.weight", "shared_expert"),
        ("model.layers.0.block_sparse_moe.gate.weight", "router"),
        ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "position_embedding"),
        ("shared.weight", "embedding"),
        ("model.layers.0.self_attn.q_norm.weight", "norm"),
    ],
)
def test_names_alone_give_roles(name: str, expected: str) -> None:
    assert role(name) == expected


def test_a_mixture_without_top_k_has_no_active_figure() -> None:
    assert conventions(100, None, {"routed_expert": 80}, None).active_per_token is None
    assert experts_of({"text_config": {"n_routed_experts": 64, "num_experts_per_tok": 6}}) == (6, 64)
    assert experts_of({"num_experts": 1, "num_experts_per_tok": 1}) is None


def _saved(model: Any, path: Path, how: str) -> Path:
    if how == "torch.save":
        torch.save(model.state_dict(), path / "model.pt")
        return path / "model.pt"
    from safetensors.torch import save_model

    save_model(model, str(path / "model.safetensors"))  # keeps one name of the tied pair
    return path / "model.safetensors"


def _split(report: Any) -> tuple[dict[str, int], int | None, int | None]:
    c = report.conventions
    return {r.role: r.parameters for r in report.roles}, c.non_embedding, c.kaplan_non_embedding


@pytest.mark.parametrize("how", ["torch.save", "safetensors"])
def test_a_saved_tied_model_keeps_its_live_model_s_roles(how: str, tmp_path: Path) -> None:
    """Issue: the README's demo counted a saved ``embed.weight`` as role ``other`` (non-embedding 64,128 where the
    live model says 128): a 2-D weight named ``embed`` is an embedding; the live model is the oracle."""
    from paramcount.examples import tied_language_model

    model = tied_language_model()
    live = _split(paramcount.count(model))
    assert live[1:] == (128, 128)  # the LayerNorm's weight and bias: what the live model's types say
    assert _split(paramcount.count(_saved(model, tmp_path, how))) == live


@pytest.mark.parametrize(
    ("build", "embedding"),
    [
        # "embed" holding an Embedding and a LayerNorm: the 2-D weight is the embedding, the 1-D one is not
        (lambda: torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.LayerNorm(8)), 400),
        # "embed" as a patch projection: a 4-D weight is no embedding, whatever its name
        (lambda: torch.nn.Conv2d(3, 8, 4), 0),
    ],
    ids=["sequential", "conv"],
)
def test_the_name_embed_needs_an_embedding_s_shape(build: Any, embedding: int, tmp_path: Path) -> None:
    model = torch.nn.Sequential()
    model.add_module("embed", build())
    model.add_module("head", torch.nn.Linear(8, 3))
    live = {r.role: r.parameters for r in paramcount.count(model).roles}
    assert live.get("embedding", 0) == embedding
    torch.save(model.state_dict(), tmp_path / "model.pt")
    saved = {r.role: r.parameters for r in paramcount.count(tmp_path / "model.pt").roles}
    assert saved.get("embedding", 0) == embedding
    assert sum(saved.values()) == sum(live.values())
    # the 1-D weight beside the embedding (400, not 408) and a 4-D one stay out of "embedding"
    assert role("embed.1.weight", ndim=1) != "embedding" and role("embed.weight", ndim=4) != "embedding"
