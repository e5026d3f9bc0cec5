"""Tiny configurations of transformers architectures, for tests and ``make sweep``.

A default configuration is full size (Llama's builds 6.7B parameters); these shrink its widths, depths, vocabulary
and expert counts so that the model builds on the CPU with real tensors in milliseconds and ``save_pretrained``
writes a folder of a few hundred kilobytes. The shrinking is generic (by attribute name), so some architectures
with tight constraints between their sizes do not build; the sweep reports them as such.
"""

from __future__ import annotations

from typing import Any

_LAYERS = (
    "num_hidden_layers",
    "n_layer",
    "n_layers",
    "num_layers",
    "encoder_layers",
    "decoder_layers",
    "num_decoder_layers",
    "num_encoder_layers",
    "depth",
)
_WIDTHS = ("hidden_size", "d_model", "n_embd", "embed_dim", "word_embed_proj_dim", "projection_dim")
_FFN = (
    "intermediate_size",
    "ffn_dim",
    "d_ff",
    "n_inner",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
)
_HEADS = ("num_attention_heads", "n_head", "n_heads", "encoder_attention_heads", "decoder_attention_heads")
_EXPERTS = ("num_local_experts", "num_experts", "n_routed_experts")
_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "sep_token_id")


def shrink(values: dict[str, Any]) -> dict[str, Any]:
    """A configuration dict with its sizes made tiny, nested configurations included."""
    out = dict(values)
    layers = None
    for key in _LAYERS:
        if isinstance(out.get(key), int) and out[key] > 2:
            layers, out[key] = out[key], 2
    for key in _WIDTHS:
        if isinstance(out.get(key), int) and out[key] > 64:
            out[key] = 64
    for key in _FFN:
        if isinstance(out.get(key), int) and out[key] > 64:
            out[key] = 64
    for key in _HEADS:
        if isinstance(out.get(key), int) and out[key] > 4:
            out[key] = 4
    if isinstance(out.get("num_key_value_heads"), int) and out["num_key_value_heads"] > 2:
        out["num_key_value_heads"] = 2
    if isinstance(out.get("head_dim"), int) and out["head_dim"] > 16:
        out["head_dim"] = 16
    for key in _EXPERTS:
        if isinstance(out.get(key), int) and out[key] > 4:
            out[key] = 4
    if isinstance(out.get("num_experts_per_tok"), int) and out["num_experts_per_tok"] > 2:
        out["num_experts_per_tok"] = 2
    if isinstance(out.get("vocab_size"), int) and out["vocab_size"] > 128:
        ids = [out[k] for k in _TOKEN_IDS if isinstance(out.get(k), int)]
        out["vocab_size"] = max([128, *(i + 1 for i in ids)])
    if layers is not None:
        for key, value in list(out.items()):
            if isinstance(value, list) and len(value) == layers:
                out[key] = value[:2]
    for key, value in list(out.items()):
        if isinstance(value, dict) and ("model_type" in value or any(k in value for k in _WIDTHS)):
            out[key] = shrink(value)
    return out


# Where generic shrinking breaks a constraint between sizes, or leaves out the part a test is about.
_OVERRIDES: dict[str, dict[str, Any]] = {
    "deepseek_v3": {"first_k_dense_replace": 1},  # else both tiny layers are dense: no router, no correction bias
    "mamba2": {"hidden_size": 64, "expand": 2, "num_heads": 8, "head_dim": 16, "n_groups": 1},
    "swin": {"embed_dim": 32, "depths": [1, 1, 1, 1], "num_heads": [2, 2, 2, 2]},
}


def tiny_config(model_type: str) -> Any:
    """The default configuration of ``model_type``, shrunk."""
    import transformers

    config_class = transformers.CONFIG_MAPPING[model_type]
    values = shrink(config_class().to_dict()) | _OVERRIDES.get(model_type, {})
    return config_class.from_dict(values)


def tiny_model(name: str, model_type: str) -> Any:
    """The class ``name`` built on the CPU from a tiny configuration, in evaluation mode."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = getattr(transformers, name)(tiny_config(model_type))
    return model.eval()
