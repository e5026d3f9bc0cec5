"""A model folder's ``config.json`` -> the architecture that decides what each stored tensor is.

A weights file does not say which of its tensors are parameters. The architecture does: BART's
``final_logits_bias``, DeepSeek-V3's ``e_score_correction_bias`` and RT-DETR's frozen BatchNorm ``weight`` are
persistent buffers, and T5's ``shared``, ``encoder.embed_tokens`` and ``lm_head`` are one tensor however many
copies a file holds. This module chooses the class a configuration names, finds what a checkpoint of that class
holds, and re-labels the records a file's readers produced:

- **table** (default): ``paramcount/architectures/<model_type>.json``, generated from transformers by
  ``scripts/architectures.py``, answers for the classes transformers builds from their default configuration, with
  no torch import. When the stored names do not all match it (a configuration option that adds or removes
  tensors), or the table has no entry, the model is built on the meta device instead, if transformers is
  installed.
- **build**: always build the model on the meta device (:mod:`paramcount.sources.hf`): about two seconds for
  importing torch and transformers, then milliseconds.
- **off**: name rules only, as for a file without a configuration.

Without either, the name rules decide and a warning lists the tensors whose role is a guess.
"""

from __future__ import annotations

import json
import math
import os
import re

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.classify import classify, tie_output_head
from paramcount.errors import TargetError, UsageError, quote
from paramcount.records import Architecture, Inventory, Kind, Load, Mismatch, Note, Role, TensorRecord, index_value
from paramcount.sources import CHECKING, loader

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = [
    "MODES",
    "Knowledge",
    "apply",
    "build_model",
    "choose",
    "config_inventory",
    "from_build",
    "from_table",
    "knowledge_of",
    "normalised_config",
    "pattern",
    "prefix_of",
]

#: the values of ``--architecture``
MODES = ("table", "build", "off")
_TABLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "architectures")
# patterns as text, compiled (and cached by re) on first use: many counts need neither
_SAFE_NAME = r"[A-Za-z0-9_\-]{1,100}"
_INDEX = r"(?:(?<=\.)|^)\d+(?=\.|$)"
_NAMED = 5  # tensor names listed in one warning


_PATTERNS: dict[str, str] = {}


def pattern(name: str) -> str:
    """A tensor name with its layer indices replaced by ``*`` (the table's form); remembered, as a count asks for
    each name's several times.

    >>> pattern("model.layers.12.mlp.experts.3.w1.weight")
    'model.layers.*.mlp.experts.*.w1.weight'
    """
    found = _PATTERNS.get(name)
    if found is None:
        if len(_PATTERNS) > 1 << 20:  # bounded: a process counting many models does not keep every name
            _PATTERNS.clear()
        # _INDEX.sub("*", name), at half the cost: a dotted part of decimal digits (\d+, isdecimal) is an index
        found = _PATTERNS[name] = ".".join(["*" if part.isdecimal() else part for part in name.split(".")])
    return found


def expand(name: str, stacks: Mapping[str, int]) -> list[str]:
    """Every name a layer-index pattern stands for, given each module list's length (``[]`` when one is unknown).

    >>> expand("layers.*.experts.*.w1", {"layers": 2, "layers.*.experts": 2})
    ['layers.0.experts.0.w1', 'layers.0.experts.1.w1', 'layers.1.experts.0.w1', 'layers.1.experts.1.w1']
    """
    parts = name.split(".")
    names = [""]
    for j, part in enumerate(parts):
        dot = "." if j else ""
        if part != "*":
            names = [n + dot + part for n in names]
            continue
        length = stacks.get(".".join(parts[:j]))
        if length is None:
            return []
        names = [f"{n}{dot}{i}" for n in names for i in range(length)]
    return names


def expected_shape(formula: list[Any], document: Mapping[str, Any]) -> tuple[int | None, ...]:
    """A tensor's shape from the table's formulas and config.json: each dimension ``numerator / denominator x
    prod(key ** exponent)``, or ``None`` where config.json does not set every key of it (its default may be derived).

    >>> expected_shape([[1, 1, {"vocab_size": 1}], [2, 1, {"text_config.hidden_size": 1}], None],
    ...                {"vocab_size": 100, "text_config": {"hidden_size": 8}})
    (100, 16, None)
    """
    out: list[int | None] = []
    for dim in formula:
        if not isinstance(dim, list) or len(dim) != 3:
            out.append(None)
            continue
        numerator, denominator, powers = dim
        value = numerator / denominator
        for path, exponent in powers.items():
            found: Any = document
            for part in path.split("."):
                found = found.get(part) if isinstance(found, dict) else None
            if type(found) is not int or found <= 0:
                value = None
                break
            value *= found**exponent
        out.append(round(value) if value is not None and abs(value - round(value)) < 1e-9 else None)
    return tuple(out)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"must be one of {', '.join(MODES)}, not {quote(mode, 60)}", option="architecture")
    return mode


class Choice(NamedTuple):
    """The class a configuration names, and how it was chosen."""

    name: str | None
    model_type: str | None
    chosen: str
    remote: bool


def choose(document: Mapping[str, Any]) -> Choice:
    """The model class of a ``config.json`` document: ``architectures[0]``, else the ``model_type``'s base class.

    >>> choose({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    Choice(name='LlamaForCausalLM', model_type='llama', chosen='architectures[0]', remote=False)
    """
    model_type = document.get("model_type")
    model_type = model_type if isinstance(model_type, str) else None
    remote = isinstance(document.get("auto_map"), dict)
    architectures = document.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return Choice(architectures[0], model_type, "architectures[0]", remote)
    if model_type is not None:
        table = _table_file(model_type)
        base = table.get("auto") if table else None
        return Choice(base if isinstance(base, str) else None, model_type, "model_type", remote)
    return Choice(None, None, "none", remote)


