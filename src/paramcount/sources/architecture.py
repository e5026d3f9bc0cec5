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
from paramcount.classify import tie_output_head
from paramcount.errors import TargetError, UsageError, quote
from paramcount.records import Architecture, Inventory, Kind, Note, Role, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Mapping
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
    "pattern",
]

#: the values of ``--architecture``
MODES = ("table", "build", "off")
_TABLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "architectures")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,100}")
_INDEX = re.compile(r"(?:(?<=\.)|^)\d+(?=\.|$)")
_NAMED = 5  # tensor names listed in one warning


def pattern(name: str) -> str:
    """A tensor name with its layer indices replaced by ``*`` (the table's form).

    >>> pattern("model.layers.12.mlp.experts.3.w1.weight")
    'model.layers.*.mlp.experts.*.w1.weight'
    """
    return _INDEX.sub("*", name)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"--architecture must be one of {', '.join(MODES)}, not {mode!r}")
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
    """What a checkpoint of one class holds, as layer-index patterns (:func:`pattern`).

    Attributes:
        name: the class.
        model_type: its configuration's model_type.
        chosen: how the class was chosen.
        source: ``"table"`` or ``"build"``.
        prefix: the base model's attribute name (``"model"``), which a headless checkpoint's names lack.
        parameters: patterns of stored parameters.
        buffers: patterns of stored (persistent) buffers.
        ties: groups of patterns that name one tensor in the model as configured.
        base: the model_type's base class, for messages.
        unsaved: parameters a checkpoint leaves out because the model makes them at load (Marian's sinusoidal
            positions), as ``(name, shape, dtype)``; from a build only (shapes depend on the configuration).
        needs_build: the table knows the class leaves some parameters out, whose shapes only a build can give.
    """

    name: str
    model_type: str | None
    chosen: str
    source: str
    prefix: str
    parameters: frozenset[str]
    buffers: frozenset[str]
    ties: tuple[tuple[str, ...], ...]
    base: str | None = None
    unsaved: tuple[tuple[str, tuple[int, ...], str], ...] = ()
    needs_build: bool = False


_FILES: dict[str, dict[str, Any] | None] = {}


def _table_file(model_type: str) -> dict[str, Any] | None:
    """The table's file for ``model_type``, or ``None`` (a name from a config is never used as a path unchecked)."""
    if model_type in _FILES:
        return _FILES[model_type]
    found: dict[str, Any] | None = None
    if _SAFE_NAME.fullmatch(model_type):
        try:
            with open(os.path.join(_TABLE, f"{model_type}.json"), encoding="utf-8") as f:
                loaded = json.load(f)
            found = loaded if isinstance(loaded, dict) else None
        except FileNotFoundError:
            found = None
    _FILES[model_type] = found
    return found


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
    tied = tie_flag(document, table.get("tie_word_embeddings"))
    ties: list[list[str]] = entry.get("ties") or []
    if tied is False and "untied" in entry:
        ties = entry["untied"] or []
    return Knowledge(
        name=choice.name,
        model_type=choice.model_type,
        chosen=choice.chosen,
        source="table",
        prefix=str(entry.get("prefix", "")),
        parameters=frozenset(entry.get("parameters", ())),
        buffers=frozenset(entry.get("buffers", ())),
        ties=tuple(tuple(group) for group in ties),
        base=table.get("auto"),
        needs_build=bool(entry.get("unsaved")),
    )


