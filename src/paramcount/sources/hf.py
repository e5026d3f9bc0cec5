"""transformers models built on the meta device from a configuration, and what their checkpoints hold.

This is the one module that asks transformers about an architecture. It serves three callers:

- counting a model named by its ``config.json`` (no weights): :func:`build` makes the model on the meta device,
  and the live-module source counts it;
- counting weight files whose architecture paramcount's table does not know (``--architecture build``):
  :func:`describe` lists the names a checkpoint of the model holds, which are parameters, which are persistent
  buffers, and which names are ties of one tensor;
- ``scripts/architectures.py``, which runs :func:`describe` over every class transformers can build and writes the
  table (``paramcount/architectures/<model_type>.json``) that answers the same questions without torch.

Names are those of the checkpoint on disk, not of the live model: transformers 5 renames and fuses some weights
when it loads them (Mixtral's per-expert ``w1``/``w2``/``w3`` become one ``experts.gate_up_proj``), and
:func:`describe` reverses that as ``save_pretrained`` does.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, quote

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    import torch

__all__ = ["build", "describe", "pattern", "quiet"]

_INDEX = re.compile(r"(?:(?<=\.)|^)\d+(?=\.|$)")


def pattern(name: str) -> str:
    """A tensor name with its layer indices replaced by ``*``, so that one entry covers every layer.

    >>> pattern("model.layers.12.mlp.experts.3.w1.weight"), pattern("0.weight")
    ('model.layers.*.mlp.experts.*.w1.weight', '*.weight')
    """
    return _INDEX.sub("*", name)


@contextmanager
def quiet() -> Iterator[None]:
    """transformers' and torch's log chatter silenced (warnings about defaults, deprecated options, kernels), and
    put back as it was afterwards. torch is imported first: it configures its loggers when imported."""
    import logging
    import warnings

    import torch  # noqa: F401 -- see above

    loggers = [logging.getLogger(name) for name in ("transformers", "torch", "torchao", "bitsandbytes")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _transformers(target: str) -> Any:
    try:
        with quiet():
            import transformers
    except ImportError:
        raise TargetError(
            "building a model from its configuration needs transformers, which is not installed",
            target=target,
            fix="pip install 'paramcount[transformers]'",
        ) from None
    return transformers


def config_object(document: Mapping[str, Any], target: str) -> Any:
    """The transformers configuration object of a ``config.json`` document (its ``model_type``'s class)."""
    transformers = _transformers(target)
    model_type = document.get("model_type")
    mapping = transformers.CONFIG_MAPPING
    if not isinstance(model_type, str) or model_type not in mapping:
        raise TargetError(
            f"config.json's model_type {quote(model_type)} is not one transformers {transformers.__version__} knows",
            target=target,
            fix="upgrade transformers, or check the config",
        )
    config_class = mapping[model_type]
    # from_pretrained reads config.json through _dict_from_json_file, which decodes the {"__float__": "Infinity"}
    # objects to_json writes for floats JSON cannot hold (FalconH1's time_step_limit); from_dict alone does not
    decode = getattr(config_class, "_decode_special_floats", None)
    values = decode(dict(document)) if callable(decode) else dict(document)
    try:
        with quiet():
            return config_class.from_dict(values)
    except Exception as e:  # a config class validating its values: any exception is a bad config
        raise TargetError(
            f"transformers cannot read config.json as a {model_type} configuration ({_first_line(e)})",
            target=target,
            fix="check the config's values",
        ) from None


def model_class(name: str, target: str) -> Any:
    """The transformers model class called ``name``, or a TargetError."""
    transformers = _transformers(target)
    try:
        with quiet():
            found = getattr(transformers, name)
    except Exception:  # AttributeError, or a lazy module failing to import its backend
        found = None
    if not isinstance(found, type) or not hasattr(found, "config_class"):
        raise TargetError(
            f"config.json names the architecture {quote(name)}, which transformers {transformers.__version__} does "
            "not have",
            target=target,
            fix="upgrade transformers, or fix config.json's 'architectures'",
        )
    return found


def build(cls: Any, config: Any, target: str) -> torch.nn.Module:
    """``cls(config)`` on the meta device, weights not initialised (there is no data to initialise), ties made.

    Raises:
        TargetError: the constructor fails.
    """
    import torch
    from transformers.initialization import no_init_weights

    try:
        with quiet(), torch.device("meta"), no_init_weights():
            model = cls(config)
        with quiet():
            model.tie_weights()
    except Exception as e:  # the model's own code: any exception means it cannot be built from this config
        raise TargetError(
            f"transformers cannot build {cls.__name__} from this config ({_first_line(e)})",
            target=target,
            fix="check the config's values",
        ) from None
    return model  # type: ignore[no-any-return]


def describe(model: Any) -> dict[str, Any]:
    """What ``from_pretrained`` expects of a checkpoint of ``model``, and the rules it loads one by.

    Returns:
        A table entry (:mod:`paramcount.sources.loader`), names as the model spells them at run time, layer indices
        as ``*``:

        - ``prefix``: the base model's attribute name;
        - ``parameters`` / ``buffers``: patterns of the state dict's parameters and persistent buffers;
        - ``ties``: groups of patterns (or exact names) that reach one tensor in the model;
        - ``tie_keys``: the ``(target, source)`` pairs transformers ties at load, in its order;
        - ``transforms``: the weight transforms a load applies to stored names (renames, fused experts), and
          ``legacy: false`` when transformers' shared legacy renames are not among them;
        - ``ignore_missing`` / ``ignore_unexpected``: the regular expressions the load report drops;
        - ``unsaved``: parameters ``save_pretrained`` leaves out because the model makes them (Marian's sinusoidal
          positions), as ``{name: [shape, dtype]}`` (the table keeps only their names: shapes follow the config);
        - ``keys``: every state-dict key, for an exact list of missing keys (the table keeps ``stacks`` instead).
        - ``untranslatable``: a transform paramcount cannot replay, by class name (the count then builds the model).
    """
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping, get_model_conversion_mapping

    state = model.state_dict(keep_vars=True)  # keep_vars: tied names map to one object, as in the model
    parameter_names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    unsaved = {
        name: [list(state[name].shape), str(state[name].dtype).removeprefix("torch.")]
        for name in sorted(getattr(model, "_keys_to_ignore_on_save", None) or ())
        if name in state and name in parameter_names
    }
    first: dict[int, str] = {}
    groups: dict[str, list[str]] = {}
    for name, tensor in state.items():
        owner = first.setdefault(id(tensor), name)
        if owner != name:
            groups.setdefault(owner, [owner]).append(name)
    with quiet():
        transforms = get_model_conversion_mapping(model, add_legacy=False)
        legacy = get_checkpoint_conversion_mapping("legacy") or []  # type: ignore[no-untyped-call]
    serialised, untranslatable = [], []
    for transform in transforms:
        data = transform_entry(transform)
        if data is None:
            untranslatable.append(type(transform).__name__)
        else:
            serialised.append(data)
    buffers = {name for name, _ in model.named_buffers()}
    ignore_unexpected = set(getattr(model, "_keys_to_ignore_on_load_unexpected", None) or ())
    if any(name.endswith("rotary_emb.inv_freq") for name in buffers):  # _adjust_missing_and_unexpected_keys
        ignore_unexpected.add(r"rotary_emb\.inv_freq")
    if any(name.endswith("position_ids") for name in buffers):
        ignore_unexpected.add(r"(^|\.)position_ids$")
    tie_keys = [(str(a), str(b)) for a, b in (getattr(model, "all_tied_weights_keys", None) or {}).items()]
    entry: dict[str, Any] = {
        "prefix": getattr(model, "base_model_prefix", "") or "",
        "parameters": sorted({pattern(n) for n in state if n in parameter_names}),
        "buffers": sorted({pattern(n) for n in state if n not in parameter_names}),
        "ties": [list(group) for group in sorted(_tie_patterns(list(groups.values()), state)) if len(set(group)) > 1],
        "tie_keys": _pair_patterns(tie_keys, state),
        "transforms": serialised,
        "ignore_missing": sorted(getattr(model, "_keys_to_ignore_on_load_missing", None) or ()),
        "ignore_unexpected": sorted(ignore_unexpected),
        "unsaved": unsaved,
        "keys": list(state),
        "shapes": {name: list(tensor.shape) for name, tensor in state.items()},
        "dtypes": {name: str(tensor.dtype).removeprefix("torch.") for name, tensor in state.items()},
    }
    owners = _tie_owners(model)
    if owners:
        entry["tie_owners"] = owners
    if not legacy or any(t in transforms for t in legacy):
        entry["legacy"] = False
    if untranslatable:
        entry["untranslatable"] = untranslatable
    return entry


def _tie_owners(model: Any) -> dict[str, str]:
    """The sub-models that tie their own weights by their own configuration's ``tie_word_embeddings`` (a
    VisionEncoderDecoder's ``decoder``): module prefix -> the key of that configuration in config.json."""
    from transformers import PreTrainedModel

    config = model.config
    found: dict[str, str] = {}
    for prefix, module in model.named_modules():
        if not prefix or not isinstance(module, PreTrainedModel) or not module.get_expanded_tied_weights_keys():
            continue
        for key in getattr(config, "sub_configs", {}) or {}:
            if getattr(config, key, None) is module.config:
                found[prefix] = key
                break
    return found


def transform_entry(transform: Any) -> dict[str, Any] | None:
    """One of transformers' weight transforms as the table stores it, or ``None`` for a kind paramcount cannot
    replay (:mod:`paramcount.sources.loader`)."""
    from transformers import core_model_loading as cml

    base_rename = cml.WeightTransform.rename_source_key
    kinds = [
        (cml.LayerPairCollapse, "pairs"),
        (cml.GroupWeightRename, "group"),
        (cml.Inkling2IndexOffsetWeightRename, "offset"),
        (cml.WeightConverter, "convert"),
        (cml.WeightRenaming, "rename"),
    ]
    kind = next((k for cls, k in kinds if isinstance(transform, cls)), None)
    if kind is None:
        return None
    if kind in ("rename", "convert") and type(transform).rename_source_key is not base_rename:
        return None  # a subclass with its own renaming: not replayed
    data: dict[str, Any] = {
        "kind": kind,
        "sources": list(transform.source_patterns),
        "targets": list(transform.target_patterns),
    }
    if transform.scope_prefix is not None:
        data["scope"] = transform.scope_prefix
    if transform.base_model_prefix is not None:
        data["base"] = transform.base_model_prefix
    if kind == "offset":
        data["offset"] = int(transform.offset)
    if kind == "convert":
        data["ops"] = [_op(op) for op in transform.operations]
    return data


def _op(op: Any) -> list[Any]:
    """A conversion op by class name, with the dimensions the shape of its result depends on."""
    name = type(op).__name__
    if name == "Transpose":  # with check_dims, transformers transposes only a tensor not already the model's shape
        flag = [1] if getattr(op, "check_dims", False) else []
        return [name, int(getattr(op, "dim0", 0)), int(getattr(op, "dim1", 1)), *flag]
    dim = getattr(op, "dim", None)
    return [name] if not isinstance(dim, int) else [name, dim]


def _pair_patterns(pairs: list[tuple[str, str]], state: Mapping[str, Any]) -> list[list[str]]:
    """Tie pairs as layer-index patterns where every index is tied alike (``layers.3.x`` to ``layers.3.y`` for
    every layer), else as exact names; transformers' order kept."""
    by_pattern: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for pair in pairs:
        by_pattern.setdefault((pattern(pair[0]), pattern(pair[1])), []).append(pair)
    out: list[list[str]] = []
    for patterns, concrete in by_pattern.items():
        instances = sum(1 for n in state if pattern(n) == patterns[0])
        alike = all(_INDEX.findall(a) == _INDEX.findall(b) or not _INDEX.findall(b) for a, b in concrete)
        if instances == len(concrete) and alike:
            out.append(list(patterns))
        else:
            out.extend(list(pair) for pair in concrete)
    return out


def _tie_patterns(groups: list[list[str]], stored: Mapping[str, Any]) -> set[tuple[str, ...]]:
    """Tie groups as layer-index patterns where that is exact, else as the names themselves.

    A pattern group says "at every index these names are one tensor"; that is wrong when only some indices are
    tied (UDOP ties its encoder's and decoder's first relative-bias table, not the others), so such groups keep
    their exact names, which the matcher looks up before patterns.
    """
    by_pattern: dict[tuple[str, ...], list[list[str]]] = {}
    for group in groups:
        by_pattern.setdefault(tuple(pattern(n) for n in group), []).append(group)
    ties: set[tuple[str, ...]] = set()
    for patterns, concrete in by_pattern.items():
        if len(set(patterns)) <= 1:
            continue
        covered = {n for group in concrete for n in group}
        instances = {n for n in stored if pattern(n) in patterns}
        if instances <= covered:
            ties.add(patterns)
        else:
            ties.update(tuple(group) for group in concrete)
    return ties


def text_config_tie(config: Any) -> bool | None:
    """The ``tie_word_embeddings`` a built model follows: the config's own, else its text configuration's."""
    value = getattr(config, "tie_word_embeddings", None)
    if isinstance(value, bool):
        return value
    get_text_config = getattr(config, "get_text_config", None)
    text = get_text_config() if callable(get_text_config) else None
    value = getattr(text, "tie_word_embeddings", None)
    return value if isinstance(value, bool) else None


def remote_model(folder: str, name: str | None, target: str) -> torch.nn.Module:
    """The model of a folder whose ``config.json`` has an ``auto_map``: its own code, from that folder only.

    Runs only when the user passed ``--trust-remote-code``. The Hub is never contacted (``HF_HUB_OFFLINE``), so
    the code that runs is the code already in the folder or in the local cache.
    """
    import torch

    transformers = _transformers(target)
    from transformers.initialization import no_init_weights

    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        with quiet():
            config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True, local_files_only=True)
            auto_map = getattr(config, "auto_map", None) or {}
            # the auto class whose entry is the class architectures[0] names (its head), else the base model's
            key = next(
                (k for k, v in auto_map.items() if k.startswith("AutoModel") and str(v).rpartition(".")[2] == name),
                "AutoModel",
            )
            auto = getattr(transformers, key, transformers.AutoModel)
            with torch.device("meta"), no_init_weights():
                model = auto.from_config(config, trust_remote_code=True)
            model.tie_weights()
    except Exception as e:  # the folder's own code: anything may go wrong
        raise TargetError(
            f"its own model code could not build the model ({_first_line(e)})",
            target=target,
            fix="check the folder's modeling files",
        ) from None
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    return model  # type: ignore[no-any-return]


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return quote(f"{type(error).__name__}: {text[0]}" if text else type(error).__name__, 160)


def untied_heads(model: object) -> tuple[str, ...]:
    """A warning when ``model``'s config sets ``tie_word_embeddings`` but its output head is not its input
    embedding any more; ``()`` otherwise (or when it is not a transformers model)."""
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel) or text_config_tie(model.config) is not True:
        return ()
    typed: Any = model
    try:
        head, embedding = typed.get_output_embeddings(), typed.get_input_embeddings()
    except Exception:  # a model without the accessors (NotImplementedError) or a broken one: nothing to compare
        return ()
    head_weight, embedding_weight = getattr(head, "weight", None), getattr(embedding, "weight", None)
    if head_weight is None or embedding_weight is None or head_weight is embedding_weight:
        return ()
    names = {id(p): n for n, p in model.named_parameters(remove_duplicate=False)}
    head_name = names.get(id(head_weight), "the output head's weight")
    embedding_name = names.get(id(embedding_weight), "the input embedding's weight")
    return (
        f"config.tie_word_embeddings is set but {head_name!r} is no longer {embedding_name!r} (a quantization or an "
        "assignment replaced one of them): they are counted as two tensors",
    )