class Knowledge(NamedTuple):
    """What one class's loader expects of a checkpoint, in the names the model has at run time (layer indices as
    ``*``, :func:`pattern`), and the rules it loads a checkpoint by.

    Attributes:
        name: the class.
        model_type: its configuration's model_type.
        chosen: how the class was chosen.
        source: ``"table"`` or ``"build"``.
        rules: how the loader renames, fuses, prefixes and ignores stored names (:class:`loader.Rules`).
        parameters: patterns of the model's parameters in its state dict.
        buffers: patterns of its persistent buffers.
        ties: groups of patterns that name one tensor in the model as configured.
        base: the model_type's base class, for messages.
        unsaved: parameters a checkpoint leaves out because the model makes them at load (Marian's sinusoidal
            positions), as ``(name, shape, dtype)``; from a build only (shapes depend on the configuration).
        needs_build: the class has a weight transform paramcount cannot replay.
        keys: every key of the model's state dict (a build), for exact missing keys; ``None`` from the table.
        stacks: the table's module lists: pattern -> (default length, the config.json keys that set it); ``None``
            when layers differ from one another (exact missing keys then need a build).
        unsaved_names: the table's names of the parameters a checkpoint leaves out (their shapes need a build,
            unless the checkpoint stores them after all).
        shapes: every key's shape in the model as configured (a build).
        formulas: the table's shapes as formulas of config.json keys (:func:`expected_shape`); ``None`` when the
            configuration sets a key the formulas were found without (``head_dim`` where the class derives it).
    """

    name: str
    model_type: str | None
    chosen: str
    source: str
    rules: loader.Rules
    parameters: frozenset[str]
    buffers: frozenset[str]
    ties: tuple[tuple[str, ...], ...]
    base: str | None = None
    unsaved: tuple[tuple[str, tuple[int, ...], str], ...] = ()
    needs_build: bool = False
    keys: frozenset[str] | None = None
    stacks: Mapping[str, tuple[int, tuple[str, ...]]] | None = None
    unsaved_names: tuple[str, ...] = ()
    shapes: Mapping[str, list[int]] | None = None
    formulas: Mapping[str, list[Any]] | None = None

    @property
    def prefix(self) -> str:
        return self.rules.prefix


_FILES: dict[str, dict[str, Any] | None] = {}


def _table_file(model_type: str) -> dict[str, Any] | None:
    """The table's file for ``model_type``, or ``None`` (a name from a config is never used as a path unchecked)."""
    if model_type in _FILES:
        return _FILES[model_type]
    found: dict[str, Any] | None = None
    if re.fullmatch(_SAFE_NAME, model_type):
        try:
            with open(os.path.join(_TABLE, f"{model_type}.json"), encoding="utf-8") as f:
                loaded = json.load(f)
            found = loaded if isinstance(loaded, dict) else None
        except FileNotFoundError:
            found = None
    _FILES[model_type] = found
    return found


_LEGACY: list[list[dict[str, Any]]] = []


def _legacy() -> list[dict[str, Any]]:
    """transformers' renames shared by every class (``LayerNorm.gamma``), stored once beside the table."""
    if not _LEGACY:
        with open(os.path.join(_TABLE, "legacy.rules.json"), encoding="utf-8") as f:
            _LEGACY.append(json.load(f)["transforms"])
    return _LEGACY[0]


def tie_flag(document: Mapping[str, Any], default: object = None) -> bool | None:
    """``tie_word_embeddings`` as the model follows it: the config's, its text config's, else ``default``."""
    value = document.get("tie_word_embeddings")
    if isinstance(value, bool):
        return value
    text = document.get("text_config")
    value = text.get("tie_word_embeddings") if isinstance(text, dict) else None
    if isinstance(value, bool):
        return value
    return default if isinstance(default, bool) else None


def from_table(document: Mapping[str, Any], choice: Choice) -> Knowledge | None:
    """The table's knowledge of the chosen class, or ``None`` when the table does not have it."""
    if choice.name is None or choice.model_type is None:
        return None
    table = _table_file(choice.model_type)
    entry = table.get("classes", {}).get(choice.name) if table else None
    if table is None or not isinstance(entry, dict):
        return None
    default = table.get("tie_word_embeddings")
    tied = tie_flag(document, default)
    ties: list[list[str]] = entry.get("ties") or []
    tie_keys = entry.get("tie_keys") or []
    owners = entry.get("tie_owners") or {}
    if "untied" in entry and (tied is False or owners):
        # Each sub-model ties by its own configuration's flag (a VisionEncoderDecoder's decoder): keep the ties
        # every configuration has, and those whose owner's flag is set.
        def on(name: str) -> bool:
            owner = max((p for p in owners if name.startswith(p + ".")), key=len, default=None)
            if owner is None:
                return tied is not False
            sub = document.get(owners[owner])
            flag = sub.get("tie_word_embeddings") if isinstance(sub, dict) else None
            return flag if isinstance(flag, bool) else default is not False

        always = [list(g) for g in entry["untied"] or []]
        ties = always + [g for g in ties if g not in always and on(g[0])]
        always_keys = [list(k) for k in entry.get("untied_keys") or []]
        tie_keys = always_keys + [k for k in tie_keys if k not in always_keys and on(k[0])]
    rules = loader.rules_of({**entry, "tie_keys": tie_keys}, _legacy())
    stacks = entry.get("stacks")
    formulas = _formulas(entry, document)
    return Knowledge(
        name=choice.name,
        model_type=choice.model_type,
        chosen=choice.chosen,
        source="table",
        rules=rules,
        parameters=frozenset(entry.get("parameters", ())),
        buffers=frozenset(entry.get("buffers", ())),
        ties=tuple(tuple(group) for group in ties),
        base=table.get("auto"),
        needs_build=bool(entry.get("untranslatable")),
        unsaved_names=tuple(entry.get("unsaved", ())),
        formulas=formulas,
        stacks=None
        if not isinstance(stacks, dict)
        else {k: (int(v["length"]), tuple(v.get("config", ()))) for k, v in stacks.items()},
    )


def _formulas(entry: Mapping[str, Any], document: Mapping[str, Any]) -> Mapping[str, list[Any]] | None:
    """The table's shape formulas that hold for this config.json: those found with the keys it leaves out derived
    by the config class (Llama's ``head_dim``); ``None`` when it sets a key the formulas were found without."""
    keys = entry.get("shape_keys") or {}
    if any(document.get(k) is not None for k in keys.get("unknown", ())):
        return None
    left_out = [k for k in keys.get("derived", ()) if document.get(k) is None]
    if not left_out:
        return entry.get("shapes")
    found = (entry.get("shape_derived") or {}).get(",".join(left_out))
    return found or None


