"""What each parameter is for — embedding, attention, MLP, expert, router, norm, head — and the conventions built on
those roles: non-embedding counts and the active parameters per token of a mixture-of-experts model.

A role comes from the tensor's name and, for live models, the type of the module that owns it (an ``nn.Embedding``
is an embedding whatever it is called); files have names and shapes only, GGUF's short names included
(``token_embd``, ``blk.0.ffn_gate_exps``). A short name such as ``embed`` says "embedding" only with the shape of
one (a 2-D ``weight``); without a module type or that shape the rules do not guess. The rules are a table, first
match wins; :class:`Roles` caches decisions on the module type, its path without layer indices, the tensor's name
and (where it decides) its number of dimensions, so a model of a thousand identical layers is classified once per
kind of tensor.

>>> role("model.layers.3.self_attn.q_proj.weight"), role("model.layers.0.mlp.experts.7.w1.weight")
('attention', 'routed_expert')
>>> role("blk.2.ffn_gate_inp.weight"), role("transformer.wpe.weight"), role("lm_head.weight")
('router', 'position_embedding', 'output_head')
>>> role("embed.weight", ndim=2), role("embed.weight"), role("embed.weight", ndim=4)
('embedding', 'other', 'other')
"""

from __future__ import annotations

from paramcount._typing import NamedTuple

__all__ = ["EMBEDDING_ROLES", "ROLES", "Conventions", "Roles", "conventions", "experts_of", "role"]

#: every role, in the order reports list them
ROLES = (
    "embedding",
    "position_embedding",
    "token_type_embedding",
    "attention",
    "mlp",
    "routed_expert",
    "shared_expert",
    "router",
    "norm",
    "output_head",
    "other",
)
#: what transformers' ``num_parameters(exclude_embeddings=True)`` leaves out (every ``nn.Embedding``)
EMBEDDING_ROLES = frozenset({"embedding", "position_embedding", "token_type_embedding"})

# Name components (lower case) that decide a role; checked from the most specific rule to the most general.
_SHARED = ("shared_expert", "shared_experts", "shared_mlp")
_EXPERTS = ("experts",)
_ROUTER = ("gate", "router", "gate_inp", "ffn_gate_inp", "switch", "e_score_correction_bias")
_TOKEN_TYPE = ("token_type_embeddings", "token_types")
_POSITION = (
    "wpe", "position_embeddings", "embed_positions", "pos_embed", "position_embedding", "relative_attention_bias",
    "rel_pos", "relative_position_bias_table", "pos_emb", "position_embeds_layer",
)  # fmt: skip
_EMBEDDING = (
    "embed_tokens", "wte", "word_embeddings", "tok_embeddings", "token_embd", "embed_in", "shared", "embeddings",
    "input_embeds_layer", "embedding", "emb", "tok_embedding",
)  # fmt: skip
# Names that are an embedding only when the tensor has an embedding's shape (a 2-D ``weight``): alone they also name
# projections ("embed" is nn.Embedding in paramcount.examples and many scripts, an nn.Linear or a Conv2d in others).
_EMBEDDING_BY_SHAPE = (
    "embed", "embeds", "embed_token", "token_embedding", "token_embeddings", "word_embedding", "tok_emb", "token_emb",
    "word_emb",
)  # fmt: skip
_HEAD = ("lm_head", "embed_out", "proj_out", "classifier", "score", "cls", "lm_heads", "qa_outputs")
_ATTENTION = (
    "attn", "attention", "self_attn", "cross_attn", "selfattention", "encdecattention", "q_proj", "k_proj", "v_proj",
    "o_proj", "qkv_proj", "c_attn", "query", "key", "value", "wq", "wk", "wv", "wo", "query_key_value", "attn_q",
    "attn_k", "attn_v", "attn_output", "attn_qkv", "mixer",
)  # fmt: skip
_MLP = (
    "mlp", "ffn", "feed_forward", "feedforward", "intermediate", "fc1", "fc2", "gate_proj", "up_proj", "down_proj",
    "w1", "w2", "w3", "c_fc", "dense_h_to_4h", "dense_4h_to_h", "ffn_up", "ffn_down", "ffn_gate", "densereludense",
    "gate_up_proj", "output",
)  # fmt: skip


def _is_norm(part: str) -> bool:
    return "norm" in part or part.startswith("ln") or part in ("ln_f", "final_layer_norm")


def role(name: str, module_type: str = "", ndim: int | None = None) -> str:
    """The role of the parameter ``name`` (its full dotted name), whose module is of class ``module_type``, with
    ``ndim`` dimensions (``None``: unknown)."""
    module, _, tensor = name.rpartition(".")
    return Roles().of(module_type, module, tensor, ndim)


_DIGITS = str.maketrans("", "", "0123456789")


