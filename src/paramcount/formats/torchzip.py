"""PyTorch zip checkpoints, the format of ``torch.save`` since 1.6, read the way ``torch.load`` reads them.

Layout (reference/formats.md 2.1): one top folder ``<p>/`` holding ``data.pkl`` and a record ``data/<key>`` per
storage. The archive is read as torch's own reader reads it (:func:`paramcount.formats.zip.miniz`): the folder is
the first member's, every lookup is miniz's case-insensitive one (a zip holding ``archive/DATA.PKL`` loads), and
what torch refuses is refused (no ``version`` record, a member outside the folder). ``data.pkl`` is
extracted as torch extracts it, capped, and evaluated by the inert evaluator; every storage the pickle names must
have a record of exactly ``numel x itemsize`` bytes. A ``constants.pkl`` record makes it a TorchScript archive,
which ``torch.load`` hands to ``torch.jit.load``: a program, refused.

Every other pickle the archive carries is judged first, under both readings of the archive (torch's and Python's
:mod:`zipfile`, which ``numpy.load`` and most other loaders use and which can see different members): members named
``*.pkl`` (any case), and members whose content is a NumPy array of objects (``numpy.load`` unpickles any member
that starts with NumPy's magic, whatever its name). Any of them that would run code makes the file unsafe (exit 4),
also when torch itself would refuse the archive.

No tensor data is read.
"""

from __future__ import annotations

import hashlib

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import FormatError, UnsafeTargetError, quote
from paramcount.formats import FileRead, Format, _pickle, zip
from paramcount.formats.torchpickle import ALLOWLIST, extract
from paramcount.limits import DEFAULT, Limits, exceeded

if TYPE_CHECKING:
    from paramcount.blob import Blob, Folder

__all__ = ["read"]

# Pickles judged per archive at most: more is refused rather than scanned for minutes (each costs an evaluation).
_MAX_PICKLES = 1000
_NUMPY = b"\x93NUMPY"
_MAX_NAME = 511  # miniz copies at most MZ_ZIP_MAX_ARCHIVE_FILENAME_SIZE - 1 bytes of a name into a C string
_VERSIONS = range(1, 0xB)  # caffe2/serialize/versions.h: kMinSupportedFileFormatVersion .. kMaxSupported...