def from_build(document: Mapping[str, Any], choice: Choice, target: str) -> Knowledge:
    """Knowledge of the chosen class from the model itself, built on the meta device with this configuration.

    Raises:
        TargetError: transformers is missing, does not have the class, or cannot build it from this config.
    """
    from paramcount.sources import hf

    model = _build(document, choice, target)
    described = hf.describe(model)
    table = _table_file(choice.model_type) if choice.model_type else None
    table_knowledge = from_table(document, choice)
    return Knowledge(
        name=type(model).__name__,
        model_type=choice.model_type,
        chosen=choice.chosen,
        source="build",
        rules=loader.rules_of(described, _legacy()),
        parameters=frozenset(described["parameters"]),
        buffers=frozenset(described["buffers"]),
        ties=tuple(tuple(group) for group in described["ties"]),
        base=table.get("auto") if table else None,
        unsaved=tuple((name, tuple(shape), dtype) for name, (shape, dtype) in described["unsaved"].items()),
        keys=frozenset(described["keys"]),
        shapes=described["shapes"],
        stacks=table_knowledge.stacks if table_knowledge is not None else None,  # which config keys set the lengths
    )


def _build(document: Mapping[str, Any], choice: Choice, target: str) -> Any:
    """The chosen class built on the meta device from ``document`` by transformers.

    Raises:
        TargetError: the config names no class, or transformers cannot build it.
    """
    from paramcount.sources import hf

    if choice.name is None:
        raise TargetError(
            "config.json names no architecture and no model_type paramcount knows",
            target=target,
            fix="add 'architectures' (e.g. [\"LlamaForCausalLM\"]) to config.json",
        )
    table = from_table(document, choice)
    if table is not None:
        validate(document, table, target)  # before a build: 10^12 layers would build for hours
    cls = hf.model_class(choice.name, target)
    return hf.build(cls, hf.config_object(document, target), target)


#: the most layers a module list of a configuration may have (the largest published models have a few hundred)
MOST_LAYERS = 10_000


def validate(document: Mapping[str, Any], knowledge: Knowledge, target: str) -> None:
    """Refuse a config.json whose sizes transformers could not build the model from (a layer count that is not a
    whole number, a head count of 0, a negative vocabulary), or that would take hours to build (10^12 layers):
    every key the table's layer stacks and shape formulas read, and the types of ``tie_word_embeddings`` and
    ``text_config``.

    Raises:
        TargetError: with the key and its value.
    """

    def refuse(path: str, value: object, why: str) -> None:
        shown = quote(json.dumps(value) if isinstance(value, (int, float, str, bool)) else type(value).__name__, 40)
        raise TargetError(
            f"config.json's {path} is {shown}: {why}, so {knowledge.name} cannot be built from it",
            target=target,
            fix=f"fix {path} in config.json",
        )

    def value_at(path: str) -> tuple[bool, Any]:
        place: Any = document
        for part in path.split("."):
            if not isinstance(place, dict) or part not in place:
                return False, None
            place = place[part]
        return True, place

    for key, wanted in (("tie_word_embeddings", bool), ("text_config", dict)):
        found = document.get(key)
        if found is not None and not isinstance(found, wanted):
            refuse(key, found, f"not {'true or false' if wanted is bool else 'an object'}")
    for _, paths in (knowledge.stacks or {}).values():
        for path in paths:
            present, found = value_at(path)
            if not present:
                continue
            if type(found) is not int or found < 0:
                refuse(path, found, "not a whole number of layers")
            if found > MOST_LAYERS:
                refuse(path, found, f"more than {MOST_LAYERS:,} layers")
    keys = {k for formula in (knowledge.formulas or {}).values() for dim in formula if dim for k in dim[2]}
    for path in sorted(keys):
        present, found = value_at(path)
        if present and found is not None and (type(found) is not int or found <= 0):
            refuse(path, found, "not a positive whole number")


def build_model(document: Mapping[str, Any], target: str) -> Any:
    """The model ``document`` (a ``config.json``) describes, built on the meta device by transformers.

    Raises:
        TargetError: as for :func:`config_inventory`; the folder's own code (``auto_map``) is not run.
    """
    return _build(document, choose(document), target)


def can_build() -> bool:
    """Whether transformers (and so torch) is installed, without importing either."""
    import importlib.util  # imports contextlib: only when a build is considered

    return importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None


def normalised_config(config: Any, target: str) -> Any:
    """A ``config.json`` document as transformers' configuration class reads it (its defaults and derived fields:
    Gemma-2's alternating ``layer_types``, a default ``head_dim``), or the document when transformers cannot.

    What the memory engine reads a model's geometry from; a configuration object or ``None`` is returned as is.
    """
    if not isinstance(config, dict) or not can_build():
        return config
    from paramcount.sources import hf

    try:
        return hf.config_object(config, target)
    except TargetError:
        return config


def prefix_of(obj: object, architecture: Architecture | None, config: object) -> str:
    """The base-model prefix of a counted model's class: a live transformers model's own, else the table's for the
    class its configuration named (``""`` for none)."""
    prefix = getattr(obj, "base_model_prefix", None)
    if isinstance(prefix, str):
        return prefix
    if architecture is None or architecture.name is None or architecture.model_type is None:
        return ""
    document = config if isinstance(config, dict) else {}
    known = from_table(document, Choice(architecture.name, architecture.model_type, architecture.chosen, False))
    return known.prefix if known is not None else ""


def knowledge_of(document: Mapping[str, Any], choice: Choice, mode: str, target: str) -> tuple[Knowledge | None, str]:
    """The chosen class's knowledge in ``mode`` (the table first, then a build), or ``None`` and why not."""
    if mode == "off":
        return None, "--architecture off"
    if choice.name is None:
        return None, "config.json names no architecture"
    if mode == "table":
        found = from_table(document, choice)
        if found is not None:
            return found, ""
    if choice.remote and not _in_transformers(choice):
        return None, f"{choice.name} is the folder's own code (auto_map), which paramcount does not run for files"
    if not can_build():
        return None, f"{choice.name} is not in paramcount's table and transformers is not installed"
    try:
        return from_build(document, choice, target), ""
    except TargetError as e:
        return None, e.problem


def _in_transformers(choice: Choice) -> bool:
    return choice.model_type is not None and _table_file(choice.model_type) is not None


class _Match(NamedTuple):
    """Stored records matched with one class's knowledge, as its loader would load them."""

    records: list[TensorRecord]
    matched: int
    unexpected: list[TensorRecord]
    ignored: list[TensorRecord]
    missing: list[str]
    copies: list[tuple[str, str]]
    made: list[str]
    converted: list[tuple[str, str]]
    short: list[str]
    unmade: list[str]
    unexpected_keys: list[str]
    loaded: loader.Loaded | None
    names: dict[int, str]
    duplicates: tuple[tuple[str, str], ...] = ()


def _model_name(record: TensorRecord) -> str:
    """The name the model gives a stored tensor: a GPTQ/AWQ ``qweight`` is the layer's ``weight``."""
    if Note.QUANTIZED in record.notes:
        from paramcount.quant import unpacked_name

        return unpacked_name(record.name)
    return record.name


