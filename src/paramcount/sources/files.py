"""Checkpoint files and model folders -> records, from headers only. No torch, no tensor data, no code.

This version reads safetensors: a single file, a sharded set through ``model.safetensors.index.json``, or a
folder holding either (with ``config.json``'s ``tie_word_embeddings`` honoured). Other formats are recognised by
their magic bytes and refused with a clear error.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramcount.blob import LocalFile
from paramcount.classify import classify
from paramcount.errors import FormatError, TargetError
from paramcount.formats import SNIFF_BYTES, Format, detect
from paramcount.formats import safetensors as st
from paramcount.records import Inventory, Kind, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = ["MAX_JSON_BYTES", "inventory"]

#: Largest index or config.json read, in bytes; real ones are kilobytes to a few megabytes.
MAX_JSON_BYTES = 64 * 2**20

_INDEX = "model.safetensors.index.json"
_SINGLE = "model.safetensors"
# Input embeddings an untied-on-disk output head may share under tie_word_embeddings, by name suffix.
_EMBEDDINGS = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "tok_embeddings.weight",
    "embed_in.weight",
)
_HEADS = ("lm_head.weight", "embed_out.weight")
_LATER = {
    Format.TORCH_ZIP: "PyTorch zip checkpoint",
    Format.TORCH_LEGACY: "pickle stream (legacy PyTorch checkpoint)",
    Format.GGUF: "GGUF file",
}


def inventory(target: str) -> Inventory:
    """Records for every tensor stored at ``target`` (a file or a model folder).

    Raises:
        TargetError: the path is missing, unreadable, not a checkpoint, or a format this version does not read.
        FormatError: a file breaks a rule of its format.
    """
    path = Path(target)
    if path.is_dir():
        return _folder(path, target)
    if not path.exists():
        raise TargetError("no such file or folder", target=target, fix="check the path")
    with LocalFile(path) as blob:
        kind = detect(blob.read(0, min(SNIFF_BYTES, blob.size)), blob.size)
    # Content decides the format. A file named .safetensors whose content matches nothing is validated as
    # safetensors anyway, so that a broken one gets the precise rule it breaks rather than "unrecognised".
    if kind is Format.SAFETENSORS or (kind is None and path.suffix == ".safetensors"):
        return _shards(target, [(path, path.name)], weight_map=None, tie=None)
    if kind is Format.JSON:
        return _index(path, target, tie=None)
    if kind in _LATER:
        raise TargetError(
            f"{_LATER[kind]}: this version reads safetensors only", target=target, fix="convert it to safetensors"
        )
    raise TargetError(
        "not a checkpoint format paramcount recognises",
        target=target,
        fix="name a .safetensors file, an index or a model folder",
    )


def _folder(folder: Path, target: str) -> Inventory:
    tie = _tie_word_embeddings(folder / "config.json")
    if (folder / _INDEX).is_file():
        return _index(folder / _INDEX, target, tie=tie)
    if (folder / _SINGLE).is_file():
        return _shards(target, [(folder / _SINGLE, _SINGLE)], weight_map=None, tie=tie)
    candidates = sorted(p.name for p in folder.glob("*.safetensors") if p.is_file())
    if len(candidates) == 1:
        return _shards(target, [(folder / candidates[0], candidates[0])], weight_map=None, tie=tie)
    if candidates:
        raise TargetError(
            f"holds {len(candidates)} .safetensors files and no {_INDEX}",
            target=target,
            fix=f"name one file, e.g. {folder / candidates[0]}",
        )
    raise TargetError(f"holds no {_SINGLE}, {_INDEX} or other .safetensors file", target=target, fix="check the folder")


def _read_json(path: Path, what: str) -> Any:
    with LocalFile(path) as blob:
        if blob.size > MAX_JSON_BYTES:
            raise FormatError(
                f"{what} of {blob.size} bytes exceeds the limit of {MAX_JSON_BYTES}",
                target=str(path),
                rule="json-too-large",
            )
        raw = blob.read(0, blob.size)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(
            f"{what} is not valid JSON ({str(e).splitlines()[0]})", target=str(path), rule="json"
        ) from None


def _tie_word_embeddings(config: Path) -> bool | None:
    if not config.is_file():
        return None
    document = _read_json(config, "config.json")
    value = document.get("tie_word_embeddings") if isinstance(document, dict) else None
    return value if isinstance(value, bool) else None


def _index(path: Path, target: str, *, tie: bool | None) -> Inventory:
    document = _read_json(path, "index")
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise FormatError("has no 'weight_map' object of tensor names to shard files", target=str(path), rule="index")
    if tie is None:
        tie = _tie_word_embeddings(path.parent / "config.json")
    folder = path.parent.resolve()
    shards: list[tuple[Path, str]] = []
    for shard in dict.fromkeys(weight_map.values()):
        resolved = (folder / shard).resolve()
        if os.path.isabs(shard) or not resolved.is_relative_to(folder):
            raise FormatError(
                f"weight_map names shard {shard!r}, which lies outside the folder {str(folder)!r}",
                target=str(path),
                rule="index-path",
            )
        shards.append((folder / shard, shard))
    inventory = _shards(target, shards, weight_map=weight_map, tie=tie)
    metadata = document.get("metadata")
    warnings = list(inventory.warnings)
    if isinstance(metadata, dict):
        stored = sum(r.stored_bytes or 0 for r in inventory.tensors if "not-in-index" not in r.notes)
        total_size = metadata.get("total_size")
        if type(total_size) is int and total_size != stored:
            warnings.append(f"the index's total_size is {total_size} bytes but its shards hold {stored}")
        claimed = metadata.get("total_parameters")
        unique = {r.identity: r.elements or 0 for r in inventory.tensors if r.kind is Kind.PARAMETER}
        if type(claimed) is int and claimed != sum(unique.values()):
            warnings.append(f"the index's total_parameters is {claimed} but its shards hold {sum(unique.values())}")
    return Inventory(
        target=inventory.target,
        tensors=inventory.tensors,
        warnings=tuple(warnings),
        notes=(*inventory.notes, f"read {len(shards)} shard header(s) through {path.name}"),
        format=inventory.format,
        files=(str(path), *inventory.files),
        verdict=inventory.verdict,
        storages=inventory.storages,
    )


def _shards(
    target: str, shards: list[tuple[Path, str]], *, weight_map: dict[str, str] | None, tie: bool | None
) -> Inventory:
    """Records of every tensor in ``shards`` (path, name as the index spells it), cross-checked with the index."""
    records: list[TensorRecord] = []
    seen: dict[str, str] = {}
    files = []
    for shard, label in shards:
        if not shard.is_file():
            raise TargetError(
                f"shard {label!r} named by the index is missing", target=target, fix="download every shard"
            )
        with LocalFile(shard) as blob:
            header = st.read_header(blob)
        files.append(str(shard))
        for entry in header.entries:
            if entry.name in seen:
                raise FormatError(
                    f"is stored in both {seen[entry.name]!r} and {label!r}",
                    target=target,
                    rule="index-duplicate",
                    tensor=entry.name,
                )
            seen[entry.name] = label
            listed = weight_map is None or weight_map.get(entry.name) == label
            if weight_map is not None and entry.name in weight_map and not listed:
                raise FormatError(
                    f"is in shard {label!r} but the index maps it to {weight_map[entry.name]!r}",
                    target=target,
                    rule="index-shard",
                    tensor=entry.name,
                )
            records.append(_record(entry, str(shard), listed))
    if weight_map is not None:
        missing = sorted(set(weight_map) - set(seen))
        if missing:
            raise FormatError(
                f"{len(missing)} tensor(s) listed in the index are in no shard (first: {missing[0]!r})",
                target=target,
                rule="index-missing",
            )
    warnings = []
    unlisted = [r.name for r in records if "not-in-index" in r.notes]
    if unlisted:
        warnings.append(f"{len(unlisted)} stored tensor(s) are missing from the index's weight_map and are not counted")
    notes = []
    if tie:
        records, note = _apply_tie(records)
        if note:
            notes.append(note)
    return Inventory(
        target=target,
        tensors=tuple(records),
        warnings=tuple(warnings),
        notes=tuple(notes),
        format=Format.SAFETENSORS.value,
        files=tuple(files),
        verdict="ok",
        storages=len(records),
    )


def _record(entry: st.Entry, shard: str, listed: bool) -> TensorRecord:
    what = classify(entry.name, entry.shape) if listed else "not-in-index"
    kind = Kind.PARAMETER if what is None else Kind.BUFFER if listed else Kind.TENSOR
    stored = entry.end - entry.begin
    elements = math.prod(entry.shape)
    identity: Hashable = ("safetensors", shard, entry.begin, entry.end)
    return TensorRecord(
        name=entry.name,
        module=entry.name.rpartition(".")[0],
        kind=kind,
        shape=entry.shape,
        elements=elements,
        dtype=entry.dtype.name,
        stored_elements=elements,
        stored_bytes=stored,
        identity=identity,
        trainable=None,
        persistent=True if kind is Kind.BUFFER else None,
        notes=(what,) if what is not None else (),
    )


def _apply_tie(records: list[TensorRecord]) -> tuple[list[TensorRecord], str | None]:
    """Give a stored output head its input embedding's identity when config.json ties them."""
    by_name = {r.name: r for r in records}
    head = next((by_name[n] for n in _HEADS if n in by_name), None)
    if head is None:
        return records, None  # saved without the tied head (save_pretrained drops it): nothing to do
    embedding = next(
        (r for r in records if r.name.endswith(_EMBEDDINGS) and r.shape == head.shape and r.dtype == head.dtype), None
    )
    if embedding is None:
        return records, None
    tied = head._replace(identity=embedding.identity)
    return [tied if r is head else r for r in records], (
        f"config.json sets tie_word_embeddings: {head.name!r} is counted as {embedding.name!r}"
    )
