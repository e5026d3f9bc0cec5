"""Checkpoint files and model folders -> records, from headers only. No torch, no tensor data, no code.

Reads safetensors, PyTorch zip checkpoints and legacy streams (inertly: :mod:`paramcount.formats.torchzip`),
GGUF, and ``torch.distributed.checkpoint`` folders: a single file, a sharded set through an index
(``model.safetensors.index.json``, ``pytorch_model.bin.index.json``), or a Hugging Face-style folder holding any of
them, with ``config.json``'s ``tie_word_embeddings`` honoured. The format is decided by content, not by name.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from paramcount import quant
from paramcount.blob import LocalFile, confined
from paramcount.classify import role, tie_output_head
from paramcount.errors import FormatError, TargetError
from paramcount.formats import SNIFF_BYTES, Format, detect
from paramcount.formats import safetensors as st
from paramcount.limits import DEFAULT, Limits, exceeded
from paramcount.quant import Scheme, scheme_from_config
from paramcount.records import Inventory, Kind, ModuleRecord, TensorRecord

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = ["inventory"]

_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_SINGLES = ("model.safetensors", "pytorch_model.bin", "model.pt", "model.pth", "model.ckpt")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


class _File(NamedTuple):
    """What one weights file holds."""

    records: list[TensorRecord]
    format: Format
    storages: int
    stored_bytes: int
    modules: tuple[ModuleRecord, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    untrusted: tuple[str, ...]
    values: dict[str, bytes]


def inventory(target: str, limits: Limits = DEFAULT) -> Inventory:
    """Records for every tensor stored at ``target`` (a file or a model folder), within ``limits``.

    Raises:
        TargetError: the path is missing, unreadable, or not a checkpoint paramcount reads.
        FormatError: a file breaks a rule of its format.
        UnsafeTargetError: a pickle in it would run code if loaded.
    """
    path = Path(target)
    if path.is_dir():
        return _folder(path, target, limits)
    if not path.exists():
        raise TargetError("no such file or folder", target=target, fix="check the path")
    with LocalFile(path) as blob:
        kind = detect(blob.read(0, min(SNIFF_BYTES, blob.size)), blob.size)
    if kind is Format.JSON:
        return _index(path, target, config=None, limits=limits)
    return _combine(target, [(path, path.name)], weight_map=None, config=_NO_CONFIG, limits=limits)


def _folder(folder: Path, target: str, limits: Limits) -> Inventory:
    if (folder / ".metadata").is_file():
        from paramcount.formats import dcp

        read = dcp.read(folder, limits)
        return Inventory(
            target=target,
            tensors=tuple(read.records),
            notes=read.notes,
            format="dcp",
            files=tuple(read.files),
            verdict="ok",
            storages=len(read.records),
            stored_bytes=read.stored_bytes,
        )
    config = _config(folder, limits)
    for index in _INDEXES:
        if (folder / index).is_file():
            return _index(_inside(folder, index), target, config=config, limits=limits)
    for single in _SINGLES:
        if (folder / single).is_file():
            return _combine(target, [(_inside(folder, single), single)], weight_map=None, config=config, limits=limits)
    candidates = sorted(p.name for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
    if len(candidates) == 1:
        path = _inside(folder, candidates[0])
        return _combine(target, [(path, candidates[0])], weight_map=None, config=config, limits=limits)
    if candidates:
        raise TargetError(
            f"holds {len(candidates)} weight files ({', '.join(candidates[:4])}) and no index",
            target=target,
            fix=f"name one file, e.g. {folder / candidates[0]}",
        )
    raise TargetError(
        "holds no weights: no index, no .metadata and no .safetensors, .bin, .pt, .pth, .ckpt or .gguf file",
        target=target,
        fix="check the folder",
    )


def _read_json(path: Path, what: str, limits: Limits) -> Any:
    with LocalFile(path) as blob:
        if blob.size > limits.json_bytes:
            raise exceeded("json_bytes", f"{what} is {blob.size} bytes", limits.json_bytes, target=str(path))
        raw = blob.read(0, blob.size)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(
            f"{what} is not valid JSON ({str(e).splitlines()[0]})", target=str(path), rule="json"
        ) from None


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused when a symlink takes it out of the folder (see :func:`paramcount.blob.confined`)."""
    path = folder / name
    if not confined(folder, path):
        raise FormatError(
            f"{name} is a link to {os.path.realpath(path)!r}, outside the folder",
            target=str(folder),
            rule="folder-path",
            fix="copy the file into the folder, or name it directly",
        )
    return path


