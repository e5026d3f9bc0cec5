"""A PEFT adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``/``.bin``) -> records.

The adapter's own tensors (LoRA ``lora_A``/``lora_B``, DoRA magnitudes, IA3 vectors, prompt embeddings, ...) are
parameters, all trainable. Copies of base-model layers saved beside them (``modules_to_save``, embeddings saved
with ``save_embedding_layers``) replace a base layer rather than add to it: they are listed apart, not counted as
new weights. When the base model is at hand (``--base TARGET``, the folder's own weights, or
``base_model_name_or_path`` when it is a Hugging Face id in the local cache) its parameters are added, frozen, so
that ``trainable`` and the trainable share read as a LoRA user checks them; the adapter section also gives PEFT's
own convention (``print_trainable_parameters``: the trained copies counted as extra weights), computed from exact
logical counts.
"""

from __future__ import annotations

import os

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, quote
from paramcount.records import Adapter, Inventory, Kind, Role, TensorRecord, unique_parameters

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from paramcount.blob import Folder
    from paramcount.limits import Limits

__all__ = ["ADAPTER_CONFIG", "inventory"]

ADAPTER_CONFIG = "adapter_config.json"
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# Name pieces of the tensors PEFT's tuners add (every other saved tensor is a copy of a base layer).
_TUNER_MARKERS = (
    "lora_",
    "ia3_",
    "hada_",
    "lokr_",
    "oft_",
    "boft_",
    "vera_",
    "fourierft_",
    "vblora_",
    "prompt_embeddings",
    "adaption_",
    "ln_tuning_",
    "randlora_",
    "shira_",
    "miss_",
    "c3a_",
    "road_",
)
_PEFT_PREFIX = "base_model.model."
# What a Trainer writes beside a checkpoint's adapter: not the model.
_TRAINER_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin", "scaler.pt")


def inventory(
    folder: Folder,
    target: str,
    limits: Limits,
    *,
    read_json: Callable[[str], Any],
    read_weights: Callable[[str], Inventory],
    base: str | None,
    base_inventory: Callable[[str], Inventory] | None,
) -> Inventory:
    """Records of the adapter in ``folder``, with its base model's when one is given or found.

    Args:
        folder: the adapter folder.
        target: how the user named it.
        limits: file-reading limits.
        read_json: reads a JSON file of the folder by name.
        read_weights: reads a weights file of the folder by name (name rules only).
        base: the base model's TARGET (``--base``), or ``None`` to use the folder's own weights or the config's
            ``base_model_name_or_path`` when it is a Hugging Face id in the local cache (never a path the file names).
        base_inventory: counts a base TARGET (a path or a cached id); ``None`` when no base is at hand.
    """
    config = read_json(ADAPTER_CONFIG)
    if not isinstance(config, dict):
        raise TargetError(f"{ADAPTER_CONFIG} is not a JSON object", target=target, fix="check the adapter folder")
    names = folder.names()
    weights = next((n for n in _WEIGHTS if n in names and folder.is_file(n)), None)
    if weights is None:
        raise TargetError(
            f"has {ADAPTER_CONFIG} but no adapter weights ({' or '.join(_WEIGHTS)})",
            target=target,
            fix="copy the adapter's weights file into the folder",
        )
    stored = read_weights(weights)
    adapter_records: list[TensorRecord] = []
    copies: list[TensorRecord] = []
    for r in stored.tensors:
        if r.kind is Kind.PARAMETER and any(marker in r.name for marker in _TUNER_MARKERS):
            adapter_records.append(r._replace(trainable=True))
        elif r.kind is Kind.PARAMETER:
            copies.append(r._replace(kind=Kind.TENSOR, trainable=None, notes=(Role.BASE_COPY,)))
        else:
            adapter_records.append(r)
    adapter_elements = sum(r.elements or 0 for r in adapter_records if r.kind is Kind.PARAMETER)
    modules_to_save = [str(m) for m in config.get("modules_to_save") or ()]
    explicit = any(".modules_to_save." in r.name for r in copies)
    trained_copies = sum(r.elements or 0 for r in copies if _is_trained_copy(r.name, modules_to_save, explicit))
    notes = [f"PEFT adapter ({_describe(config)}): {adapter_elements:,} adapter parameters, all trainable"]
    warnings: list[str] = list(stored.warnings)
    if copies:
        notes.append(
            f"{len(copies)} saved copies of base layers (modules_to_save, embedding layers) are listed apart, not "
            f"counted as new weights: {', '.join(quote(r.name, 80) for r in copies[:5])}"
            + (" and more" if len(copies) > 5 else "")
        )
    left_out = [n for n in names if n in _TRAINER_FILES]
    if left_out:
        notes.append(f"left out the trainer's state beside the adapter: {', '.join(left_out)}")
    nested = [n for n in names if folder.is_file(os.path.join(n, ADAPTER_CONFIG))]
    if nested:
        warnings.append(
            f"counted the adapter at the top of the folder; left out {len(nested)} more in sub-folders "
            f"({', '.join(quote(n, 40) for n in nested[:5])}): count each by its folder"
        )
    base_records: list[TensorRecord] = []
    base_storages = base_bytes = 0
    base_name = _base_target(config, base, folder)
    base_elements: int | None = None
    files = list(stored.files)
    if base_name is not None and base_inventory is not None:
        found = base_inventory(base_name)
        base_records = [r._replace(trainable=False) if r.kind is Kind.PARAMETER else r for r in found.tensors]
        base_elements = unique_parameters(base_records)
        files = [*found.files, *files]
        base_storages, base_bytes = found.storages or 0, found.stored_bytes or 0  # the base is read from disk too
        notes.append(f"base model {quote(base_name, 200)}: {base_elements:,} parameters, frozen")
        warnings.extend(found.warnings)
    elif isinstance(config.get("base_model_name_or_path"), str):
        notes.append(
            f"base model {quote(config['base_model_name_or_path'], 120)} not counted: an adapter's own "
            "base_model_name_or_path is followed only to a Hugging Face id in the local cache, never to a path a file "
            "names or over the network; counted the adapter alone (pass --base TARGET to add it)"
        )
    peft_trainable = adapter_elements + trained_copies
    peft_all = None if base_elements is None else base_elements + adapter_elements + trained_copies
    section = Adapter(
        method=str(config.get("peft_type") or "unknown"),
        rank=config.get("r") if type(config.get("r")) is int else None,
        alpha=config.get("lora_alpha") if isinstance(config.get("lora_alpha"), (int, float)) else None,
        target_modules=_targets(config.get("target_modules")),
        modules_to_save=tuple(modules_to_save),
        base=base_name if base_elements is not None else None,
        adapter_parameters=adapter_elements,
        base_parameters=base_elements,
        saved_copies=tuple(r.name for r in copies),
        peft_trainable=peft_trainable,
        peft_all=peft_all,
    )
    if peft_all:
        notes.append(
            f"as PEFT's print_trainable_parameters() reports it: trainable params: {peft_trainable:,} || all "
            f"params: {peft_all:,} || trainable%: {100 * peft_trainable / peft_all:.4f}"
        )
    return Inventory(
        target=target,
        tensors=(*base_records, *adapter_records, *copies),
        warnings=tuple(warnings),
        notes=tuple(notes) + stored.notes,
        format=stored.format,
        files=tuple(files),
        verdict=stored.verdict,
        storages=None if stored.storages is None else stored.storages + base_storages,
        stored_bytes=None if stored.stored_bytes is None else stored.stored_bytes + base_bytes,
        quantization=stored.quantization,
        adapter=section,
    )


