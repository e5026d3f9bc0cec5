"""Which stored tensors are not parameters, by name and shape, with the reason each is left out.

A checkpoint file stores parameters and buffers alike; these rules recognise the buffers that common
architectures persist, so that a file's parameter count matches the model's. Every tensor they exclude is listed
in the report with its reason.

>>> classify("encoder.layer.0.bn.running_mean", (64,))
'batchnorm-statistics'
>>> classify("h.0.attn.bias", (1, 1, 1024, 1024)), classify("h.0.attn.c_attn.bias", (2304,))
('attention-mask', None)
>>> classify("model.layers.0.self_attn.q_proj.qzeros", (32, 512))
'quantization-auxiliary'
"""

from __future__ import annotations

from paramcount.records import Kind, TensorRecord

__all__ = ["REASONS", "classify", "role", "tie_output_head"]

#: why each class of tensor is not counted as parameters
REASONS: dict[str, str] = {
    "batchnorm-statistics": "BatchNorm running statistics are buffers, updated by forward passes, not trained",
    "rotary-frequencies": "rotary embedding inverse frequencies are buffers computed from the config",
    "attention-mask": "causal attention masks are constant buffers",
    "position-ids": "position id tables are constant buffers",
    "not-in-index": "stored in a shard but missing from the index's weight_map, so the model never loads it",
    "optimizer-state": "optimizer state (moments, step counters) saved beside the model, not part of it",
    "ema-copy": "an exponential-moving-average copy of the weights, saved beside the model",
    "training-state": "trainer bookkeeping (schedulers, callbacks, loops, loss scalers), not part of the model",
    "module-attribute": "a plain tensor attribute of a pickled module, not registered as a parameter or buffer",
    "buffer": "registered as a buffer of its module, not a parameter",
    "quantization-auxiliary": "quantization scales, zero points, absmax, group indices or quant-state metadata "
    "that support a quantized weight; they are overhead, not parameters",
}

_SUFFIXES = {
    "running_mean": "batchnorm-statistics",
    "running_var": "batchnorm-statistics",
    "num_batches_tracked": "batchnorm-statistics",
    "inv_freq": "rotary-frequencies",
    "masked_bias": "attention-mask",
    "position_ids": "position-ids",
    # bitsandbytes (4-bit quant state, 8-bit SCB), GPTQ/AWQ, FP8 and compressed-tensors (reference/formats.md 7)
    **dict.fromkeys(
        (
            "absmax",
            "quant_map",
            "nested_absmax",
            "nested_quant_map",
            "bitsandbytes__nf4",
            "bitsandbytes__fp4",
            "SCB",
            "weight_format",
            "qzeros",
            "scales",
            "g_idx",
            "weight_scale",
            "weight_scale_inv",
            "input_scale",
            "weight_zero_point",
            "weight_g_idx",
            "weight_shape",
            "weight_global_scale",
            "input_global_scale",
        ),
        "quantization-auxiliary",
    ),
}


def classify(name: str, shape: tuple[int, ...]) -> str | None:
    """The class of a stored tensor that is not a parameter, or ``None`` for a parameter."""
    last = name.rpartition(".")[2]
    what = _SUFFIXES.get(last)
    if what is not None:
        return what
    # GPT-2 style `attn.bias` is the (1, 1, n, n) causal mask; a real attention bias is one-dimensional.
    if name.endswith("attn.bias") and len(shape) == 4:
        return "attention-mask"
    return None


def role(name: str, shape: tuple[int, ...]) -> tuple[Kind, str | None]:
    """The kind of a stored tensor from its name and shape, with its class when it is not a parameter.

    >>> role("bn.running_var", (8,))
    (<Kind.BUFFER: 'buffer'>, 'batchnorm-statistics')
    >>> role("fc.scales", (4, 8))[0], role("fc.weight", (8, 8))
    (<Kind.AUXILIARY: 'auxiliary'>, (<Kind.PARAMETER: 'parameter'>, None))
    """
    what = classify(name, shape)
    if what is None:
        return Kind.PARAMETER, None
    return (Kind.AUXILIARY if what == "quantization-auxiliary" else Kind.BUFFER), what


# Input embeddings an untied-on-disk output head may share under tie_word_embeddings, by name suffix.
_EMBEDDINGS = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "tok_embeddings.weight",
    "embed_in.weight",
)
_HEADS = ("lm_head.weight", "embed_out.weight")


def tie_output_head(records: list[TensorRecord]) -> tuple[list[TensorRecord], tuple[str, str] | None]:
    """Give an output head its input embedding's identity, for a model whose configuration ties them.

    Returns:
        The records, and ``(head, embedding)`` names when a head was tied (``None`` when there is no head, or no
        embedding of its shape and dtype).
    """
    by_name = {r.name: r for r in records}
    head = next((by_name[n] for n in _HEADS if n in by_name), None)
    if head is None:
        return records, None  # saved without the tied head (save_pretrained drops it): nothing to do
    embedding = next(
        (r for r in records if r.name.endswith(_EMBEDDINGS) and r.shape == head.shape and r.dtype == head.dtype), None
    )
    if embedding is None or embedding.identity is None:
        return records, None
    tied = head._replace(identity=embedding.identity)
    return [tied if r is head else r for r in records], (head.name, embedding.name)
