"""Which stored tensors are not parameters, by name and shape, with the reason each is left out.

A checkpoint file stores parameters and buffers alike; these rules recognise the buffers that common
architectures persist, so that a file's parameter count matches the model's. Every tensor they exclude is listed
in the report with its reason. :func:`stored` builds the record of a stored tensor for every file reader.

>>> classify("encoder.layer.0.bn.running_mean", (64,))
<Role.BATCHNORM_STATISTICS: 'batchnorm-statistics'>
>>> classify("h.0.attn.bias", (1, 1, 1024, 1024)), classify("h.0.attn.c_attn.bias", (2304,))
(<Role.ATTENTION_MASK: 'attention-mask'>, None)
>>> classify("model.layers.0.self_attn.q_proj.qzeros", (32, 512))
<Role.QUANTIZATION_AUXILIARY: 'quantization-auxiliary'>
"""

from __future__ import annotations

import math
import re

from paramcount._typing import TYPE_CHECKING
from paramcount.quant import AUXILIARY_SUFFIXES
from paramcount.records import Kind, Note, Role, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = ["REASONS", "classify", "role", "section", "stored", "tie_output_head"]

#: why each class of tensor is not counted as parameters
REASONS: dict[Role, str] = {
    Role.BATCHNORM_STATISTICS: "BatchNorm running statistics are buffers, updated by forward passes, not trained",
    Role.ROTARY_FREQUENCIES: "rotary embedding inverse frequencies are buffers computed from the config",
    Role.ATTENTION_MASK: "causal attention masks are constant buffers",
    Role.POSITION_IDS: "position id tables are constant buffers",
    Role.NOT_IN_INDEX: "stored in a shard but missing from the index's weight_map, so the model never loads it",
    Role.OPTIMIZER_STATE: "optimizer state (moments, step counters) saved beside the model, not part of it",
    Role.EMA_COPY: "an exponential-moving-average copy of the weights, saved beside the model",
    Role.TRAINING_STATE: "trainer bookkeeping (schedulers, callbacks, loops, loss scalers), not part of the model",
    Role.MODULE_ATTRIBUTE: "a plain tensor attribute of a pickled module, not registered as a parameter or buffer",
    Role.BUFFER: "registered as a buffer of its module, not a parameter",
    Role.QUANTIZATION_AUXILIARY: "quantization scales, zero points, absmax, group indices or quant-state metadata "
    "that support a quantized weight; they are overhead, not parameters",
    Role.KNOWN_BUFFER: "a name transformers models register as a persistent buffer (a logits bias, a routing "
    "correction, a codebook, a quantization range); guessed from the name: no architecture confirmed it",
    Role.BASE_COPY: "a copy of a base-model layer saved with the adapter (modules_to_save, save_embedding_layers): "
    "it replaces that layer when the adapter is loaded, it does not add to the model",
    Role.UNEXPECTED: "stored in the file but not a tensor of the architecture config.json names: the model would "
    "not load it",
    Role.IGNORED: "stored, but the architecture's loader ignores it by rule (transformers' "
    "_keys_to_ignore_on_load_unexpected, or an older checkpoint's rotary inv_freq or position_ids): loading drops it",
    Role.DUPLICATE: "a second stored name that loads into the same tensor of the model as another stored name (with "
    "and without the base model's prefix): one overwrites the other",
}

_SUFFIXES: dict[str, Role] = {
    "running_mean": Role.BATCHNORM_STATISTICS,
    "running_var": Role.BATCHNORM_STATISTICS,
    "num_batches_tracked": Role.BATCHNORM_STATISTICS,
    "inv_freq": Role.ROTARY_FREQUENCIES,
    "masked_bias": Role.ATTENTION_MASK,
    "position_ids": Role.POSITION_IDS,
    # bitsandbytes, GPTQ/AWQ, FP8 and compressed-tensors auxiliaries: quant.py's table names them
    **dict.fromkeys(AUXILIARY_SUFFIXES, Role.QUANTIZATION_AUXILIARY),
}

# Names transformers architectures register as persistent buffers, from the generated architecture table
# (scripts/architectures.py): distinctive enough to recognise in a file without its architecture, and listed in a
# warning when they decide a count, since only the architecture can confirm them.
_KNOWN_BUFFERS = frozenset(
    (
        "final_logits_bias",  # BART, Pegasus, Marian, mBART, Blenderbot, PLBart, ...
        "e_score_correction_bias",  # DeepSeek-V3 and the MoE routers that copy it
        "balancing_biases",
        "relative_position_index",  # Swin-style windowed attention
        "diagonal_decay",  # MiniMax lightning attention
        "key_decay",
        "query_decay",
        "slope_rate",
        "cluster_size",  # EnCodec, DAC, Mimi vector-quantizer codebooks
        "embed_avg",
        "cluster_usage",
        "embed_sum",
        "act_scaling_factor",  # I-BERT integer-only quantization
        "weight_integer",
        "weight_scaling_factor",
        "bias_integer",
        "fc_scaling_factor",
        "num_points_scale",  # deformable attention
        "n_points_scale",
        "latent_stats_num_updates",
    )
)
# Buffers whose last name is too common to recognise alone: matched by their last two names.
_KNOWN_BUFFER_PAIRS = frozenset(
    ("codebook.embed", "codebook.inited", "codebook.initialized", "activation.x_min", "activation.x_max")
)

