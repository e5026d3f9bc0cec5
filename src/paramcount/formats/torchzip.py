"""PyTorch zip checkpoints, the format of ``torch.save`` since 1.6, read inertly.

Layout (reference/formats.md 2.1): one top folder ``<p>/`` holding ``data.pkl`` and a record ``data/<key>`` per
storage. The container is validated (:mod:`paramcount.formats.zip`), ``data.pkl`` is read whole (capped) and
evaluated by the inert evaluator, and every storage the pickle names must have a record of exactly
``numel x itemsize`` bytes. A TorchScript archive (``constants.pkl`` or ``code/``) is a program and is refused.

Every other pickle the archive carries (a ``.pkl`` member, a NumPy ``.npy`` member holding objects, as in an
``.npz``) is judged too, and an archive that breaks a rule has its pickles judged before it is refused: a loader
other than torch, or torch picking one of two duplicate members, may unpickle them. Any of them that would run
code makes the file unsafe (exit 4).

No tensor data is read.
"""

from __future__ import annotations

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


def _not_storage(name: str) -> bool:
    return "/data/" not in name


def read(blob: Blob, limits: Limits = DEFAULT, folder: Folder | None = None) -> FileRead:
    """Tensors of a ``torch.save`` zip checkpoint.

    Raises:
        FormatError: the archive, its pickle or a storage record breaks a rule.
        UnsafeTargetError: a pickle in it uses globals outside the allowlist, or the archive is TorchScript.
    """
    name = blob.name
    # Over a network every local header is a round trip: storages, which are never read, skip theirs.
    archive = zip.archive(blob, max_entries=limits.zip_entries, local_headers=_not_storage if blob.remote else None)
    members: dict[str, zip.Member] = {}
    for member in archive.members:
        members.setdefault(member.name, member)
    problems = list(archive.problems)
    tops = sorted({n.partition("/")[0] for n in members if "/" in n})
    loose = [n for n in members if "/" not in n]
    if len(tops) != 1 or loose:
        found = f"the member {quote(loose[0])} outside any folder" if loose else f"{len(tops)} top-level folders"
        problems.append(
            FormatError(
                f"is a zip with {found}; a torch checkpoint holds everything under one folder",
                target=name,
                rule="zip-layout",
            )
        )
    top = tops[0] if len(tops) == 1 else ""
    if any(_is_torchscript(n) for n in members):
        raise UnsafeTargetError(
            "is a TorchScript archive: a program whose loading runs its code (CVE-2025-32434)",
            target=name,
            fix="count the Python model it was scripted from, or its state_dict saved with torch.save",
        )
    main = f"{top}/data.pkl"
    if not problems and main not in members:
        problems.append(FormatError(f"has no {main}", target=name, rule="zip-layout"))
    others = [m for m in archive.members if m.name != main or problems]
    _judge_embedded(blob, others, limits)
    if problems:
        raise problems[0]
    pickled = members[main]
    if pickled.size > limits.pickle_bytes:
        raise exceeded("pickle_bytes", f"{main} is {pickled.size} bytes", limits.pickle_bytes, target=name)
    data = zip.read_member(blob, pickled, limit=limits.pickle_bytes)
    result = _pickle.check(data, target=name, where="data.pkl", limits=limits, allowlist=ALLOWLIST)
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
                f"storage {key} claims {storage.bytes} bytes but its record holds {record.size}",
                target=name,
                rule="zip-record",
                member=record.name,
            )
        stored += storage.bytes
    warnings = []
    compressed = [m.name for m in members.values() if m.method != 0]
    if compressed:
        warnings.append(
            f"{len(compressed)} member(s) are compressed, which torch.save never does (e.g. {quote(compressed[0])})"
        )
    unused = [n for n in members if n.startswith(f"{top}/data/") and n[len(top) + 6 :] not in tensors.storages]
    if unused:
        warnings.append(f"{len(unused)} storage record(s) are not used by any tensor (e.g. {quote(unused[0])})")
    byteorder = members.get(f"{top}/byteorder")
    if byteorder is not None and zip.read_member(blob, byteorder, limit=16) == b"big":
        warnings.append("its storages are big-endian")
    return FileRead(
        Format.TORCH_ZIP,
        tensors.records,
        len(tensors.storages),
        stored,
        modules=tensors.modules,
        notes=(f"read {main} ({len(data)} bytes, pickle protocol {result.protocol}) inertly",),
        warnings=tuple(warnings),
        untrusted=tensors.untrusted,
    )


def _judge_embedded(blob: Blob, members: list[zip.Member], limits: Limits) -> None:
    """Refuse the file as unsafe if any pickle among ``members`` (``.pkl``, object ``.npy``) would run code.

    Only what would run counts here: a member that is not a well-formed pickle, or that only names classes, is
    left to the archive's own rules.
    """
    from paramcount.formats.numpy import ALLOWLIST as EMBEDDED  # torch's and numpy's rebuilders
    from paramcount.formats.numpy import pickle_offset

    candidates = [m for m in members if m.name.endswith((".pkl", ".npy"))]
    if len(candidates) > _MAX_PICKLES:
        raise FormatError(
            f"holds {len(candidates)} pickle or NumPy members; paramcount judges at most {_MAX_PICKLES}",
            target=blob.name,
            rule="zip-pickles",
            fix="the file is not a checkpoint paramcount reads",
        )
    for member in candidates:
        if member.size > limits.pickle_bytes:
            raise exceeded(
                "pickle_bytes",
                f"member {quote(member.name)} is {member.size} bytes",
                limits.pickle_bytes,
                target=blob.name,
            )
        data = zip.read_member(blob, member, limit=limits.pickle_bytes)
        start = 0
        if member.name.endswith(".npy"):
            offset = pickle_offset(data)
            if offset is None:
                continue  # numbers, not objects: nothing is unpickled
            start = offset
        try:
            result = _pickle.evaluate(data[start:], EMBEDDED, limits)
        except _pickle.MalformedPickleError as e:
            if e.unsafe:
                raise _pickle.unsafe_error(blob.name, quote(member.name), e.unsafe, e.problem) from e
            continue
        if result.unsafe:
            raise _pickle.unsafe_error(blob.name, quote(member.name), result.unsafe)


def _is_torchscript(member: str) -> bool:
    """``<top>/constants.pkl`` or anything under ``<top>/code/``: what ``torch.jit.save`` writes."""
    parts = member.split("/")
    return (len(parts) == 2 and parts[1] == "constants.pkl") or (len(parts) > 2 and parts[1] == "code")
