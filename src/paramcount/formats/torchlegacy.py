"""What ``torch.load`` does with a file that is not a zip: the legacy stream (before 1.6, or
``_use_new_zipfile_serialization=False``), read inertly; the older tar format, judged and refused; and any other file,
judged (:mod:`paramcount.formats.polyglot`).

Stream (reference/formats.md 2.3): pickles of the magic number, the protocol version 1001 and ``sys_info``, then
the object pickle, then the list of storage keys, then for each key an int64 element count and the storage's
bytes. Each pickle is evaluated as ``torch.load`` would unpickle it, in turn; only the object pickle may name
classes (a whole-module save), the others hold plain values. The counts are read (8 bytes per storage) to check
each storage's claimed size; the data is skipped.

Any other file is judged the way ``torch.load`` would read it by :mod:`paramcount.formats.polyglot`.
"""

from __future__ import annotations

import struct

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import FormatError, TargetError, quote
from paramcount.formats import FileRead, Format, _pickle
from paramcount.formats.torchpickle import ALLOWLIST, extract
from paramcount.limits import DEFAULT, Limits

if TYPE_CHECKING:
    from paramcount.blob import Blob, Folder
    from paramcount.formats._pickle import Result

__all__ = ["read", "read_tar"]

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_PICKLES = ("magic number", "protocol version", "sys_info", "object pickle", "storage key list")


def read(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
    """Tensors of a legacy torch stream.

    Raises:
        FormatError: bad magic number or protocol, a malformed pickle, or storage sizes that disagree.
        UnsafeTargetError: a pickle uses globals outside the allowlist.
    """
    name = blob.name
    offset = 0
    results: list[Result] = []
    refused: FormatError | None = None  # the first change torch's weights-only unpickler refuses
    for where in _PICKLES:
        is_object = where == "object pickle"
        try:
            # torch.load gives only the object pickle a persistent_load
            result = _pickle.read_stream(blob, offset, ALLOWLIST, limits, persistent=is_object)
        except _pickle.MalformedPickleError as e:
            raise _pickle.error(e, target=name, where=where) from e
        findings = result.unsafe + (() if is_object else result.class_findings)
        if findings:
            raise _pickle.unsafe_error(name, where, findings)
        if result.malformed and refused is None:
            # no unpickler stops at it, so the pickles after it run too: judged before this is reported
            try:
                _pickle.judge(result, target=name, where=where)
            except FormatError as e:
                refused = e
        results.append(result)
        offset += result.end
        if where == "magic number" and result.root != _MAGIC:
            raise refused or FormatError(
                "is a pickle stream but not a torch checkpoint (no legacy magic number)", target=name, rule="legacy"
            )
        if where == "protocol version" and result.root != _PROTOCOL:
            raise refused or FormatError(
                f"has legacy protocol {quote(result.root, 40)}, not 1001", target=name, rule="legacy"
            )
    if refused is not None:
        raise refused
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
        # each storage's element count is checked against the pickle's; over a network that is a round trip per
        # storage, so only the sizes' sum is checked against the file's (below)
        (count,) = struct.unpack("<q", blob.read(offset, 8)) if not blob.remote else (storage.numel,)
        if count != storage.numel:
            raise FormatError(
                f"storage {storage.key} holds {count} elements but the pickle claims {storage.numel}",
                target=name,
                rule="legacy",
            )
        offset += 8 + storage.bytes
        stored += storage.bytes
    warnings = list(tensors.warnings)
    if offset > blob.size:
        raise FormatError(
            f"ends before its last storage (at {offset} of {blob.size} bytes)", target=name, rule="legacy"
        )
    if offset < blob.size:
        # torch.load reads the storages it needs and ignores what follows them: the file loads, the rest is flagged
        warnings.append(f"has {blob.size - offset} bytes after its last storage, which torch ignores")
    return FileRead(
        Format.TORCH_LEGACY,
        tensors.records,
        len(tensors.storages),
        stored,
        modules=tensors.modules,
        notes=(f"read the legacy torch stream's 5 pickles ({sum(r.end for r in results)} bytes) inertly",),
        warnings=tuple(warnings),
        untrusted=tensors.untrusted,
    )


def read_tar(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
    """Judge, then refuse, the earliest ``torch.save`` format, a tar of pickles, which this version does not count.

    Raises:
        UnsafeTargetError: a pickle ``torch.load`` would read from it would run code.
        TargetError: otherwise, always.
    """
    from paramcount.formats import polyglot

    polyglot.judge(blob, blob.read(0, min(blob.size, 512)), limits)
    raise TargetError(
        "is a tar archive, the earliest torch.save format, which this version does not count (its pickles were judged: "
        "none names anything outside the allowlist)",
        target=blob.name,
        fix="re-save it with a current torch (torch.load refuses it with weights_only=True)",
    )
