"""Zip containers read through a Blob: the central directory, checked against every local header, no data read.

Stricter than :mod:`zipfile` where laxness has been exploited (reference/formats.md 9, #32-#37): the archive must
start at offset 0 with nothing prepended, member names must be unique and agree between the central directory and
the local headers, encrypted members are refused, and the number of entries and the directory size are capped
before anything is allocated. Zip64 is supported (``torch.save`` writes it past 4 GiB).

A broken member (a duplicate name, a local name that differs, encryption, an unknown compression method, data
outside the archive) is a *problem* the caller raises once it has looked at the members it can read: a pickle in
an archive that torch or another loader might still open is judged before the archive is refused.
"""

from __future__ import annotations

import struct
import zlib

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import FormatError, quote
from paramcount.limits import DEFAULT, exceeded

if TYPE_CHECKING:
    from collections.abc import Callable

    from paramcount.blob import Blob

__all__ = ["Archive", "Member", "archive", "read_member"]

_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries here, entries, cd size, cd offset, comment
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_MAX_COMMENT = 65_535
_STORED, _DEFLATED = 0, 8


class Member(NamedTuple):
    """One archive member.

    Attributes:
        name: its name, decoded strictly.
        method: 0 stored, 8 deflated.
        compressed_size: bytes in the archive.
        size: bytes once extracted (``ZipInfo.file_size``).
        data_offset: where its bytes start, after the local header; ``-1`` when the local header was not read
            (:func:`read_member` reads it then).
        local_offset: where its local header starts.
    """

    name: str
    method: int
    compressed_size: int
    size: int
    data_offset: int
    local_offset: int = 0


class Archive(NamedTuple):
    """A zip's members and the rules they break.

    Attributes:
        members: every member whose bytes can be located and read, in central-directory order (a duplicate name
            appears as often as the archive holds it).
        problems: one error per broken member, in order; the archive is malformed when there is any.
    """

    members: tuple[Member, ...]
    problems: tuple[FormatError, ...]