def read(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
    """Tensors of a ``torch.save`` zip checkpoint.

    Raises:
        FormatError: torch's reader refuses the archive, or the pickle or a storage record breaks a rule.
        UnsafeTargetError: a pickle in the archive (under either reading) would run code, or it is TorchScript.
    """
    name = blob.name
    refused: FormatError | None = None
    try:
        directory = zip.miniz(blob, max_entries=limits.zip_entries)
    except FormatError as e:
        if e.rule.startswith("limit-"):
            raise
        directory, refused = None, e
    try:
        python = zip.python(blob, max_entries=limits.zip_entries)
    except FormatError as e:
        if e.rule.startswith("limit-"):
            raise
        python = None
    prefix, main, layout = b"", None, None
    if directory is not None:
        prefix, layout = _layout(directory, name)
        if layout is None:
            main = zip.locate(directory, prefix + b"data.pkl")
    # torch's data.pkl first, as torch extracts it; then every other pickle, under both readings. Both are judged
    # before anything torch would refuse is refused: another loader may still read them.
    data, unread = _main(blob, directory, main, limits)
    partial = unread if isinstance(unread, zip.PartialMemberError) else None
    if partial is not None:
        data, unread = partial.prefix, None
    evaluated = _evaluate_main(data, name, limits, partial=partial)
    _judge_pickles(blob, [d for d in (directory, python) if d is not None], main if data is not None else None, limits)
    if directory is None:
        assert refused is not None
        raise refused
    if layout is not None:
        raise layout
    _check_version(blob, directory, prefix, limits)
    if "constants.pkl" in _records(directory, prefix):
        raise UnsafeTargetError(
            "is a TorchScript archive: a program whose loading runs its code (CVE-2025-32434)",
            target=name,
            fix="count the Python model it was scripted from, or its state_dict saved with torch.save",
        )
    if main is None:
        raise FormatError(f"has no {quote(_text(prefix) + 'data.pkl')}", target=name, rule="zip-layout")
    if unread is not None:
        raise unread
    assert data is not None
    assert evaluated is not None
    if isinstance(evaluated, _pickle.MalformedPickleError):
        raise _pickle.error(evaluated, target=name, where="data.pkl")
    result = _pickle.judge(evaluated, target=name, where="data.pkl")
    tensors = extract(result.root, name, classes=result.classes, limits=limits)
    stored = 0
    used: set[int] = set()
    for key, storage in tensors.storages.items():
        record = zip.locate(directory, prefix + f"data/{key}".encode())
        if record is None:
            raise FormatError(f"storage {key} has no record {_text(prefix)}data/{key}", target=name, rule="zip-record")
        if record.size != storage.bytes:
            raise FormatError(
                f"storage {key} claims {storage.bytes} bytes but its record holds {record.size}",
                target=name,
                rule="zip-record",
                member=record.name,
            )
        used.add(record.position)
        stored += storage.bytes
    warnings = [*tensors.warnings, *_warnings(blob, directory, python, prefix=prefix, used=used, limits=limits)]
    if partial is not None:
        warnings.append(
            f"data.pkl's deflate stream breaks after {len(data)} of its {partial.size} bytes: torch reads its pickle "
            "from them and ignores the rest of its buffer, which it leaves uninitialised"
        )
    elif result.end != len(data):
        # torch.load unpickles one pickle and ignores the rest, so the file loads: the rest is only flagged
        warnings.append(f"data.pkl has {len(data) - result.end} bytes after its STOP opcode, which torch ignores")
    return FileRead(
        Format.TORCH_ZIP,
        tensors.records,
        len(tensors.storages),
        stored,
        modules=tensors.modules,
        notes=(f"read {main.name} ({len(data)} bytes, pickle protocol {result.protocol}) inertly",),
        warnings=tuple(warnings),
        untrusted=tensors.untrusted,
    )


def _main(
    blob: Blob, directory: zip.Directory | None, main: zip.Entry | None, limits: Limits
) -> tuple[bytes | None, FormatError | None]:
    """torch's ``data.pkl`` as torch extracts it, or why torch could not (raised only once the archive's other
    refusals have had their turn)."""
    if directory is None or main is None:
        return None, None
    if main.size > limits.pickle_bytes:
        raise exceeded("pickle_bytes", f"data.pkl is {main.size} bytes", limits.pickle_bytes, target=blob.name)
    if main.size and (main.is_directory or not main.compressed_size):
        # miniz extracts nothing from a directory or an entry without compressed bytes, and torch's getRecord hands
        # over the buffer it allocated for the claimed size as it was (the zip-oracle fuzz target found it)
        raise _cannot_follow(
            blob.name,
            f"data.pkl claims {main.size} bytes but holds none that torch's reader extracts: torch would unpickle "
            "uninitialised memory",
        )
    try:
        return zip.extract(blob, main, directory, limit=limits.pickle_bytes, limits=limits, field="pickle_bytes"), None
    except FormatError as e:
        if e.rule.startswith("limit-"):
            raise
        return None, e


def _evaluate_main(
    data: bytes | None, target: str, limits: Limits, *, partial: zip.PartialMemberError | None = None
) -> _pickle.Result | _pickle.MalformedPickleError | None:
    """``data.pkl`` evaluated; unsafe at once, malformed kept for later (torch may refuse the archive first).

    ``partial``: ``data`` is the prefix a broken deflate stream decoded, the rest of torch's buffer uninitialised:
    a pickle that ends within it is read as torch reads it, one that runs past it cannot be followed (unsafe).
    """
    if data is None:
        return None
    try:
        result = _pickle.evaluate(data, ALLOWLIST, limits)
    except _pickle.MalformedPickleError as e:
        if e.unsafe or e.classes or e.limit is not None:
            raise _pickle.error(e, target=target, where="data.pkl") from e
        if partial is not None and isinstance(e, _pickle.TruncatedPickleError):
            raise _cannot_follow(
                target,
                f"data.pkl's deflate stream breaks after {len(data)} of its {partial.size} bytes, before its pickle "
                "ends: torch would unpickle the rest from uninitialised memory",
            ) from None
        return e
    if result.unsafe:
        raise _pickle.unsafe_error(target, "data.pkl", result.unsafe)
    return result


def _layout(directory: zip.Directory, name: str) -> tuple[bytes, FormatError | None]:
    """torch's folder (the first member's, up to its first ``/``) and the refusal torch's reader would raise
    before anything is read: no members, a first member outside a folder, members outside the folder
    (``getAllRecords``, which ``torch.load`` calls to look for TorchScript)."""
    entries = directory.entries
    if not entries:
        return b"", FormatError("is a zip with no members", target=name, rule="zip-layout")
    first = entries[0].raw
    if b"/" not in first:
        return b"", FormatError(
            f"is a zip whose first member {quote(entries[0].name)} is outside any folder; a torch checkpoint holds "
            "everything under one folder",
            target=name,
            rule="zip-layout",
        )
    prefix = first[: first.index(b"/") + 1]
    outside = [e for e in entries if not _strncmp_equal(e.raw, prefix)]
    if outside:
        return prefix, FormatError(
            f"is a zip with the member {quote(outside[0].name)} outside the folder {quote(_text(prefix))}; "
            "a torch checkpoint holds everything under one folder",
            target=name,
            rule="zip-layout",
        )
    return prefix, None


def _check_version(blob: Blob, directory: zip.Directory, prefix: bytes, limits: Limits) -> None:
    """Refuse the archive as torch's reader does when its version record cannot be read (``getRecord``), does not
    parse (``std::stoull``) or is outside the versions it reads.

    Raises:
        FormatError: the record fails to extract (its rule), or its value is refused (``zip-layout``).
    """
    version = zip.locate(directory, prefix + b".data/version") or zip.locate(directory, prefix + b"version")
    if version is None:
        raise FormatError("has no version record, which torch requires", target=blob.name, rule="zip-layout")
    text = zip.extract(blob, version, directory, limit=64, limits=limits)
    digits = text.lstrip(b" \t\n\r\x0b\x0c")
    digits = digits[: len(digits) - len(digits.lstrip(b"0123456789"))]
    if not digits or int(digits[:20]) not in _VERSIONS:
        raise FormatError(
            f"has the version record {quote(text[:20])}, which torch's reader does not read",
            target=blob.name,
            rule="zip-layout",
        )


def _records(directory: zip.Directory, prefix: bytes) -> set[str]:
    """``getAllRecords``: every member's name after the folder, as the C strings torch lists."""
    cut = len(prefix.split(b"\0", 1)[0])
    return {_text(e.raw.split(b"\0", 1)[0][:_MAX_NAME][cut:]) for e in directory.entries}


def _strncmp_equal(name: bytes, prefix: bytes) -> bool:
    """``strncmp(name, prefix, len(prefix)) == 0`` over C strings (each ends at its first NUL)."""
    a = name.split(b"\0", 1)[0][:_MAX_NAME]
    b = prefix.split(b"\0", 1)[0]
    n = len(prefix)
    return a[:n] == b[:n] if len(b) >= n else a[: len(b) + 1] == b


def _judge_pickles(blob: Blob, directories: list[zip.Directory], main: zip.Entry | None, limits: Limits) -> None:
    """Refuse the file as unsafe if a pickle in the archive, under any reading of it, would run code.

    Candidates: members named ``*.pkl`` (any case) and members whose content starts with NumPy's magic. A
    ``data.pkl`` is judged as a checkpoint's object (instance classes untrusted); any other pickle has no reason to
    name a class. Torch's own ``data.pkl`` is left to the count (``main``), which judges it as well.

    Raises:
        UnsafeTargetError: a candidate would run code.
        FormatError: more than :data:`_MAX_PICKLES` candidates, or one over ``pickle_bytes``.
    """
    from paramcount.formats.numpy import ALLOWLIST as EMBEDDED  # torch's and numpy's rebuilders
    from paramcount.formats.numpy import pickle_offset

    seen: set[bytes] = set()
    judged = 0
    for directory in directories:
        for entry in directory.entries:
            named = entry.raw.lower().endswith(b".pkl")
            if not named and not _may_hold_objects(blob, entry, directory, limits):
                continue
            if main is not None and (entry.raw, entry.local_offset) == (main.raw, main.local_offset):
                continue  # torch's own data.pkl, judged by the count (zipfile reads the same bytes)
            judged += 1
            if judged > _MAX_PICKLES:
                raise FormatError(
                    f"holds more than {_MAX_PICKLES} pickle or NumPy members; paramcount judges at most {_MAX_PICKLES}",
                    target=blob.name,
                    rule="zip-pickles",
                    fix="the file is not a checkpoint paramcount reads",
                )
            if entry.size > limits.pickle_bytes:
                raise exceeded(
                    "pickle_bytes",
                    f"member {quote(entry.name)} is {entry.size} bytes",
                    limits.pickle_bytes,
                    target=blob.name,
                )
            try:
                data = zip.extract(
                    blob, entry, directory, limit=limits.pickle_bytes, limits=limits, field="pickle_bytes"
                )
            except FormatError as e:
                if e.rule.startswith("limit-"):
                    raise
                continue  # this reader cannot read the member: nothing in it is unpickled by this reader
            digest = hashlib.blake2b(data, digest_size=16).digest()
            if digest in seen:
                continue
            seen.add(digest)
            start = 0
            if data.startswith(_NUMPY):
                offset = pickle_offset(data, limits, target=blob.name)
                if offset is None:
                    continue  # numbers, not objects: nothing is unpickled
                start = offset
            elif not named:
                continue
            object_pickle = named and entry.raw.lower().endswith(b"data.pkl")
            allowlist = ALLOWLIST if object_pickle else EMBEDDED
            try:
                # numpy.load unpickles an object array without a persistent_load; a .pkl's loader is unknown
                result = _pickle.evaluate(data[start:], allowlist, limits, persistent=not start)
            except _pickle.MalformedPickleError as e:
                if e.unsafe or e.classes:
                    findings = (*e.unsafe, *e.classes)
                    raise _pickle.unsafe_error(blob.name, _where(entry, directory), findings, e.problem) from e
                if e.limit is not None:
                    raise _pickle.error(e, target=blob.name, where=_where(entry, directory)) from e
                continue
            findings = result.unsafe + (() if object_pickle else result.class_findings)
            if findings:
                raise _pickle.unsafe_error(blob.name, _where(entry, directory), findings)


def _may_hold_objects(blob: Blob, entry: zip.Entry, directory: zip.Directory, limits: Limits) -> bool:
    """Whether a member not named ``*.pkl`` could be a NumPy array ``numpy.load`` unpickles: its name ends in
    ``.npy``, or (read locally, where it costs one small read) its content starts with NumPy's magic."""
    if entry.raw.lower().endswith(b".npy"):
        return True
    if blob.remote:
        return False  # over a network, every member's first bytes would be a round trip: storages are not sniffed
    return zip.head(blob, entry, directory, len(_NUMPY), limits) == _NUMPY


def _where(entry: zip.Entry, directory: zip.Directory) -> str:
    reader = "" if directory.reader == "torch" else " (as Python's zipfile reads the archive)"
    return f"{quote(entry.name)}{reader}"


def _warnings(
    blob: Blob, directory: zip.Directory, python: zip.Directory | None, *, prefix: bytes, used: set[int], limits: Limits
) -> list[str]:
    """What a careful reader should know about an archive torch loads: compressed members, records no tensor
    uses, names torch resolves by case or among duplicates, a zipfile reading that differs, big-endian data."""
    warnings = []
    entries = directory.entries
    compressed = [e.name for e in entries if e.method != 0]
    if compressed:
        warnings.append(
            f"{len(compressed)} member(s) are compressed, which torch.save never does (e.g. {quote(compressed[0])})"
        )
    folded = [e.raw.lower() for e in entries]
    if len(set(folded)) != len(folded):
        twice = next(e for e in entries if folded.count(e.raw.lower()) > 1)
        warnings.append(
            f"{len(folded) - len(set(folded))} member name(s) appear twice (case aside, e.g. {quote(twice.name)}); "
            "counted the members torch's reader resolves them to"
        )
    storage = prefix + b"data/"
    unused = [e.name for e in entries if e.raw.startswith(storage) and e.position not in used]
    if unused:
        warnings.append(f"{len(unused)} storage record(s) are not used by any tensor (e.g. {quote(unused[0])})")
    if not blob.remote:  # a local header is a round trip over a network
        renamed = [e for e in entries if zip.local_name(blob, e) not in (e.raw, None)]
        if renamed:
            warnings.append(
                f"{len(renamed)} member(s) are named differently in their local headers "
                f"(e.g. {quote(renamed[0].name)}): torch's reader does not look, Python's zipfile refuses to read them"
            )
    if python is None or [(e.raw, e.local_offset) for e in python.entries] != [
        (e.raw, e.local_offset) for e in entries
    ]:
        warnings.append(
            "Python's zipfile reads this archive differently from torch (its pickles were judged both ways)"
        )
    byteorder = zip.locate(directory, prefix + b"byteorder")
    if byteorder is not None:
        try:
            if zip.extract(blob, byteorder, directory, limit=16, limits=limits) == b"big":
                warnings.append("its storages are big-endian")
        except FormatError:
            pass
    return warnings


def _cannot_follow(target: str, problem: str) -> UnsafeTargetError:
    return UnsafeTargetError(
        f"unsafe: cannot be judged the way torch reads it: {problem}",
        target=target,
        fix="do not torch.load or unpickle this file; nothing in it was run",
    )


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
