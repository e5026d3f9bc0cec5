"""PyTorch checkpoints: the zip format of ``torch.save`` (1.6+) and the legacy pre-1.6 stream, read inertly.

Zip (reference/formats.md 2.1): one top folder ``<p>/`` holding ``data.pkl`` and a record ``data/<key>`` per
storage. The container is validated (:mod:`paramcount.formats.zip`), ``data.pkl`` is read whole (capped) and
evaluated by the inert evaluator, and every storage the pickle names must have a record of exactly
``numel x itemsize`` bytes. A TorchScript archive (``constants.pkl`` or ``code/``) is a program and is refused.

Legacy stream (2.3): pickles of the magic number, the protocol version 1001 and ``sys_info``, then the object
pickle, then the list of storage keys, then for each key an int64 element count and the storage's bytes. The
counts are read (8 bytes per storage) to check each storage's claimed size; the data is skipped.

No tensor data is read in either format.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

from paramcount.errors import FormatError, UnsafeTargetError
from paramcount.formats import _pickle, zip
from paramcount.formats.torchpickle import ALLOWLIST, Tensors, extract
from paramcount.limits import DEFAULT, Limits, exceeded

if TYPE_CHECKING:
    from paramcount.blob import Blob
    from paramcount.formats._pickle import Allowlist, Result

__all__ = ["Checkpoint", "evaluate", "read_legacy", "read_zip", "unsafe_error"]

_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_FIRST_WINDOW = 1 << 16


class Checkpoint(NamedTuple):
    """A torch checkpoint's tensors, with the facts the report adds.

    Attributes:
        tensors: what the pickle holds.
        stored_bytes: bytes of all storages, each once.
        notes: how it was read.
        warnings: problems worth a line in the report.
    """

    tensors: Tensors
    stored_bytes: int
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def unsafe_error(name: str, where: str, findings: tuple[str, ...], problem: str | None = None) -> UnsafeTargetError:
    """The exit-4 error for a pickle that would run code, listing every offending global with its offset."""
    shown = "; ".join(findings[:8]) + (f"; and {len(findings) - 8} more" if len(findings) > 8 else "")
    after = f" (and then: {problem})" if problem else ""
    return UnsafeTargetError(
        f"unsafe: {where} uses {len(findings)} global(s) outside the allowlist, which loading it would import or "
        f"call: {shown}{after}",
        target=name,
        fix="do not torch.load or unpickle this file; nothing in it was run",
    )


def evaluate(
    data: bytes,
    name: str,
    where: str,
    limits: Limits,
    *,
    complete: bool = True,
    allowlist: Allowlist = ALLOWLIST,
) -> Result:
    """Evaluate a torch pickle inertly; unsafe pickles raise exit-4 errors, malformed ones exit-3 errors.

    Args:
        complete: ``data`` is all there is; when not, a truncated pickle raises :class:`TruncatedPickleError` so that
            the caller can read more.
    """
    try:
        result = _pickle.evaluate(data, allowlist, limits)
    except _pickle.MalformedPickleError as e:
        if isinstance(e, _pickle.TruncatedPickleError) and not complete:
            raise
        if e.unsafe:
            raise unsafe_error(name, where, e.unsafe, e.problem) from None
        if e.limit is not None:
            raise exceeded(e.limit[0], f"{where} {e.problem} (at byte {e.offset})", e.limit[1], target=name) from None
        raise FormatError(f"{where}: {e}", target=name, rule="pickle") from None
    if result.unsafe:
        raise unsafe_error(name, where, result.unsafe)
    return result


def read_zip(blob: Blob, limits: Limits = DEFAULT) -> Checkpoint:
    """Tensors of a ``torch.save`` zip checkpoint.

    Raises:
        FormatError: the archive, its pickle or a storage record breaks a rule.
        UnsafeTargetError: ``data.pkl`` uses globals outside the allowlist, or the archive is TorchScript.
    """
    name = blob.name
    members = {m.name: m for m in zip.members(blob, max_entries=limits.zip_entries)}
    tops = sorted({n.partition("/")[0] for n in members if "/" in n})
    loose = [n for n in members if "/" not in n]
    if len(tops) != 1 or loose:
        found = f"member {loose[0]!r} outside any folder" if loose else f"{len(tops)} top-level folders"
        raise FormatError(
            f"is a zip with {found}; a torch checkpoint holds everything under one folder",
            target=name,
            rule="zip-layout",
        )
    (top,) = tops
    if f"{top}/constants.pkl" in members or any(n.startswith(f"{top}/code/") for n in members):
        raise UnsafeTargetError(
            "is a TorchScript archive: a program whose loading runs its code (CVE-2025-32434)",
            target=name,
            fix="count the Python model it was scripted from, or its state_dict saved with torch.save",
        )
    pickled = members.get(f"{top}/data.pkl")
    if pickled is None:
        raise FormatError(f"has no {top}/data.pkl", target=name, rule="zip-layout")
    if pickled.size > limits.pickle_bytes:
        raise exceeded("pickle_bytes", f"data.pkl is {pickled.size} bytes", limits.pickle_bytes, target=name)
    data = zip.read_member(blob, pickled, limit=limits.pickle_bytes)
    result = evaluate(data, name, "data.pkl", limits)
    if result.end != len(data):
        raise FormatError(
            f"data.pkl has {len(data) - result.end} bytes after its STOP opcode", target=name, rule="pickle"
        )
    tensors = extract(result.root, name, classes=result.classes, limits=limits)
    stored = 0
    for key, storage in tensors.storages.items():
        record = members.get(f"{top}/data/{key}")
        if record is None:
            raise FormatError(f"storage {key} has no record {top}/data/{key}", target=name, rule="zip-record")
        if record.size != storage.bytes:
            raise FormatError(
                f"storage {key} claims {storage.bytes} bytes but its record {top}/data/{key} holds {record.size}",
                target=name,
                rule="zip-record",
            )
        stored += storage.bytes
    warnings = []
    compressed = [m.name for m in members.values() if m.method != 0]
    if compressed:
        warnings.append(
            f"{len(compressed)} member(s) are compressed, which torch.save never does (e.g. {compressed[0]})"
        )
    unused = [n for n in members if n.startswith(f"{top}/data/") and n[len(top) + 6 :] not in tensors.storages]
    if unused:
        warnings.append(f"{len(unused)} storage record(s) are not used by any tensor (e.g. {unused[0]})")
    byteorder = members.get(f"{top}/byteorder")
    if byteorder is not None and zip.read_member(blob, byteorder, limit=16) == b"big":
        warnings.append("its storages are big-endian")
    notes = (f"read {top}/data.pkl ({len(data)} bytes, pickle protocol {result.protocol}) inertly",)
    return Checkpoint(tensors, stored, notes, tuple(warnings))


def read_legacy(blob: Blob, limits: Limits = DEFAULT) -> Checkpoint:
    """Tensors of a legacy (pre-1.6, ``_use_new_zipfile_serialization=False``) torch stream.

    Raises:
        FormatError: bad magic number or protocol, a malformed pickle, or storage sizes that disagree.
        UnsafeTargetError: a pickle uses globals outside the allowlist.
    """
    name = blob.name
    offset = 0
    results = []
    for where in ("magic number", "protocol version", "sys_info", "object pickle", "storage key list"):
        result = _next_pickle(blob, offset, where, limits)
        results.append(result)
        offset += result.end
        if where == "magic number" and result.root != _MAGIC:
            raise FormatError(
                "is a pickle stream but not a torch checkpoint (no legacy magic number)", target=name, rule="legacy"
            )
        if where == "protocol version" and result.root != _LEGACY_PROTOCOL:
            raise FormatError(f"has legacy protocol {result.root!r}, not 1001", target=name, rule="legacy")
    main, keys = results[3], results[4].root
    tensors = extract(main.root, name, classes=main.classes, legacy=True, limits=limits)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
        raise FormatError("its storage key list is not a list of distinct strings", target=name, rule="legacy")
    if set(keys) != set(tensors.storages):
        raise FormatError(
            f"its storage key list names {len(keys)} storages but its tensors use {len(tensors.storages)}",
            target=name,
            rule="legacy",
        )
    stored = 0
    for key in keys:
        storage = tensors.storages[key]
        (count,) = struct.unpack("<q", blob.read(offset, 8))
        if count != storage.numel:
            raise FormatError(
                f"storage {key} holds {count} elements but the pickle claims {storage.numel}",
                target=name,
                rule="legacy",
            )
        offset += 8 + storage.bytes
        stored += storage.bytes
    if offset != blob.size:
        problem = "ends before" if offset > blob.size else "has bytes after"
        raise FormatError(f"{problem} its last storage (at {offset} of {blob.size} bytes)", target=name, rule="legacy")
    notes = (f"read the legacy torch stream's 5 pickles ({sum(r.end for r in results)} bytes) inertly",)
    return Checkpoint(tensors, stored, notes, ())


def _next_pickle(blob: Blob, offset: int, where: str, limits: Limits) -> Result:
    """The pickle at ``offset``, read in growing windows so that only its own bytes are read."""
    window = _FIRST_WINDOW
    while True:
        length = min(window, blob.size - offset, limits.pickle_bytes)
        data = blob.read(offset, length)
        try:
            return evaluate(data, blob.name, where, limits, complete=length == blob.size - offset)
        except _pickle.TruncatedPickleError as e:
            if length == limits.pickle_bytes:
                if e.unsafe:
                    raise unsafe_error(blob.name, where, e.unsafe, e.problem) from None
                raise exceeded(
                    "pickle_bytes", f"{where} runs past its first {length} bytes", length, target=blob.name
                ) from None
            window *= 4