def _is_trained_copy(name: str, modules_to_save: list[str], explicit: bool) -> bool:
    """Whether a saved base-layer copy is one PEFT trains: a ``modules_to_save`` copy, not the original module
    saved beside it. ``explicit``: the file names its trained copies ``.modules_to_save.`` (PEFT >= 0.18)."""
    if explicit:
        return ".modules_to_save." in name
    module = name.removeprefix(_PEFT_PREFIX).rpartition(".")[0]
    return ".original_module." not in name and any(module == m or module.endswith("." + m) for m in modules_to_save)


def _targets(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(sorted(str(v) for v in value))
    return ()


def _describe(config: dict[str, Any]) -> str:
    parts = [str(config.get("peft_type") or "unknown method")]
    if type(config.get("r")) is int:
        parts.append(f"rank {config['r']}")
    if isinstance(config.get("lora_alpha"), (int, float)):
        parts.append(f"alpha {config['lora_alpha']}")
    targets = _targets(config.get("target_modules"))
    if targets:
        parts.append(f"targets {', '.join(targets[:8])}" + (" ..." if len(targets) > 8 else ""))
    return ", ".join(parts)


def _base_target(config: dict[str, Any], base: str | None, folder: Folder) -> str | None:
    """The base model to add: ``--base``, else the folder itself when it holds a model, else
    ``base_model_name_or_path`` when it is a Hugging Face id in the local cache.

    A path that ``adapter_config.json`` names is not followed: what paramcount reads outside the target is the
    user's choice (``--base``), never a file's (SECURITY.md: no path outside the target is read)."""
    if base is not None:
        return base
    names = folder.names()
    if any(n in names for n in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")):
        return folder.name
    named = config.get("base_model_name_or_path")
    if not isinstance(named, str) or not named:
        return None
    from paramcount.sources.resolve import resolve

    try:
        resolved = resolve(named)
    except TargetError:
        return None
    if resolved.kind != "hub" or not os.path.exists(resolved.path):
        return None  # a path, code or a remote id: not on a file's word
    return named