class _Config(NamedTuple):
    """What a model folder's configuration says about counting its weights."""

    tie: bool | None
    scheme: Scheme | None


_NO_CONFIG = _Config(None, None)


def _config(folder: Path, limits: Limits) -> _Config:
    """``tie_word_embeddings`` and the quantization scheme, from ``config.json`` and ``quantize_config.json``."""
    documents = []
    for name in ("config.json", "quantize_config.json"):
        if (folder / name).is_file():
            document = _read_json(_inside(folder, name), name, limits)
            documents.append(document if isinstance(document, dict) else None)
        else:
            documents.append(None)
    config, quantize_config = documents
    tie = config.get("tie_word_embeddings") if config else None
    return _Config(tie if isinstance(tie, bool) else None, scheme_from_config(config, quantize_config))


def _index(path: Path, target: str, *, config: _Config | None, limits: Limits) -> Inventory:
    document = _read_json(path, "index", limits)
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise FormatError("has no 'weight_map' object of tensor names to shard files", target=str(path), rule="index")
    if config is None:
        config = _config(path.parent, limits)
    folder = path.parent.resolve()
    shards: list[tuple[Path, str]] = []
    for shard in dict.fromkeys(weight_map.values()):
        if os.path.isabs(shard) or not confined(folder, folder / shard):
            raise FormatError(
                f"weight_map names shard {shard!r}, which lies outside the folder {str(folder)!r}",
                target=str(path),
                rule="index-path",
            )
        shards.append((folder / shard, shard))
    inventory = _combine(target, shards, weight_map=weight_map, config=config, limits=limits)
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
        stored_bytes=inventory.stored_bytes,
        modules=inventory.modules,
        quantization=inventory.quantization,
    )


def _read(path: Path, label: str, limits: Limits) -> _File:
    """One weights file, read by its content."""
    with LocalFile(path) as blob:
        kind = detect(blob.read(0, min(SNIFF_BYTES, blob.size)), blob.size)
        # A file named .safetensors whose content matches nothing is validated as safetensors anyway, so that a
        # broken one gets the precise rule it breaks rather than "unrecognised".
        if kind is Format.SAFETENSORS or (kind is None and path.suffix == ".safetensors"):
            header = st.read_header(blob, limits)
            records = [_record(entry, label) for entry in header.entries]
            stored = sum(e.end - e.begin for e in header.entries)
            # The quantization rules need two kinds of tiny tensors' values (documented, capped).
            values = {
                e.name: blob.read(header.data_start + e.begin, e.end - e.begin)
                for e in header.entries
                if e.name.endswith(quant.VALUE_SUFFIXES) and e.end - e.begin <= quant.VALUE_LIMIT
            }
            return _File(records, Format.SAFETENSORS, len(records), stored, (), (), (), (), values)
        if kind in (Format.TORCH_ZIP, Format.TORCH_LEGACY):
            from paramcount.formats import torchzip

            reader = torchzip.read_zip if kind is Format.TORCH_ZIP else torchzip.read_legacy
            checkpoint = reader(blob, limits)
            found = checkpoint.tensors
            records = [r if r.identity is None else r._replace(identity=(label, r.identity)) for r in found.records]
            return _File(
                records,
                kind,
                len(found.storages),
                checkpoint.stored_bytes,
                found.modules,
                checkpoint.notes,
                checkpoint.warnings,
                found.untrusted,
                {},
            )
        if kind is Format.GGUF or (kind is None and path.suffix == ".gguf"):
            from paramcount.formats import gguf

            read = gguf.read(blob, limits)
            return _File(read.records, Format.GGUF, len(read.records), read.stored_bytes, (), read.notes, (), (), {})
        if kind is Format.TORCH_TAR:
            raise TargetError(
                "is a tar archive, the earliest torch.save format, which this version does not read",
                target=str(path),
                fix="re-save it with a current torch (in a sandbox: loading it runs its pickles)",
            )
    raise TargetError(
        "not a checkpoint format paramcount recognises",
        target=str(path),
        fix="name a safetensors, PyTorch (.pt/.bin/.ckpt), GGUF or DCP checkpoint, an index or a model folder",
    )