class Roles:
    """Roles of many tensors, decided once per kind of module: the cache key is the module's type, its path without
    layer indices (its last components) and the tensor's own name, so a thousand identical layers cost one
    decision per tensor of a layer."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str, int | None], str] = {}

    def of(self, module_type: str, module: str, tensor: str, ndim: int | None = None) -> str:
        """The role of ``module.tensor``; ``ndim``, its number of dimensions, decides only where :meth:`by_shape`."""
        tail = module.translate(_DIGITS)[-80:]
        key = (module_type, tail, tensor, ndim if self.by_shape(module_type, module, tensor) else None)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = _decide(f"{module}.{tensor}" if module else tensor, module_type, key[3])
        return found

    @staticmethod
    def by_shape(module_type: str, module: str, tensor: str) -> bool:
        """Whether the role of ``module.tensor`` depends on its shape: a weight of a module without a type whose
        name is an embedding's only with an embedding's shape (``embed.weight``). A caller that caches roles by
        name must not cache these."""
        if module_type or tensor != "weight":
            return False
        last = module.rpartition(".")[2]
        if last.isdigit():
            last = next((p for p in reversed(module.split(".")) if p and not p.isdigit()), "")
        return last.lower() in _EMBEDDING_BY_SHAPE


def _decide(name: str, module_type: str, ndim: int | None = None) -> str:
    whole = name.count(".") < 5  # the name is short enough that its first component is the model's own
    parts = [p for p in name.lower().split(".") if p and not p.isdigit()]
    owner = parts[:-1] if len(parts) > 1 else parts  # module names above the tensor's own name
    kind = module_type.lower()
    if "norm" in kind or any(_is_norm(p) for p in owner[-1:]):
        return "norm"
    if any(p in _SHARED or p.startswith("shared_expert") for p in owner) or any(p.endswith("_shexp") for p in parts):
        return "shared_expert"
    if any(p in _EXPERTS for p in owner) or any(p.endswith("_exps") for p in parts) or "expert" in kind:
        return "routed_expert"
    if any(p in _ROUTER for p in parts[-2:]) or "router" in kind or "topk" in kind:
        return "router"
    if any(p in _TOKEN_TYPE for p in owner):
        return "token_type_embedding"
    if any(p in _POSITION for p in owner) or ("embedding" in kind and any("pos" in p for p in owner)):
        return "position_embedding"
    if kind == "embedding" or any(p in _EMBEDDING for p in owner[-1:]) or (whole and owner[:1] == ["shared"]):
        return "embedding"
    if not kind and ndim == 2 and parts[-1:] == ["weight"] and any(p in _EMBEDDING_BY_SHAPE for p in owner[-1:]):
        return "embedding"
    if (owner and (owner[0] in _HEAD if whole else owner[-1] in _HEAD)) or (whole and owner[:1] == ["output"]):
        return "output_head"
    if any(_is_norm(p) for p in owner):
        return "norm"
    if any(p in _ATTENTION or p.startswith("attn") for p in owner) or "attention" in kind:
        return "attention"
    if any(p in _MLP or p.startswith("ffn") for p in owner) or "mlp" in kind:
        return "mlp"
    return "other"


def experts_of(config: object) -> tuple[int, int] | None:
    """``(experts per token, routed experts)`` from a model configuration (an object or a dict), if it has them.

    Mixtral's ``num_local_experts``, Qwen-MoE's ``num_experts``, DeepSeek's ``n_routed_experts``; the top-k is
    ``num_experts_per_tok`` (or ``moe_topk``, ``top_k``). A text configuration nested in a multimodal one is read.

    >>> experts_of({"num_local_experts": 8, "num_experts_per_tok": 2})
    (2, 8)
    """

    def get(name: str) -> object:
        return config.get(name) if isinstance(config, dict) else getattr(config, name, None)

    experts = next((v for n in ("n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts")
                    if isinstance(v := get(n), int) and v > 1), None)  # fmt: skip
    top_k = next((v for n in ("num_experts_per_tok", "moe_topk", "top_k", "num_experts_per_token")
                  if isinstance(v := get(n), int) and v > 0), None)  # fmt: skip
    if experts is not None and top_k is not None:
        return top_k, experts
    for nested in ("text_config", "language_config", "llm_config"):
        inner = get(nested)
        if inner is not None and inner is not config:
            found = experts_of(inner)
            if found is not None:
                return found
    return None


class Conventions(NamedTuple):
    """The counts people plan with, each by a named formula over the roles.

    Attributes:
        total: every parameter, once.
        non_embedding: ``total`` minus every embedding (token, position, token type): transformers'
            ``num_parameters(exclude_embeddings=True)``.
        kaplan_non_embedding: ``total`` minus token and position embeddings (Kaplan et al. 2020's N); an untied
            output head is counted, a head tied to the token embedding is not (it is that embedding).
        trainable: parameters with ``requires_grad`` (``None`` when unknowable).
        active_per_token: for a mixture of experts, every parameter but the routed experts, plus ``top_k / E`` of
            them (the shared experts and the router are always active); for a dense model, ``total``; ``None`` for a
            mixture of experts whose ``top_k`` and ``E`` are not known.
        experts_per_token: ``top_k`` used, or ``None``.
        experts: ``E`` used, or ``None``.
    """

    total: int | None
    non_embedding: int | None
    kaplan_non_embedding: int | None
    trainable: int | None
    active_per_token: int | None
    experts_per_token: int | None = None
    experts: int | None = None


def conventions(
    total: int | None, trainable: int | None, by_role: dict[str, int], experts: tuple[int, int] | None
) -> Conventions:
    """The conventions from the total and the parameters of each role.

    >>> conventions(100, 100, {"embedding": 10, "routed_expert": 80, "router": 2}, (2, 8)).active_per_token
    40
    """
    if total is None:
        return Conventions(None, None, None, trainable, None)
    embeddings = sum(by_role.get(r, 0) for r in EMBEDDING_ROLES)
    kaplan = total - by_role.get("embedding", 0) - by_role.get("position_embedding", 0)
    routed = by_role.get("routed_expert", 0)
    active: int | None = total
    top_k = count = None
    if routed:
        if experts is None:
            active = None
        else:
            top_k, count = experts
            active = total - routed + routed * min(top_k, count) // count
    return Conventions(total, total - embeddings, kaplan, trainable, active, top_k, count)
