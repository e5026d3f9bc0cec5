"""The KV cache a model holds after a prefill, from its configuration (handed in, already normalised by the caller).

The cache is what transformers' ``DynamicCache`` holds after a prefill of ``seq`` tokens: key and value per
attention layer, ``num_key_value_heads x head_dim`` each per token; sliding-window (and chunked) layers keep the
last ``window - 1`` tokens; layers without attention (linear attention, state-space, MLP-only) hold none; layers
that reuse another layer's cache hold none; multi-head latent attention holds its compressed latent
(``kv_lora_rank + qk_rope_head_dim`` per token, one head), as transformers 5 and serving engines keep it.
"""

from __future__ import annotations

import math

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import UsageError
from paramcount.footprint.plan import bits
from paramcount.footprint.results import KVCache
from paramcount.numbers import human_bytes

if TYPE_CHECKING:
    from typing import Any

    from paramcount.report import Report


_NO_CACHE = {"linear_attention", "mamba", "mamba2", "conv", "moe", "mlp", "dummy", "recurrent", "ssm", "rwkv"}
_FIELDS = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num", "n_kv_heads"),
    "hidden": ("hidden_size", "n_embd", "d_model", "dim"),
}


def _get(config: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
        if value is not None:
            return value
    return None


def _text_config(config: Any) -> Any:
    """The configuration of a multimodal model's text (decoder) part; the configuration itself otherwise."""
    getter = getattr(config, "get_text_config", None)
    if callable(getter):
        try:
            return getter(decoder=True)
        except (TypeError, ValueError):
            return getter()
    if isinstance(config, dict) and isinstance(config.get("text_config"), dict):
        return config["text_config"]
    return config


def kv_cache(
    report: Report, config: Any, batch: int, seq: int, *, dtype: str, assumptions: list[str], devices: int = 1
) -> KVCache:
    """The KV cache for ``batch x seq`` tokens from the report's configuration, on one of ``devices`` tensor-parallel
    devices (each holds the ceiling of its share of the KV heads, at least one; a latent is held whole by each).

    Raises:
        UsageError: the target has no configuration, or it lacks the attention fields.
    """
    if config is None:
        raise UsageError(
            f"needs the model's configuration for its attention geometry, and {report.target} has none",
            option="seq",
            fix="count the model's folder or Hub id (with its config.json), or leave the sequence length out",
        )
    config = _text_config(config)
    layers = _get(config, _FIELDS["layers"])
    heads = _get(config, _FIELDS["heads"])
    if isinstance(heads, list):  # per layer (a GGUF array): the widest decides the default head_dim
        heads = max((h for h in heads if isinstance(h, int)), default=None)
    hidden = _get(config, _FIELDS["hidden"])
    if not isinstance(layers, int) or not isinstance(heads, int) or heads < 1 or layers < 1:
        raise UsageError(
            f"{report.target}'s configuration has no attention fields (num_hidden_layers, num_attention_heads): "
            "its KV cache cannot be derived",
            fix="leave the sequence length out",
        )
    kv_heads = _get(config, _FIELDS["kv_heads"])
    if kv_heads is None:
        kv_heads = 1 if _get(config, ("multi_query",)) is True else heads
    per_layer_heads = kv_heads if isinstance(kv_heads, list) and len(kv_heads) == layers else [kv_heads] * layers
    head_dim = _get(config, ("head_dim", "attention_head_size", "head_size"))
    if not isinstance(head_dim, int):
        if not isinstance(hidden, int):
            raise UsageError(
                f"{report.target}'s configuration gives neither head_dim nor hidden_size",
                fix="leave the sequence length out",
            )
        head_dim = hidden // heads
    v_head_dim = _get(config, ("v_head_dim",))
    value_dim = v_head_dim if isinstance(v_head_dim, int) else head_dim
    rank = _get(config, ("kv_lora_rank",))
    latent = isinstance(rank, int) and rank > 0
    rope = nope = 0
    if latent:
        rope = _get(config, ("qk_rope_head_dim",)) or 0
        nope = _get(config, ("qk_nope_head_dim",)) or 0
    # a per-layer KV head count of 0 (a GGUF array) marks a layer without attention
    kinds = [
        ("none", None) if h == 0 else k for k, h in zip(_layer_kinds(config, layers), per_layer_heads, strict=True)
    ]
    width = bits(dtype) or 16
    elements = expanded = per_token_elements = 0  # over the layers: held for the whole batch, and per token
    counts: dict[str, int] = {}
    for (kind, window), held_heads in zip(kinds, per_layer_heads, strict=True):
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "none":
            continue
        tokens = seq if window is None else min(seq, max(window - 1, 0))
        local_heads = -(-held_heads // devices)  # replicated when there are fewer KV heads than devices
        width_of_layer = rank + rope if latent else local_heads * (head_dim + value_dim)
        elements += tokens * width_of_layer
        per_token_elements += width_of_layer
        expanded += tokens * heads * (nope + rope + value_dim)
    cached = sum(n for kind, n in counts.items() if kind != "none")
    total = math.ceil(batch * elements * width / 8)
    per_token = math.ceil(per_token_elements * width / 8)
    heads_shown = (
        f"{kv_heads} KV heads"
        if not isinstance(kv_heads, list)
        else f"{min(per_layer_heads)}-{max(per_layer_heads)} KV heads"
    )
    shape = f"{heads_shown} × {head_dim}" if not latent else f"latent {rank + rope}"
    held = "key and value" if not latent else "key and value as one compressed latent"
    how = "as transformers' DynamicCache holds it after a prefill"
    if isinstance(report.config, dict) and report.config.get("source") == "gguf":
        how = f"geometry from the GGUF metadata ({report.config.get('architecture')}), no padding to a context size"
    assumptions.append(
        f"KV cache: {batch:,} × {seq:,} tokens in {dtype}, {cached} of {layers} layers ({shape} per token, {held}), "
        + how
    )
    windows = sorted({window for kind, window in kinds if window is not None})
    if windows:
        assumptions.append(
            f"{counts.get('sliding', 0) + counts.get('chunked', 0)} sliding-window layers keep the last "
            f"{', '.join(str(w - 1) for w in windows)} tokens (window − 1)"
        )
    if counts.get("none"):
        assumptions.append(f"{counts['none']} layers hold no KV cache (no attention, or they reuse another's)")
    if devices > 1:
        assumptions.append(
            f"tensor parallel over {devices} devices: each holds "
            + ("the whole latent cache (it is not split by heads)" if latent else "ceil(KV heads / devices) heads")
        )
    if latent:
        full = math.ceil(batch * expanded * width / 8)
        assumptions.append(
            f"multi-head latent attention: the compressed latent (kv_lora_rank {rank} + rope {rope}) is "
            f"held; expanded K/V ({heads} heads) would take {human_bytes(full)}"
        )
    return KVCache(total, per_token, cached, counts, dtype, latent)


def _layer_kinds(config: Any, layers: int) -> list[tuple[str, int | None]]:
    """Each layer's cache: ``("full", None)``, ``("sliding", window)``, ``("chunked", chunk)`` or ``("none", None)``."""
    types = _get(config, ("layer_types", "layers_block_type"))
    window = _get(config, ("sliding_window",))
    if _get(config, ("use_sliding_window",)) is False:
        window = None
    chunk = _get(config, ("attention_chunk_size",))
    kinds: list[tuple[str, int | None]] = []
    if isinstance(types, (list, tuple)) and len(types) == layers:
        for value in types:
            kind = str(value)
            if kind in ("sliding_attention", "hybrid_sliding", "reference_sliding_attention") and isinstance(
                window, int
            ):
                kinds.append(("sliding", window))
            elif kind == "chunked_attention" and isinstance(chunk, int):
                kinds.append(("chunked", chunk))
            elif kind in _NO_CACHE or "linear" in kind or "mamba" in kind:
                kinds.append(("none", None))
            else:
                kinds.append(("full", None))
    elif isinstance(window, int) and window > 0:
        kinds = [("sliding", window)] * layers
    else:
        kinds = [("full", None)] * layers
    modes = _get(config, ("kv_sharing_modes",))
    if isinstance(modes, (list, tuple)) and len(modes) == layers:
        kinds = [("none", None) if mode == "reuse" else kind for kind, mode in zip(kinds, modes, strict=True)]
    shared = _get(config, ("num_kv_shared_layers",))
    if isinstance(shared, int) and 0 < shared < layers and not isinstance(modes, (list, tuple)):
        kinds = kinds[: layers - shared] + [("none", None)] * shared
    return kinds


def beyond_context(report: Report, seq: int | None) -> str | None:
    """A warning when ``seq`` is longer than the model's configured context (``max_position_embeddings``)."""
    if seq is None or report.config is None:
        return None
    config = _text_config(report.config)
    longest = _get(config, ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"))
    if isinstance(longest, int) and 0 < longest < seq:
        return (
            f"the sequence length {seq:,} (--seq, seq=) is longer than the model's context ({longest:,} tokens, "
            "max_position_embeddings): the estimate is for a length the model was not configured for"
        )
    return None