def _candidates(records: list[TensorRecord]) -> list[int]:
    """Positions of records the architecture decides: parameters and buffers (not auxiliaries, optimizer state,
    or tensors the index leaves out)."""
    return [i for i, r in enumerate(records) if r.kind in (Kind.PARAMETER, Kind.BUFFER)]


#: the most model keys a configuration may make paramcount list (a config.json claiming 10^9 layers is not expanded)
_MOST_KEYS = 2_000_000


def _configured(knowledge: Knowledge, document: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """The module lists whose length config.json sets: pattern -> (length, the key that set it)."""
    lengths: dict[str, tuple[int, str]] = {}
    for stack, (default, paths) in (knowledge.stacks or {}).items():
        if not paths:
            continue
        for path in paths:
            value: Any = document
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if type(value) is int and value >= 0:
                lengths[stack] = (value, path)
                break
        else:
            lengths[stack] = (default, paths[0])
    return lengths


_STACKS: dict[str, tuple[tuple[int, str], ...]] = {}


def _stacks(shape: str) -> tuple[tuple[int, str], ...]:
    """For a layer-index pattern, each ``*``'s position among its dotted parts with the module list it indexes;
    remembered like :func:`pattern`.

    >>> _stacks("model.layers.*.mlp.experts.*.w1")
    ((2, 'model.layers'), (5, 'model.layers.*.mlp.experts'))
    """
    found = _STACKS.get(shape)
    if found is None:
        if len(_STACKS) > 1 << 20:
            _STACKS.clear()
        parts = shape.split(".")
        found = _STACKS[shape] = tuple((j, ".".join(parts[:j])) for j, part in enumerate(parts) if part == "*")
    return found


def _in_range(key: str, lengths: Mapping[str, tuple[int, str]]) -> bool:
    """Whether each layer index of ``key`` is below its module list's configured length."""
    stacks = _stacks(pattern(key)) if lengths else ()
    if not stacks:
        return True
    parts = key.split(".")
    for j, stack in stacks:
        length = lengths.get(stack)
        if length is not None and parts[j] != "*" and index_value(parts[j]) >= length[0]:  # a name may hold "*"
            return False
    return True


def _observed(keys: set[str]) -> dict[str, int]:
    """Each module list's length as the loaded keys show it (highest index + 1)."""
    found: dict[str, int] = {}
    for key in keys:
        stacks = _stacks(pattern(key))
        if stacks:
            parts = key.split(".")
            for j, stack in stacks:
                if parts[j] != "*":
                    found[stack] = max(found.get(stack, 0), index_value(parts[j]) + 1)
    return found


def _regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """transformers' alternation of ignore patterns (``_adjust_missing_and_unexpected_keys``)."""
    return re.compile("|".join(f"({p})" for p in patterns)) if patterns else None


def _match(
    records: list[TensorRecord], knowledge: Knowledge, document: Mapping[str, Any], *, force: bool = False
) -> _Match | str:
    """Re-label ``records`` as ``knowledge``'s loader would load them; when most stored names load into nothing and
    no rule of the loader ignores them (and not ``force``: a check lists them instead), the first such name."""
    positions = _candidates(records)
    if not positions:
        return _Match(records, 0, [], [], [], [], [], [], [], [], [], None, {})
    known = knowledge.parameters | knowledge.buffers
    configured = _configured(knowledge, document)
    exact = knowledge.keys

    answers: dict[str, bool] = {}
    # a key whose first two names no pattern has is no key of the model: answered without its pattern
    heads = {".".join(p.split(".", 2)[:2]) for p in known}
    numbered = any("*" in h for h in heads)

    def expected(key: str) -> bool:
        found = answers.get(key)
        if found is None:
            if exact is not None:
                found = key in exact
            elif not numbered and ".".join(key.split(".", 2)[:2]) not in heads:
                found = False
            else:
                found = pattern(key) in known and _in_range(key, configured)
            answers[key] = found
        return found

    names = {i: _model_name(records[i]) for i in positions}
    loaded = loader.load(set(names.values()), knowledge.rules, expected)
    ignore_unexpected = _regex(knowledge.rules.ignore_unexpected)

    def ignored_by_rule(name: str) -> bool:
        return ignore_unexpected is not None and all(ignore_unexpected.search(k) for k in loaded.unexpected[name])

    explained = sum(1 for i in positions if loaded.keys[names[i]] or ignored_by_rule(names[i]))
    if explained * 2 < len(positions) and not force:
        return next(records[i].name for i in positions if not loaded.keys[names[i]])
    members = {p: g for g, group in enumerate(knowledge.ties) for p in group}
    out = list(records)
    unexpected: list[TensorRecord] = []
    ignored: list[TensorRecord] = []
    converted: list[tuple[str, str]] = []
    present: set[str] = set()
    loaded_by: dict[str, str] = {}
    duplicates: list[tuple[str, str]] = []
    tied: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i in positions:
        r = records[i]
        into = loaded.keys[names[i]]
        if not into:
            if ignored_by_rule(names[i]):
                why = r.notes[0] if r.notes and isinstance(r.notes[0], Role) and r.kind is Kind.BUFFER else None
                role = why if why in (Role.ROTARY_FREQUENCIES, Role.ATTENTION_MASK, Role.POSITION_IDS) else None
                out[i] = r._replace(
                    kind=Kind.TENSOR, trainable=None, persistent=None, notes=(role or Role.IGNORED, *_flags(r))
                )
                ignored.append(r)
            else:
                out[i] = r._replace(
                    kind=Kind.TENSOR, trainable=None, persistent=None, notes=(Role.UNEXPECTED, *_flags(r))
                )
                unexpected.append(r)
            continue
        key = into[0]
        if key in loaded_by and names[i] not in loaded.converted:
            # a second stored name for one key (a copy with and without the base prefix): the last one loaded
            # overwrites the other, and the model has the tensor once
            out[i] = r._replace(kind=Kind.TENSOR, trainable=None, persistent=None, notes=(Role.DUPLICATE, *_flags(r)))
            duplicates.append((r.name, loaded_by[key]))
            continue
        loaded_by.setdefault(key, r.name)
        if key != names[i]:
            converted.append((r.name, key))
        present.update(into)
        shape = pattern(key)
        if shape in knowledge.buffers and shape not in knowledge.parameters:
            why = r.notes[0] if r.kind is Kind.BUFFER and r.notes and isinstance(r.notes[0], Role) else None
            why = None if why is Role.KNOWN_BUFFER else why
            out[i] = r._replace(
                kind=Kind.BUFFER, trainable=None, persistent=True, notes=(why or Role.BUFFER, *_flags(r))
            )
        else:
            out[i] = r._replace(kind=Kind.PARAMETER, persistent=None, notes=_flags(r))
        by_name = members.get(key)  # a tie of some indices only is kept by exact names
        if by_name is not None:
            tied.setdefault((by_name, ()), []).append(i)
        elif (group := members.get(shape)) is not None:
            tied.setdefault((group, tuple(re.findall(_INDEX, key))), []).append(i)
    copies: list[tuple[str, str]] = []
    for same in tied.values():
        first = out[same[0]]
        for i in same[1:]:
            r = out[i]
            if r.identity != first.identity and r.shape == first.shape and r.dtype == first.dtype:
                out[i] = r._replace(identity=first.identity)
                copies.append((r.name, first.name))
    missing, short = _missing(knowledge, present, configured)
    stored = {r.name for r in records}
    made = [name for name, _, _ in knowledge.unsaved if name not in stored]
    for name, shape_, dtype in knowledge.unsaved:
        if name in stored:
            continue
        out.append(
            TensorRecord(
                name=name,
                module=name.rpartition(".")[0],
                kind=Kind.PARAMETER,
                shape=shape_,
                elements=math.prod(shape_),
                dtype=dtype,
                stored_elements=0,
                stored_bytes=0,
                identity=("not stored", name),
                notes=(Note.NOT_STORED,),
            )
        )
    missing = [m for m in missing if m not in made]
    unmade = [name for name in knowledge.unsaved_names if name not in stored]  # shapes only a build knows
    return _Match(
        out,
        len(positions) - len(unexpected) - len(ignored),
        unexpected,
        ignored,
        missing,
        copies,
        made,
        converted,
        short,
        unmade,
        list(dict.fromkeys(k for r in unexpected for k in loaded.unexpected[_model_name(r)])),
        loaded,
        names,
        tuple(duplicates),
    )


def _missing(
    knowledge: Knowledge, present: set[str], configured: Mapping[str, tuple[int, str]]
) -> tuple[list[str], list[str]]:
    """The model keys no stored tensor loads into, after ties and the ignore rules, as transformers reports them:
    exact names where the model's keys are known (a build, or a table whose layers are all alike), else patterns.
    Also what config.json sets longer than the weights are (``"num_hidden_layers = 4 ..."``)."""
    known = knowledge.parameters | knowledge.buffers
    keys: set[str] | None = None
    short: list[str] = []
    observed = _observed(present)
    for stack, (length, path) in configured.items():
        if stack in observed and observed[stack] < length:
            short.append(f"config.json's {path} is {length:,}, but the weights hold {observed[stack]:,} of {stack}")
    if knowledge.keys is not None:
        keys = set(knowledge.keys)
    elif knowledge.stacks is not None:
        lengths = {s: observed.get(s, default) for s, (default, _) in knowledge.stacks.items()}
        lengths.update((stack, length) for stack, (length, _) in configured.items())
        if sum(_size(p, lengths) for p in known) <= _MOST_KEYS:
            keys = {n for p in known for n in expand(p, lengths)}
    ignore = _regex(knowledge.rules.ignore_missing)
    if keys is None:
        present_patterns = {pattern(k) for k in present}
        members = {p: g for g, group in enumerate(knowledge.ties) for p in group}
        reached = {g for g, group in enumerate(knowledge.ties) if any(p in present_patterns for p in group)}
        missing = {p for p in known if p not in present_patterns and members.get(p) not in reached}
    else:
        missing = keys - present
        _tie(missing, _tie_pairs(knowledge.rules.tie_keys, keys))
    return sorted((m for m in missing if ignore is None or ignore.search(m) is None), key=loader.natural_key), short


def _size(name: str, lengths: Mapping[str, int]) -> int:
    parts = name.split(".")
    size = 1
    for j, part in enumerate(parts):
        if part == "*":
            size *= lengths.get(".".join(parts[:j]), 0)
    return size


def _tie_pairs(pairs: tuple[tuple[str, str], ...], keys: set[str]) -> list[tuple[str, str]]:
    """The table's tie pairs as concrete names of this model (a pattern pair at every layer index)."""
    out: list[tuple[str, str]] = []
    by_pattern: dict[str, list[str]] = {}
    for target, source in pairs:
        if "*" not in target:
            out.append((target, source))
            continue
        if not by_pattern:
            for key in sorted(keys, key=loader.natural_key):
                by_pattern.setdefault(pattern(key), []).append(key)
        for concrete in by_pattern.get(target, ()):
            parts, indices = source.split("."), iter(re.findall(_INDEX, concrete))
            out.append((concrete, ".".join(next(indices, "*") if p == "*" else p for p in parts)))
    return out


def _tie(missing: set[str], pairs: list[tuple[str, str]]) -> None:
    """Remove from ``missing`` what ``tie_weights(missing_keys=...)`` fills at load, as transformers does it."""
    for i, (target, source) in enumerate(pairs):
        source_there, target_there = source not in missing, target not in missing
        if source_there and target_there:
            continue
        filled = target
        if target_there:  # the source is missing: transformers ties the other way round
            filled = source
        elif not source_there:
            for other_target, other_source in pairs[i + 1 :]:
                if other_source == source and other_target not in missing:
                    break
            else:
                continue  # both missing and nothing else holds the tensor: still missing
        missing.discard(filled)


def _flags(record: TensorRecord) -> tuple[Note, ...]:
    """A record's notes without its role."""
    return tuple(n for n in record.notes if isinstance(n, Note)) if record.notes else ()


def apply(
    records: list[TensorRecord], document: Mapping[str, Any], mode: str, target: str
) -> tuple[list[TensorRecord], Architecture, list[str], list[str]]:
    """Re-label a folder's stored records by its configuration's architecture.

    Returns:
        The records, the architecture section, notes and warnings.

    Raises:
        TargetError: the configuration disagrees with the weights (names that are mostly not the class's).
    """
    choice = choose(document)
    if choice.chosen == "model_type" and mode != "off":
        choice = _by_weights(records, document, choice)
    knowledge, why_not = knowledge_of(document, choice, mode, target)
    checking = CHECKING.get()
    if knowledge is None:
        if checking is not None and checking.shapes:  # check, not diff: the loader's answer is the point
            raise TargetError(
                f"paramcount cannot tell what loading these weights into {choice.name or 'this model'} does "
                f"({why_not})",
                target=target,
                fix="install transformers (pip install 'paramcount[transformers]')"
                if not can_build()
                else "check config.json's architectures and model_type",
            )
        return _name_rules(records, document, choice, why_not)
    if knowledge.source == "table":
        validate(document, knowledge, target)
    match = _match(records, knowledge, document)
    unbuilt = ""
    if (
        knowledge.source == "table"
        and (
            isinstance(match, str)
            or _surprising(match)
            or knowledge.needs_build
            or match.unmade
            or (checking is not None and checking.shapes and not _exact(knowledge, match, records, document))
        )
        and can_build()
    ):
        # The table describes the default configuration; this one adds or drops tensors: ask the model itself.
        try:
            knowledge = from_build(document, choice, target)
        except TargetError as e:
            if isinstance(match, str):
                return _name_rules(records, document, choice, e.problem)
            unbuilt = e.problem
        else:
            match = _match(records, knowledge, document)
    if isinstance(match, str) and checking is not None:  # a check lists what does not load rather than refuse
        match = _match(records, knowledge, document, force=True)
    if isinstance(match, str):
        raise TargetError(
            f"the weights do not match config.json's {knowledge.name}: most stored names are not its tensors "
            f"(e.g. {quote(match, 80)})",
            target=target,
            fix="check that config.json belongs to these weights, or count with --architecture off (name rules; "
            "architecture='off' in Python)",
        )
    if checking is not None:
        checking.result = _load(knowledge, match, records, document)
        checking.keys = _normal(knowledge, match, records)
    notes, warnings = _messages(knowledge, match)
    if unbuilt and checking is not None and checking.shapes:
        warnings.append(f"the model could not be built to check what the table cannot tell ({unbuilt})")
    mismatched, _, failed = _shapes(knowledge, match, records, document)
    if failed:
        warnings.append(
            f"{len(failed)} tensor(s) {knowledge.name}'s loader fuses cannot be made from the stored ones (an expert "
            f"missing, or of another shape): transformers would fail to load them: {_names(failed)}"
        )
    if mismatched:
        shown = "; ".join(
            f"{quote(m.name, 80)} is stored {_dims(m.stored)}, {knowledge.name} as configured has {_dims(m.expected)}"
            for m in mismatched[:_NAMED]
        )
        more = f"; and {len(mismatched) - _NAMED} more" if len(mismatched) > _NAMED else ""
        warnings.append(
            f"{len(mismatched)} stored tensor(s) do not have the shape config.json gives them "
            f"(the model would not load them): {shown}{more}"
        )
    return match.records, _section(knowledge, match), notes, warnings


def _exact(knowledge: Knowledge, match: _Match, records: list[TensorRecord], document: Mapping[str, Any]) -> bool:
    """Whether the table alone gives ``check`` transformers' exact answer: every layer alike (missing keys by exact
    name) and every loaded tensor's shape from the formulas."""
    return knowledge.stacks is not None and _shapes(knowledge, match, records, document)[1]


def _dims(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def _shapes(
    knowledge: Knowledge, match: _Match, stored: list[TensorRecord], document: Mapping[str, Any]
) -> tuple[list[Mismatch], bool, list[str]]:
    """Stored tensors whose shape (after the loader's fusing) is not the model's, and whether every loaded tensor's
    shape was known: from a build exactly, else from the table's formulas and config.json (a dimension they cannot
    give is not compared). A mismatch's ``expected`` has ``-1`` for a dimension not known. Also the keys a converter
    cannot make from what is stored (an expert missing from a fused stack)."""
    loaded = match.loaded
    failed: list[str] = []
    if loaded is None:
        return [], False, failed
    complete = True
    cache: dict[str, tuple[int | None, ...] | None] = {}

    def model_shape(key: str) -> tuple[int | None, ...] | None:
        if knowledge.shapes is not None:
            found = knowledge.shapes.get(key)
            return None if found is None else tuple(found)
        shape_of = pattern(key)
        if shape_of not in cache:
            formula = (knowledge.formulas or {}).get(shape_of)
            cache[shape_of] = None if formula is None else expected_shape(formula, document)
        return cache[shape_of]

    mismatched: list[Mismatch] = []

    def compare(key: str, shape: tuple[int, ...] | None) -> None:
        nonlocal complete
        wanted = model_shape(key)
        if wanted is None or shape is None or any(d is None for d in wanted):
            complete = False
        if wanted is None or shape is None:
            return
        if len(wanted) != len(shape) or any(w is not None and w != d for w, d in zip(wanted, shape, strict=False)):
            mismatched.append(Mismatch(key, shape, tuple(-1 if w is None else w for w in wanted)))

    collected: dict[str, tuple[loader.Transform, dict[str, list[tuple[int, ...]]]]] = {}
    converted = [item for item in match.names.items() if item[1] in loaded.converted]
    converted.sort(key=lambda item: loader.natural_key(item[1]))  # experts stack in transformers' load order
    plain = [item for item in match.names.items() if item[1] not in loaded.converted]
    for i, name in plain + converted:
        into = loaded.keys.get(name) or ()
        record = stored[i]
        if not into or record.shape is None or Note.QUANTIZED in record.notes:
            continue  # transformers does not compare a quantized weight's shape
        if name in loaded.converted:
            transform, source = loaded.converted[name]
            collected.setdefault(into[0], (transform, {}))[1].setdefault(source, []).append(record.shape)
        else:
            compare(into[0], record.shape)
    for key, (transform, by_source) in collected.items():
        try:
            made = loader.converted_shape(
                transform.ops, {s: by_source.get(s, []) for s in transform.sources}, model_shape(key)
            )
        except loader.ConversionError:
            failed.append(key)
            continue
        if made is None:
            complete = False
        compare(key, made)
    if knowledge.shapes is None and knowledge.formulas is None:
        complete = False
    return mismatched, complete, failed


def _load(knowledge: Knowledge, match: _Match, stored: list[TensorRecord], document: Mapping[str, Any]) -> Load:
    """What ``from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True)`` would report."""
    mismatched, complete, failed = _shapes(knowledge, match, stored, document)
    missing = tuple(m for m in match.missing if m not in {x.name for x in mismatched})
    missing = tuple(sorted({*missing, *failed}, key=loader.natural_key))  # a conversion that fails loads nothing
    return Load(
        loader="transformers",
        model=knowledge.name,
        missing_keys=missing,
        unexpected_keys=tuple(sorted(match.unexpected_keys, key=loader.natural_key)),
        mismatched_keys=tuple(sorted(mismatched, key=lambda m: loader.natural_key(m.name))),
        ignored_keys=tuple(r.name for r in match.ignored),
        converted_keys=len(match.converted),
        dtype_changes=_dtype_changes(stored, match, document),
        shapes_checked=complete,
    )


def _normal(
    knowledge: Knowledge, match: _Match, stored: list[TensorRecord]
) -> dict[str, tuple[tuple[int, ...] | None, str | None, int]]:
    """The stored tensors under the model's own names, without its base prefix: ``{key: (shape, dtype, elements)}``;
    tensors a converter fuses are one entry with the fused shape (``None`` where paramcount cannot follow the op).
    Unexpected tensors keep their stored names; tensors the loader ignores are left out."""
    loaded = match.loaded
    out: dict[str, tuple[tuple[int, ...] | None, str | None, int]] = {}
    fused: dict[str, tuple[loader.Transform, dict[str, list[tuple[int, ...]]], str | None, int]] = {}
    prefix = knowledge.prefix + "." if knowledge.prefix else ""
    if loaded is None:
        return out
    # A tied tensor stored twice is one tensor of the model: keep the name a tie fills from (the embedding), not the
    # name it fills (the head), so that a folder storing both and one storing the embedding alone agree.
    targets = {pattern(t) for t, _ in knowledge.rules.tie_keys}
    by_identity: dict[object, list[int]] = {}
    for i, name in match.names.items():
        labelled = match.records[i]
        if loaded.keys.get(name) and labelled.identity is not None and name not in loaded.converted:
            by_identity.setdefault(labelled.identity, []).append(i)
    dropped: set[int] = set()
    for members in by_identity.values():
        if len(members) > 1:
            kept = [i for i in members if pattern(loaded.keys[match.names[i]][0]) not in targets] or members[:1]
            dropped.update(i for i in members if i != kept[0])
    for i, name in sorted(match.names.items(), key=lambda item: loader.natural_key(item[1])):
        record = stored[i]
        into = loaded.keys.get(name) or ()
        if not into or match.records[i].kind not in (Kind.PARAMETER, Kind.BUFFER) or i in dropped:
            continue  # unexpected, ignored by rule, a second name for one key, or a tied copy: not another tensor
        key = into[0]
        key = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        if name in loaded.converted and record.shape is not None:
            transform, source = loaded.converted[name]
            _, by_source, dtype, elements = fused.get(key, (transform, {}, record.dtype, 0))
            by_source.setdefault(source, []).append(record.shape)
            fused[key] = (transform, by_source, dtype, elements + (record.elements or 0))
        else:
            out[key] = (record.shape, record.dtype, record.elements or 0)
    for key, (transform, by_source, dtype, elements) in fused.items():
        try:
            shape = loader.converted_shape(transform.ops, {s: by_source.get(s, []) for s in transform.sources})
        except loader.ConversionError:
            shape = None
        out[key] = (shape, dtype, elements)
    return out


def _dtype_changes(
    stored: list[TensorRecord], match: _Match, document: Mapping[str, Any]
) -> tuple[tuple[str, str, str], ...]:
    """Floating tensors ``from_pretrained``'s default ``dtype="auto"`` casts: to the config's ``dtype`` (or
    ``torch_dtype``), else to the first floating stored tensor's."""
    floating = [stored[i] for i in match.names if stored[i].dtype and _floating(stored[i].dtype)]
    wanted = document.get("dtype") or document.get("torch_dtype")
    if not isinstance(wanted, str) or not _floating(wanted):
        wanted = floating[0].dtype if floating else None
    if wanted is None:
        return ()
    return tuple((r.name, str(r.dtype), wanted) for r in floating if r.dtype != wanted)


def _floating(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat")) and "_" not in dtype  # not float8_e4m3fn and the like


#: roles of stored tensors that no configuration makes a tensor of a transformers 5 model: a stale buffer of an
#: older checkpoint (GPT-2's ``masked_bias``) the loader reports as unexpected, which a build would not explain
_STALE = (Role.ATTENTION_MASK, Role.ROTARY_FREQUENCIES, Role.POSITION_IDS)


def _surprising(match: _Match | str) -> bool:
    """Whether the table's answer leaves something a configuration option could explain (a build is then asked)."""
    if isinstance(match, str) or match.missing:
        return True
    return any(classify(r.name, r.shape or ()) not in _STALE for r in match.unexpected)


def _section(knowledge: Knowledge, match: _Match) -> Architecture:
    return Architecture(
        name=knowledge.name,
        model_type=knowledge.model_type,
        chosen=knowledge.chosen,
        source=knowledge.source,
        matched=match.matched,
        unexpected=tuple(r.name for r in match.unexpected),
        missing=tuple(match.missing),
        tied_copies=tuple(a for a, _ in match.copies),
        ignored=tuple(r.name for r in match.ignored),
        converted=len(match.converted),
    )


def _messages(knowledge: Knowledge, match: _Match) -> tuple[list[str], list[str]]:
    source = "from paramcount's table" if knowledge.source == "table" else "built on the meta device"
    notes = [
        f"architecture {knowledge.name} ({_how(knowledge.chosen)}; {source}) decides every stored tensor's role: "
        f"{match.matched} matched"
    ]
    warnings: list[str] = []
    if match.converted:
        shown = ", ".join(f"{quote(a, 60)} -> {quote(b, 60)}" for a, b in match.converted[:2])
        notes.append(
            f"{len(match.converted)} stored name(s) are spelled otherwise than {knowledge.name} names them; its "
            f"loader renames or fuses them (e.g. {shown}) and they are counted as its tensors"
        )
    if match.duplicates:
        shown = ", ".join(f"{quote(a, 60)} = {quote(b, 60)}" for a, b in match.duplicates[:_NAMED])
        notes.append(
            f"{len(match.duplicates)} stored tensor(s) load into the same key of {knowledge.name} as another stored "
            f"name (one overwrites the other) and are counted once: {shown}"
        )
    if match.copies:
        shown = ", ".join(f"{a} = {b}" for a, b in match.copies[:_NAMED])
        more = f" and {len(match.copies) - _NAMED} more" if len(match.copies) > _NAMED else ""
        notes.append(f"{len(match.copies)} tied tensor(s) stored as separate copies are counted once: {shown}{more}")
    if match.made:
        notes.append(
            f"{len(match.made)} parameter(s) are not stored because {knowledge.name} makes them at load; counted "
            f"from the architecture: {_names(match.made)}"
        )
    if match.unmade and knowledge.source == "table":
        warnings.append(
            f"{len(match.unmade)} parameter(s) {knowledge.name} makes at load are not stored, and their shapes need "
            f"transformers (pip install 'paramcount[transformers]'); not counted: {_names(match.unmade)}"
        )
    if match.ignored:
        elements = sum(r.elements or 0 for r in match.ignored)
        notes.append(
            f"{len(match.ignored)} stored tensor(s) ({elements:,} elements) are ignored by {knowledge.name} at load "
            f"(its rules: {', '.join(quote(p, 40) for p in knowledge.rules.ignore_unexpected[:3])}) and are not "
            f"counted: {_names([r.name for r in match.ignored])}"
        )
    if match.unexpected:
        elements = sum(r.elements or 0 for r in match.unexpected)
        warnings.append(
            f"{len(match.unexpected)} stored tensor(s) ({elements:,} elements) are not tensors of {knowledge.name} "
            f"and are not counted: {_names([r.name for r in match.unexpected])}"
        )
    warnings.extend(match.short)
    if match.missing:
        warnings.append(
            f"{knowledge.name} has {len(match.missing)} tensor(s) that no stored tensor loads into (the model would "
            f"initialize them): {_names(match.missing)}"
        )
    return notes, warnings


def _by_weights(records: list[TensorRecord], document: Mapping[str, Any], choice: Choice) -> Choice:
    """For a config without ``architectures``: the class of its model_type whose loader takes most of the stored
    names (a ``lm_head.weight`` makes it the causal LM, not the base model)."""
    table = _table_file(choice.model_type) if choice.model_type else None
    classes = table.get("classes") if table else None
    if not isinstance(classes, dict):
        return choice
    names = {_model_name(records[i]) for i in _candidates(records)}
    best: tuple[int, int, str] | None = None
    for name in classes:
        knowledge = from_table(document, Choice(name, choice.model_type, "weights", False))
        if knowledge is None:
            continue
        known = knowledge.parameters | knowledge.buffers
        loaded = loader.load(names, knowledge.rules, _member(known))
        present = {pattern(k) for into in loaded.keys.values() for k in into}
        score = (sum(1 for into in loaded.keys.values() if into), -len(known - present), name)
        if best is None or score[:2] > best[:2]:
            best = score
    return choice if best is None or best[0] == 0 else Choice(best[2], choice.model_type, "weights", choice.remote)


def _member(known: frozenset[str]) -> Callable[[str], bool]:
    return lambda key: pattern(key) in known


def _how(chosen: str) -> str:
    return {
        "architectures[0]": "config.json's architectures[0]",
        "model_type": "the base class of config.json's model_type, as it names no architectures",
        "weights": "the class of config.json's model_type whose names the weights match, as it names no architectures",
    }.get(chosen, chosen)


def _names(names: list[str]) -> str:
    shown = ", ".join(quote(n, 80) for n in names[:_NAMED])
    return shown + (f" and {len(names) - _NAMED} more" if len(names) > _NAMED else "")


def _name_rules(
    records: list[TensorRecord], document: Mapping[str, Any], choice: Choice, why_not: str
) -> tuple[list[TensorRecord], Architecture, list[str], list[str]]:
    """Roles by name rules, for a configuration whose architecture neither the table nor a build can tell."""
    notes: list[str] = []
    if tie_flag(document):
        records, tie = tie_output_head(records)
        if tie is not None:
            notes.append(f"config.json sets tie_word_embeddings: {tie[0]!r} is counted as {tie[1]!r}")
    warnings: list[str] = []
    if why_not != "--architecture off":
        guessed = [r.name for r in records if r.kind is Kind.BUFFER]
        what = f"{len(guessed)} taken for buffers: {_names(guessed)}" if guessed else "all counted as parameters"
        warnings.append(f"tensor roles are guessed from their names ({why_not}): {what}")
    section = Architecture(
        name=choice.name,
        model_type=choice.model_type,
        chosen=choice.chosen,
        source="name rules",
        matched=0,
    )
    return records, section, notes, warnings


def config_inventory(
    document: Mapping[str, Any], folder: str | None, target: str, *, trust_remote_code: bool = False
) -> Inventory:
    """The model a ``config.json`` describes, built on the meta device by transformers and counted live.

    ``folder`` holds the model's own code when ``auto_map`` names it; ``None`` for a remote repository, whose code
    paramcount never downloads.

    Raises:
        TargetError: transformers is missing or does not know the architecture, the config cannot be read as its
            class's configuration, or the model is the folder's own code and ``trust_remote_code`` is not set.
    """
    from paramcount.sources import hf
    from paramcount.sources import module as live

    choice = choose(document)
    remote = choice.remote and (choice.name is None or not _exported(choice.name))
    if remote and folder is None:
        raise TargetError(
            f"config.json's auto_map names the repository's own model code ({_auto_map(document)}), which paramcount "
            "does not download",
            target=target,
            fix="download the repository (huggingface-cli download) and count its folder with --trust-remote-code "
            "(trust_remote_code=True in Python)",
        )
    if remote and not trust_remote_code:
        raise TargetError(
            f"config.json's auto_map names the folder's own model code ({_auto_map(document)}), which paramcount "
            "runs only when asked",
            target=target,
            fix="pass --trust-remote-code (trust_remote_code=True) to run the code in that folder; nothing is "
            "downloaded",
        )
    if remote and folder is not None:
        model = hf.remote_model(folder, choice.name, target)
        how = "its own code (auto_map, --trust-remote-code), run from the folder with the Hub offline"
    else:
        model = _build(document, choice, target)
        how = _how(choice.chosen)
    found = live.inventory(model, target=target)
    notes = (f"built {type(model).__name__} from config.json ({how}) on the meta device: no weights read",)
    section = Architecture(
        name=type(model).__name__, model_type=choice.model_type, chosen=choice.chosen, source="build"
    )
    from paramcount.roles import experts_of

    return found._replace(
        notes=notes + found.notes, architecture=section, experts=experts_of(dict(document)), config=dict(document)
    )


def _exported(name: str) -> bool:
    """Whether transformers has a class of this name (checked without importing its model code)."""
    from paramcount.sources import hf

    try:
        hf.model_class(name, name)
    except TargetError:
        return False
    return True


def _auto_map(document: Mapping[str, Any]) -> str:
    auto_map = document.get("auto_map")
    if not isinstance(auto_map, dict):
        return "none"
    return ", ".join(f"{quote(k, 40)}: {quote(v, 60)}" for k, v in list(auto_map.items())[:3])