def _combine(
    target: str,
    shards: list[tuple[Path, str]],
    *,
    weight_map: dict[str, str] | None,
    config: _Config,
    limits: Limits,
) -> Inventory:
    """Records of every tensor in ``shards`` (path, name as the index spells it), cross-checked with the index."""
    records: list[TensorRecord] = []
    seen: dict[str, str] = {}
    files: list[str] = []
    formats: set[Format] = set()
    notes: list[str] = []
    warnings: list[str] = []
    untrusted: list[str] = []
    storages = stored_bytes = 0
    values: dict[str, bytes] = {}
    modules: tuple[ModuleRecord, ...] = ()
    for shard, label in shards:
        if not shard.is_file():
            raise TargetError(
                f"shard {label!r} named by the index is missing", target=target, fix="download every shard"
            )
        read = _read(shard, label, limits)
        files.append(str(shard))
        formats.add(read.format)
        storages += read.storages
        stored_bytes += read.stored_bytes
        notes.extend(read.notes)
        warnings.extend(read.warnings)
        untrusted.extend(read.untrusted)
        values.update(read.values)
        if len(shards) == 1:
            modules = read.modules
        for record in read.records:
            r = record
            if r.name in seen:
                raise FormatError(
                    f"is stored in both {seen[r.name]!r} and {label!r}",
                    target=target,
                    rule="index-duplicate",
                    tensor=r.name,
                )
            seen[r.name] = label
            if weight_map is not None:
                if r.name in weight_map and weight_map[r.name] != label:
                    raise FormatError(
                        f"is in shard {label!r} but the index maps it to {weight_map[r.name]!r}",
                        target=target,
                        rule="index-shard",
                        tensor=r.name,
                    )
                if r.name not in weight_map:
                    r = r._replace(kind=Kind.TENSOR, notes=("not-in-index",), trainable=None, persistent=None)
            records.append(r)
        if len(records) > limits.tensors:
            raise exceeded("tensors", f"holds {len(records)} tensors", limits.tensors, target=target)
    elements = sum(r.elements or 0 for r in records)
    if elements > limits.elements:
        raise exceeded("elements", f"holds {elements} elements in all", limits.elements, target=target)
    if weight_map is not None:
        missing = sorted(set(weight_map) - set(seen))
        if missing:
            raise FormatError(
                f"{len(missing)} tensor(s) listed in the index are in no shard (first: {missing[0]!r})",
                target=target,
                rule="index-missing",
            )
    unlisted = sum(1 for r in records if r.notes[:1] == ("not-in-index",))
    if unlisted:
        warnings.append(f"{unlisted} stored tensor(s) are missing from the index's weight_map and are not counted")
    records, scheme = quant.logical(records, config.scheme, values)
    if scheme is not None:
        notes.append(f"quantized ({scheme}): packed weights are counted by their logical, unquantized shapes")
    if config.tie:
        records, tie = tie_output_head(records)
        if tie is not None:
            notes.append(f"config.json sets tie_word_embeddings: {tie[0]!r} is counted as {tie[1]!r}")
    warnings.extend(f"untrusted: {reason}" for reason in dict.fromkeys(untrusted))
    return Inventory(
        target=target,
        tensors=tuple(records),
        modules=modules,
        warnings=tuple(warnings),
        notes=tuple(notes),
        format=formats.pop().value if len(formats) == 1 else "mixed",
        files=tuple(files),
        verdict="untrusted" if untrusted else "ok",
        storages=storages,
        stored_bytes=stored_bytes,
        quantization=scheme,
    )


def _record(entry: st.Entry, shard: str) -> TensorRecord:
    kind, what = role(entry.name, entry.shape)
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