def from_build(document: Mapping[str, Any], choice: Choice, target: str) -> Knowledge:
    """Knowledge of the chosen class from the model itself, built on the meta device with this configuration.

    Raises:
        TargetError: transformers is missing, does not have the class, or cannot build it from this config.
    """
    from paramcount.sources import hf

    model = _build(document, choice, target)
    described = hf.describe(model)
    table = _table_file(choice.model_type) if choice.model_type else None
    return Knowledge(
        name=type(model).__name__,
        model_type=choice.model_type,
        chosen=choice.chosen,
        source="build",
        prefix=described["prefix"],
        parameters=frozenset(described["parameters"]),
        buffers=frozenset(described["buffers"]),
        ties=tuple(tuple(group) for group in described["ties"]),
        base=table.get("auto") if table else None,
        unsaved=tuple((name, tuple(shape), dtype) for name, (shape, dtype) in described["unsaved"].items()),
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
    cls = hf.model_class(choice.name, target)
    return hf.build(cls, hf.config_object(document, target), target)


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
    """Stored records matched with one class's knowledge."""

    records: list[TensorRecord]
    matched: int
    unexpected: list[TensorRecord]
    missing: list[str]
    copies: list[tuple[str, str]]
    made: list[str]


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


def _match(records: list[TensorRecord], knowledge: Knowledge, target: str) -> _Match | str:
    """Re-label ``records`` by ``knowledge``; when most stored names are not the class's, the first such name.

    Raises:
        TargetError: the names are the class's with its base prefix added or removed: the configuration names a
            model with a head beside a base model's weights, or the other way round.
    """
    positions = _candidates(records)
    if not positions:
        return _Match(records, 0, [], [], [], [])
    members = {p: g for g, group in enumerate(knowledge.ties) for p in group}
    known = knowledge.parameters | knowledge.buffers | members.keys()
    keys = [pattern(_model_name(records[i])) for i in positions]
    matched = sum(1 for key in keys if key in known)
    if matched * 2 < len(keys):
        _check_prefix(keys, knowledge, known, target)
        return next(records[i].name for i, key in zip(positions, keys, strict=True) if key not in known)
    out = list(records)
    unexpected: list[TensorRecord] = []
    present: set[str] = set()
    tied: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, key in zip(positions, keys, strict=True):
        r = records[i]
        if key in knowledge.buffers:
            why = r.notes[0] if r.kind is Kind.BUFFER and r.notes and isinstance(r.notes[0], Role) else None
            why = None if why is Role.KNOWN_BUFFER else why
            out[i] = r._replace(
                kind=Kind.BUFFER, trainable=None, persistent=True, notes=(why or Role.BUFFER, *_flags(r))
            )
        elif key in known:
            out[i] = r._replace(kind=Kind.PARAMETER, persistent=None, notes=_flags(r))
        else:
            out[i] = r._replace(kind=Kind.TENSOR, trainable=None, persistent=None, notes=(Role.UNEXPECTED, *_flags(r)))
            unexpected.append(r)
            continue
        present.add(key)
        exact = members.get(_model_name(r))  # a tie of some indices only is kept by exact names
        if exact is not None:
            tied.setdefault((exact, ()), []).append(i)
        elif (group := members.get(key)) is not None:
            tied.setdefault((group, tuple(_INDEX.findall(_model_name(r)))), []).append(i)
    copies: list[tuple[str, str]] = []
    for same in tied.values():
        first = out[same[0]]
        for i in same[1:]:
            r = out[i]
            if r.identity != first.identity and r.shape == first.shape and r.dtype == first.dtype:
                out[i] = r._replace(identity=first.identity)
                copies.append((r.name, first.name))
    reached = {g for g, group in enumerate(knowledge.ties) if any(p in present for p in group)}
    missing = sorted(
        p for p in knowledge.parameters | knowledge.buffers if p not in present and members.get(p) not in reached
    )
    stored = {r.name for r in records}
    made = [name for name, _, _ in knowledge.unsaved if name not in stored]
    for name, shape, dtype in knowledge.unsaved:
        if name in stored:
            continue
        out.append(
            TensorRecord(
                name=name,
                module=name.rpartition(".")[0],
                kind=Kind.PARAMETER,
                shape=shape,
                elements=math.prod(shape),
                dtype=dtype,
                stored_elements=0,
                stored_bytes=0,
                identity=("not stored", name),
                notes=(Note.NOT_STORED,),
            )
        )
    return _Match(out, len(keys) - len(unexpected), unexpected, missing, copies, made)


def _flags(record: TensorRecord) -> tuple[Note, ...]:
    """A record's notes without its role."""
    return tuple(n for n in record.notes if isinstance(n, Note))


def _check_prefix(keys: list[str], knowledge: Knowledge, known: frozenset[str] | set[str], target: str) -> None:
    prefix = knowledge.prefix + "." if knowledge.prefix else ""
    if not prefix:
        return
    added = sum(1 for key in keys if prefix + key in known)
    stripped = sum(1 for key in keys if key.startswith(prefix) and key[len(prefix) :] in known)
    base = knowledge.base or "its base model"
    if added * 2 >= len(keys):
        raise TargetError(
            f"config.json names {knowledge.name}, but the weights are a base model's ({base}): their names lack "
            f"the {prefix!r} prefix {knowledge.name} has",
            target=target,
            fix=f"set config.json's architectures to [{base!r}], or count the weights file alone",
        )
    if stripped * 2 >= len(keys):
        raise TargetError(
            f"config.json names {knowledge.name}, but the weights are a model's with a head: their names carry a "
            f"{prefix!r} prefix that {knowledge.name} does not have",
            target=target,
            fix="set config.json's architectures to the class that saved them, or count the weights file alone",
        )


def apply(
    records: list[TensorRecord], document: Mapping[str, Any], mode: str, target: str
) -> tuple[list[TensorRecord], Architecture, list[str], list[str]]:
    """Re-label a folder's stored records by its configuration's architecture.

    Returns:
        The records, the architecture section, notes and warnings.

    Raises:
        TargetError: the configuration disagrees with the weights (a base model's weights beside a configuration
            with a head, or names that are mostly not the class's).
    """
    choice = choose(document)
    if choice.chosen == "model_type" and mode != "off":
        choice = _by_weights(records, document, choice)
    knowledge, why_not = knowledge_of(document, choice, mode, target)
    if knowledge is None:
        return _name_rules(records, document, choice, why_not)
    match = _match(records, knowledge, target)
    if (
        knowledge.source == "table"
        and (isinstance(match, str) or match.unexpected or match.missing or knowledge.needs_build)
        and can_build()
    ):
        # The table describes the default configuration; this one adds or drops tensors: ask the model itself.
        try:
            knowledge = from_build(document, choice, target)
        except TargetError as e:
            if isinstance(match, str):
                return _name_rules(records, document, choice, e.problem)
        else:
            match = _match(records, knowledge, target)
    if isinstance(match, str):
        raise TargetError(
            f"the weights do not match config.json's {knowledge.name}: most stored names are not its tensors "
            f"(e.g. {quote(match, 80)})",
            target=target,
            fix="check that config.json belongs to these weights, or count with --architecture off (name rules)",
        )
    source = "from paramcount's table" if knowledge.source == "table" else "built on the meta device"
    notes = [
        f"architecture {knowledge.name} ({_how(knowledge.chosen)}; {source}) decides every stored tensor's role: "
        f"{match.matched} matched"
    ]
    warnings: list[str] = []
    if match.copies:
        shown = ", ".join(f"{a} = {b}" for a, b in match.copies[:_NAMED])
        more = f" and {len(match.copies) - _NAMED} more" if len(match.copies) > _NAMED else ""
        notes.append(f"{len(match.copies)} tied tensor(s) stored as separate copies are counted once: {shown}{more}")
    if match.made:
        notes.append(
            f"{len(match.made)} parameter(s) are not stored because {knowledge.name} makes them at load; counted "
            f"from the architecture: {_names(match.made)}"
        )
    if match.unexpected:
        elements = sum(r.elements or 0 for r in match.unexpected)
        warnings.append(
            f"{len(match.unexpected)} stored tensor(s) ({elements:,} elements) are not tensors of {knowledge.name} "
            f"and are not counted: {_names([r.name for r in match.unexpected])}"
        )
    if match.missing:
        warnings.append(
            f"{knowledge.name} has {len(match.missing)} tensor name(s) that no stored tensor matches "
            f"(the model would initialize them): {_names(match.missing)}"
        )
    section = Architecture(
        name=knowledge.name,
        model_type=knowledge.model_type,
        chosen=knowledge.chosen,
        source=knowledge.source,
        matched=match.matched,
        unexpected=tuple(r.name for r in match.unexpected),
        missing=tuple(match.missing),
        tied_copies=tuple(a for a, _ in match.copies),
    )
    return match.records, section, notes, warnings


def _by_weights(records: list[TensorRecord], document: Mapping[str, Any], choice: Choice) -> Choice:
    """For a config without ``architectures``: the class of its model_type whose checkpoint names the stored
    names match best (a ``lm_head.weight`` and a ``model.`` prefix make it the causal LM, not the base model)."""
    table = _table_file(choice.model_type) if choice.model_type else None
    classes = table.get("classes") if table else None
    if not isinstance(classes, dict):
        return choice
    keys = [pattern(_model_name(records[i])) for i in _candidates(records)]
    best: tuple[int, int, str] | None = None
    for name in classes:
        knowledge = from_table(document, Choice(name, choice.model_type, "weights", False))
        if knowledge is None:
            continue
        known = knowledge.parameters | knowledge.buffers | {p for group in knowledge.ties for p in group}
        matched = sum(1 for key in keys if key in known)
        score = (matched, -len(known - set(keys)), name)
        if best is None or score[:2] > best[:2]:
            best = score
    return choice if best is None or best[0] == 0 else Choice(best[2], choice.model_type, "weights", choice.remote)


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
            fix="download the repository (huggingface-cli download) and count its folder with --trust-remote-code",
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