def archive(
    blob: Blob, *, max_entries: int = DEFAULT.zip_entries, local_headers: Callable[[str], bool] | None = None
) -> Archive:
    """The members of the zip in ``blob``, in central-directory order, with the rules broken member by member.

    Each member's local header is read and checked against its central entry, unless ``local_headers`` says not
    to for that member's name: over a network each local header is a round trip, and a member that will not be
    read (a torch storage) needs none.

    Raises:
        FormatError: the archive as a whole cannot be read: no end record, prepended bytes, a corrupt central
            directory, more than ``max_entries`` entries.
    """
    name = blob.name
    tail_length = min(blob.size, _EOCD.size + _MAX_COMMENT)
    tail = blob.read(blob.size - tail_length, tail_length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise FormatError("has no zip end-of-central-directory record", target=name, rule="zip-end")
    eocd_offset = blob.size - tail_length + at
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if disk or cd_disk:
        raise FormatError("is a multi-disk zip archive", target=name, rule="zip-end")
    directory_end = eocd_offset
    locator = eocd_offset - _EOCD64_LOCATOR.size
    has_zip64 = locator >= 0 and blob.read(locator, 4) == b"PK\x06\x07"  # torch's writer always adds one
    if has_zip64 or entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        entries, cd_size, cd_offset, directory_end = _zip64_end(blob, eocd_offset)
    if entries > max_entries:
        raise exceeded("zip_entries", f"has {entries} zip entries", max_entries, target=name)
    if cd_offset + cd_size != directory_end:
        raise FormatError(
            f"its central directory ({cd_size} bytes at {cd_offset}) does not end where the end record starts "
            f"({directory_end}): bytes were prepended or inserted",
            target=name,
            rule="zip-offset",
        )
    directory = blob.read(cd_offset, cd_size)
    found: list[Member] = []
    problems: list[FormatError] = []
    seen: set[str] = set()
    cursor = 0
    for _ in range(entries):
        if cursor + _CENTRAL.size > len(directory):
            raise FormatError("its central directory is shorter than its entry count", target=name, rule="zip-end")
        fields = _CENTRAL.unpack_from(directory, cursor)
        signature, _, _, flags, method = fields[:5]
        csize, usize, name_length, extra_length, comment_length = fields[8:13]
        local_offset = fields[16]
        if signature != b"PK\x01\x02":
            raise FormatError("has a corrupt central directory entry", target=name, rule="zip-end")
        start = cursor + _CENTRAL.size
        raw_name = directory[start : start + name_length]
        extra = directory[start + name_length : start + name_length + extra_length]
        cursor = start + name_length + extra_length + comment_length
        member_name = _decode(raw_name, name)

        def problem(text: str, rule: str, member: str = member_name) -> None:
            problems.append(FormatError(text, target=name, rule=rule, member=member))

        if member_name in seen:
            problem("appears twice in the archive", "zip-duplicate")
        seen.add(member_name)
        if flags & 1:
            problem("is encrypted", "zip-encrypted")
            continue
        if method not in (_STORED, _DEFLATED):
            problem(f"uses zip compression method {method}; only stored and deflated are read", "zip-method")
            continue
        usize, csize, local_offset = _zip64_sizes(extra, usize, csize, local_offset, name=name, member=member_name)
        if local_headers is not None and not local_headers(member_name):
            if local_offset + csize > cd_offset:
                problem(f"its data ({csize} bytes at {local_offset}) runs past the central directory", "zip-bounds")
                continue
            found.append(Member(member_name, method, csize, usize, -1, local_offset))
            continue
        data_offset, local_name = _local_header(blob, local_offset, method=method, name=name, member=member_name)
        if local_name != raw_name:
            problem(f"is named {quote(local_name)} in its local header: the two names differ", "zip-local-name")
        if data_offset + csize > cd_offset:
            problem(f"its data ({csize} bytes at {data_offset}) runs past the central directory", "zip-bounds")
            continue
        found.append(Member(member_name, method, csize, usize, data_offset, local_offset))
    if cursor != len(directory):
        raise FormatError("its central directory is longer than its entries", target=name, rule="zip-end")
    return Archive(tuple(found), tuple(problems))


def read_member(blob: Blob, member: Member, *, limit: int) -> bytes:
    """The extracted bytes of ``member``, refusing more than ``limit`` bytes before reading or inflating them."""
    if member.size > limit:
        raise FormatError(
            f"is {member.size} bytes, over the limit of {limit}", target=blob.name, rule="zip-limit", member=member.name
        )
    offset = member.data_offset
    if offset < 0:
        offset, _ = _local_header(blob, member.local_offset, method=member.method, name=blob.name, member=member.name)
    data = blob.read(offset, member.compressed_size)
    if member.method == _STORED:
        if member.compressed_size != member.size:
            raise FormatError("stored with two different sizes", target=blob.name, rule="zip-size", member=member.name)
        return data
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise FormatError(f"does not inflate ({e})", target=blob.name, rule="zip-deflate", member=member.name) from None
    if len(out) != member.size:
        raise FormatError(
            f"inflates to {len(out)} bytes, not the {member.size} its entry says",
            target=blob.name,
            rule="zip-size",
            member=member.name,
        )
    return out


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("has a member name that is not UTF-8", target=name, rule="zip-name") from None


def _zip64_end(blob: Blob, eocd_offset: int) -> tuple[int, int, int, int]:
    name = blob.name
    locator_offset = eocd_offset - _EOCD64_LOCATOR.size
    if locator_offset < 0:
        raise FormatError("lacks the zip64 end record its end record calls for", target=name, rule="zip-end")
    signature, _, record_offset, _ = _EOCD64_LOCATOR.unpack(blob.read(locator_offset, _EOCD64_LOCATOR.size))
    if signature != b"PK\x06\x07" or record_offset + _EOCD64.size > locator_offset:
        raise FormatError("has a corrupt zip64 end locator", target=name, rule="zip-end")
    fields = _EOCD64.unpack(blob.read(record_offset, _EOCD64.size))
    if fields[0] != b"PK\x06\x06":
        raise FormatError("has a corrupt zip64 end record", target=name, rule="zip-end")
    _, _, entries, cd_size, cd_offset = fields[5:]
    return entries, cd_size, cd_offset, record_offset


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int, *, name: str, member: str) -> tuple[int, int, int]:
    """Replace the 32-bit fields set to 0xFFFFFFFF with the zip64 extra field's 64-bit values, in order."""
    wanted = [v == 0xFFFFFFFF for v in (usize, csize, offset)]
    if not any(wanted):
        return usize, csize, offset
    cursor = 0
    while cursor + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, cursor)
        body = extra[cursor + 4 : cursor + 4 + length]
        cursor += 4 + length
        if tag != 1:
            continue
        values = [usize, csize, offset]
        at = 0
        for i, needed in enumerate(wanted):
            if needed:
                if at + 8 > len(body):
                    break
                (values[i],) = struct.unpack_from("<Q", body, at)
                at += 8
        else:
            return values[0], values[1], values[2]
    raise FormatError("lacks the zip64 sizes its entry calls for", target=name, rule="zip-end", member=member)


def _local_header(blob: Blob, offset: int, *, method: int, name: str, member: str) -> tuple[int, bytes]:
    """Where the member's data starts, and the name its local header gives it (to compare with the central one)."""
    fields = _LOCAL.unpack(blob.read(offset, _LOCAL.size))
    signature, _, _, local_method = fields[:4]
    name_length, extra_length = fields[9:11]
    if signature != b"PK\x03\x04":
        raise FormatError(f"has no local header at {offset}", target=name, rule="zip-local", member=member)
    local_name = blob.read(offset + _LOCAL.size, name_length)
    if local_method != method:
        raise FormatError("has two different compression methods", target=name, rule="zip-local", member=member)
    return int(offset + _LOCAL.size + name_length + extra_length), local_name