_PAIR_LASTS = frozenset(pair.rpartition(".")[2] for pair in _KNOWN_BUFFER_PAIRS)

# Top-level entries of a training checkpoint that are not the model, by key (case-insensitive patterns, compiled
# by re on first use: a safetensors count needs none).
_SECTIONS = (
    (r"optim", Role.OPTIMIZER_STATE),
    (r"^(model_)?ema(_model|_state_dict)?$|^model_ema$", Role.EMA_COPY),
    (r"sched|^callbacks$|^loops$|^amp$|^scaler$|^grad_scaler$", Role.TRAINING_STATE),
)


def classify(name: str, shape: tuple[int, ...]) -> Role | None:
    """The role of a stored tensor that is not a parameter, or ``None`` for a parameter."""
    last = name.rpartition(".")[2]
    found = _SUFFIXES.get(last)
    if found is not None:
        return found
    # GPT-2 style `attn.bias` is the (1, 1, n, n) causal mask; a real attention bias is one-dimensional.
    if name.endswith("attn.bias") and len(shape) == 4:
        return Role.ATTENTION_MASK
    if last in _KNOWN_BUFFERS or (last in _PAIR_LASTS and ".".join(name.rsplit(".", 2)[-2:]) in _KNOWN_BUFFER_PAIRS):
        return Role.KNOWN_BUFFER
    return None


def role(name: str, shape: tuple[int, ...]) -> tuple[Kind, Role | None]:
    """The kind of a stored tensor from its name and shape, with its role when it is not a parameter.

    >>> role("bn.running_var", (8,))
    (<Kind.BUFFER: 'buffer'>, <Role.BATCHNORM_STATISTICS: 'batchnorm-statistics'>)
    >>> role("fc.scales", (4, 8))[0], role("fc.weight", (8, 8))
    (<Kind.AUXILIARY: 'auxiliary'>, (<Kind.PARAMETER: 'parameter'>, None))
    """
    found = classify(name, shape)
    if found is None:
        return Kind.PARAMETER, None
    return (Kind.AUXILIARY if found is Role.QUANTIZATION_AUXILIARY else Kind.BUFFER), found


def section(key: str) -> Role | None:
    """The role of everything under a top-level checkpoint key that is not the model (optimizer, EMA, trainer).

    >>> [section(key).value for key in ("optimizer_states", "model_ema", "lr_scheduler")], section("state_dict")
    (['optimizer-state', 'ema-copy', 'training-state'], None)
    """
    return next((found for pattern, found in _SECTIONS if re.search(pattern, key, re.IGNORECASE)), None)


def stored(
    name: str,
    shape: tuple[int, ...],
    dtype: str,
    *,
    stored_bytes: int | None,
    identity: Hashable | None,
    stored_elements: int | None = -1,
    elements: int | None = None,
    module: str | None = None,
    kind: Kind | None = None,
    why: Role | None = None,
    trainable: bool | None = None,
    persistent: bool | None = None,
    notes: tuple[Note, ...] = (),
) -> TensorRecord:
    """The record of a tensor stored in a file: every reader builds its records here.

    Args:
        name: the tensor's full name.
        shape: its logical shape.
        dtype: its canonical dtype name.
        stored_bytes: bytes the file holds for it.
        identity: its "same tensor?" key within the file (``None``: unique).
        stored_elements: elements the file holds for it: its logical elements unless given; ``None`` when unknown.
        elements: its logical elements, when already computed; ``prod(shape)`` otherwise.
        module: the module owning it; the name up to its last dot when not given.
        kind: its kind when the file's structure says (a module pickle's ``_buffers``); else the name rules decide.
        why: its role when ``kind`` is not a parameter (or to set one, such as an optimizer section's).
        trainable: ``requires_grad``, when the file records it (a pickled ``Parameter``).
        persistent: whether a buffer is saved by ``state_dict``; a stored buffer is, unless the file says.
        notes: how the figures were obtained.

    >>> r = stored("bn.running_mean", (8,), "float32", stored_bytes=32, identity=0)
    >>> r.kind, r.notes, r.persistent, r.module
    (<Kind.BUFFER: 'buffer'>, (<Role.BATCHNORM_STATISTICS: 'batchnorm-statistics'>,), True, 'bn')
    """
    if kind is None:
        kind, found = role(name, shape) if why is None else (Kind.TENSOR, why)
        why = why or found
    if elements is None:
        elements = math.prod(shape)
    if kind is Kind.BUFFER and persistent is None:
        persistent = True
    return TensorRecord(
        name=name,
        module=name.rpartition(".")[0] if module is None else module,
        kind=kind,
        shape=shape,
        elements=elements,
        dtype=dtype,
        stored_elements=elements if stored_elements == -1 else stored_elements,
        stored_bytes=stored_bytes,
        identity=identity,
        trainable=trainable if kind is Kind.PARAMETER else None,
        persistent=persistent if kind is Kind.BUFFER else None,
        notes=(*((why,) if why is not None else ()), *notes),
    )


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
