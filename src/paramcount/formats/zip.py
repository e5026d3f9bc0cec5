"""Zip archives read the two ways loaders read them, through a Blob: torch's reader (miniz) and Python's zipfile.

The same bytes can be two different archives. ``torch.load`` opens a zip with miniz (``caffe2/serialize/
inline_container.cc`` over ``third_party/miniz-3.0.2``); ``numpy.load`` (an ``.npz``) and most other Python loaders
use :mod:`zipfile`. They disagree exactly where archives are crafted to make them disagree:

* the end record: miniz takes the last signature with 22 bytes after it, within 64 KiB of the end; zipfile takes
  the last 22 bytes when they are an end record without a comment, else the last signature (and fails if fewer than
  22 bytes follow it);
* offsets: zipfile shifts every offset by the bytes found between the directory's claimed end and the end record
  (it assumes something was prepended); miniz takes the offsets as written;
* the directory: miniz reads as many entries as the end record counts, zipfile as many as the directory's byte size
  holds;
* names: miniz finds a member **case-insensitively** (ASCII), by a binary search over the directory sorted with its
  own heap sort, so which of two ``data.pkl`` spellings it reads is decided by that sort; zipfile looks names up
  exactly, the last duplicate winning, and refuses a member whose local header names it differently;
* reading: torch's miniz is built without its CRC checks (a member whose CRC is wrong loads), reads ``size`` bytes
  of a stored member whatever its compressed size says (its directory check compares them only when the member's
  time field is zero), and reads only stored and deflated members; zipfile reads bzip2 and LZMA too, and checks a
  CRC only once a member is read to its end.

:func:`miniz` and :func:`python` build each reader's :class:`Directory`; :func:`locate` finds a name as torch does;
:func:`extract` reads a member as the given reader would. Nothing else about the archive is assumed, and nothing is
refused that its reader opens. Limits (``zip_entries``, ``total_inflated_bytes``) are checked before the work.
"""

from __future__ import annotations

import encodings.cp437  # noqa: F401 (zipfile's name codec: imported here, not by the first lookup mid-count)
import struct
import zlib

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import FormatError, quote
from paramcount.limits import DEFAULT, exceeded, inflate

if TYPE_CHECKING:
    from typing import Any

    from paramcount.blob import Blob
    from paramcount.limits import Limits

__all__ = ["Directory", "Entry", "extract", "head", "local_name", "locate", "miniz", "python"]

_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries here, entries, cd size, cd offset, comment
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_U32 = 0xFFFFFFFF
_STORED, _DEFLATED, _BZIP2, _LZMA = 0, 8, 12, 14
_MAX_SORT = 50_000  # entries sorted by miniz's own heap sort when a name torch reads is ambiguous


class Entry(NamedTuple):
    """One central-directory entry, as one reader read it.

    Attributes:
        position: its position in the central directory.
        raw: its name as stored (miniz compares these bytes).
        name: its name for messages and for zipfile (decoded as zipfile decodes it, cut at a NUL).
        flags: the general-purpose bit flags.
        method: the compression method.
        crc: the CRC-32 the directory claims.
        compressed_size: bytes in the archive.
        size: bytes once extracted.
        local_offset: where its local header starts (zipfile's offset includes its shift).
        external: the external attributes (miniz treats the DOS directory bit as a directory).
        time: the DOS time field (miniz's stored-size check reads it with the method).
    """

    position: int
    raw: bytes
    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    local_offset: int
    external: int = 0
    time: int = 0

    @property
    def is_directory(self) -> bool:
        """A directory to miniz: a name ending in ``/`` or the DOS directory attribute (extraction reads nothing)."""
        return self.raw.endswith(b"/") or bool(self.external & 0x10)


class Directory(NamedTuple):
    """An archive's members as one reader sees them.

    Attributes:
        reader: ``"torch"`` (miniz) or ``"zipfile"``.
        entries: in central-directory order (duplicates included).
        size: the archive's size.
    """

    reader: str
    entries: tuple[Entry, ...]
    size: int


def miniz(blob: Blob, *, max_entries: int = DEFAULT.zip_entries) -> Directory:
    """The central directory as torch's reader reads it (``mz_zip_reader_read_central_dir``).

    Raises:
        FormatError: miniz refuses the archive (torch.load then refuses the file), or it has more than
            ``max_entries`` entries.
    """
    name = blob.name
    size = blob.size

    def refuse(problem: str) -> FormatError:
        return FormatError(f"{problem}, so torch's zip reader refuses it", target=name, rule="zip-end")

    if size < _EOCD.size:
        raise refuse("is too small to be a zip archive")
    at = _miniz_end(blob)
    if at < 0:
        raise refuse("has no zip end-of-central-directory record in its last 64 KiB")
    eocd = blob.read(at, _EOCD.size)
    _, this_disk, cd_disk, on_disk, total, cd_size, cd_offset, _ = _EOCD.unpack(eocd)
    locator = b""
    record = b""
    if at >= _EOCD64_LOCATOR.size + _EOCD64.size:
        locator = blob.read(at - _EOCD64_LOCATOR.size, _EOCD64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07":
            (offset,) = struct.unpack_from("<Q", locator, 8)
            if offset > size - _EOCD64.size:
                raise refuse("has a zip64 end locator pointing past the end")
            record = blob.read(offset, _EOCD64.size)
            if record[:4] != b"PK\x06\x06":
                record = b""
    if record:
        disks = struct.unpack_from("<L", locator, 16)[0]
        record_size, _, _, this_disk, cd_disk, on_disk, total, cd_size, cd_offset = _EOCD64.unpack(record)[1:]
        if record_size < _EOCD64.size - 12:
            raise refuse("has a corrupt zip64 end record")
        if disks != 1:
            raise refuse("spans several disks")
        if total > _U32 or on_disk > _U32 or cd_size > _U32:
            raise refuse("has a zip64 directory larger than miniz reads")
    if total != on_disk or ((this_disk | cd_disk) and (this_disk != 1 or cd_disk != 1)):
        raise refuse("spans several disks")
    if total > max_entries:
        raise exceeded("zip_entries", f"has {total} zip entries", max_entries, target=name)
    if cd_size < total * _CENTRAL.size or cd_offset + cd_size > size:
        raise refuse("has a central directory that does not fit its entries or the file")
    directory = blob.read(cd_offset, cd_size) if total else b""
    entries: list[Entry] = []
    cursor, left = 0, cd_size
    for index in range(total):
        if left < _CENTRAL.size or directory[cursor : cursor + 4] != b"PK\x01\x02":
            raise refuse("has a corrupt central directory entry")
        fields = _CENTRAL.unpack_from(directory, cursor)
        flags, method, time, _, crc, csize, usize, name_length, extra_length, comment_length, disk = fields[3:14]
        external, local = fields[15:17]
        raw = directory[cursor + _CENTRAL.size : cursor + _CENTRAL.size + name_length]
        start = cursor + _CENTRAL.size + name_length
        if extra_length and max(csize, usize, local) == _U32:
            if _CENTRAL.size + name_length + extra_length > left:
                # miniz's own slip: it reads the extra field from the directory's start, not the entry's
                extra = blob.read(cd_offset + _CENTRAL.size + name_length, extra_length)
            else:
                extra = directory[start : start + extra_length]
            usize, csize, local = _miniz_zip64(extra, usize, csize, local, refuse)
        stored_mismatch = method == 0 and time == 0 and usize != csize  # miniz reads method and time as one word
        if _U32 not in (csize, usize) and (stored_mismatch or (usize and not csize)):
            raise refuse("has an entry whose sizes disagree")
        if disk == 0xFFFF or disk not in (this_disk, 1):
            raise refuse("spans several disks")
        if csize != _U32 and local + _LOCAL.size + csize > size:
            raise refuse("has an entry whose data runs past the end")
        if flags & 0x2000:
            raise refuse("has an encrypted central directory")
        total_size = _CENTRAL.size + name_length + extra_length + comment_length
        if total_size > left:
            raise refuse("has a corrupt central directory entry")
        stat = _miniz_stat(directory[start : start + extra_length], fields[9], fields[8], fields[16], refuse)
        entries.append(Entry(index, raw, _display(raw), flags, method, crc, stat[1], stat[0], stat[2], external, time))
        cursor += total_size
        left -= total_size
    return Directory("torch", tuple(entries), size)


def python(blob: Blob, *, max_entries: int = DEFAULT.zip_entries) -> Directory:
    """The central directory as :mod:`zipfile` reads it (``_EndRecData``, ``_RealGetContents``), offsets shifted
    the way zipfile shifts them.

    Raises:
        FormatError: zipfile refuses the archive, or it holds more than ``max_entries`` entries.
    """
    name = blob.name
    size = blob.size

    def refuse(problem: str) -> FormatError:
        return FormatError(f"{problem}, so Python's zipfile refuses it", target=name, rule="zip-end")

    found = _zipfile_end(blob)
    if found is None:
        raise refuse("has no end-of-central-directory record zipfile finds")
    at, fields, zip64 = found
    cd_size, cd_offset = fields[5], fields[6]
    shift = at - cd_size - cd_offset - (_EOCD64.size + _EOCD64_LOCATOR.size if zip64 else 0)
    start = cd_offset + shift
    if start < 0:
        raise refuse("has a central directory before the start of the file")
    if cd_size // _CENTRAL.size > max_entries:
        raise exceeded("zip_entries", f"has a {cd_size}-byte central directory", max_entries, target=name)
    directory = blob.read(start, min(cd_size, max(size - start, 0)))
    entries: list[Entry] = []
    cursor = 0
    while cursor < cd_size:
        if cursor + _CENTRAL.size > len(directory) or directory[cursor : cursor + 4] != b"PK\x01\x02":
            raise refuse("has a truncated or corrupt central directory")
        central = _CENTRAL.unpack_from(directory, cursor)
        if central[2] > 63:  # zipfile.MAX_EXTRACT_VERSION
            raise refuse(f"has an entry needing zip version {central[2] / 10}")
        flags, method, time, _, crc, csize, usize, name_length, extra_length, comment_length = central[3:13]
        external, local = central[15:17]
        raw = directory[cursor + _CENTRAL.size : cursor + _CENTRAL.size + name_length]
        extra = directory[cursor + _CENTRAL.size + name_length : cursor + _CENTRAL.size + name_length + extra_length]
        usize, csize, local = _zipfile_zip64(extra, usize, csize, local, refuse)
        text = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace").split("\0", 1)[0]
        entries.append(Entry(len(entries), raw, text, flags, method, crc, csize, usize, local + shift, external, time))
        cursor += _CENTRAL.size + name_length + extra_length + comment_length
        if len(entries) > max_entries:
            raise exceeded("zip_entries", f"has more than {max_entries} zip entries", max_entries, target=name)
    return Directory("zipfile", tuple(entries), size)


def locate(directory: Directory, name: bytes) -> Entry | None:
    """The entry miniz finds for ``name`` (``mz_zip_reader_locate_file`` with no flags: ASCII case-insensitive,
    a binary search over its heap-sorted directory), or ``None``.

    When several entries match ``name`` case-insensitively, which one torch reads depends on miniz's heap sort,
    which is reproduced then.

    Raises:
        FormatError: the name is ambiguous in a directory too large to sort the way miniz does here.
    """
    key = name.split(b"\0", 1)[0].lower()  # a C string; MZ_TOLOWER lowers ASCII only, as bytes.lower() does
    matches = [e for e in directory.entries if e.raw.lower() == key]
    if len(matches) <= 1:
        return matches[0] if matches else None
    entries = directory.entries
    if len(entries) > _MAX_SORT:
        raise FormatError(
            f"has {len(matches)} members named {quote(name.decode('latin-1'))} (case aside) among {len(entries)}: "
            "which one torch reads depends on its sort, which paramcount follows only up to "
            f"{_MAX_SORT} members",
            target=None,
            rule="zip-ambiguous",
        )
    order = _heap_sorted([e.raw.lower() for e in entries])
    low, high = 0, len(order) - 1
    while low <= high:
        middle = low + ((high - low) >> 1)
        found = entries[order[middle]].raw.lower()
        if found == key:
            return entries[order[middle]]
        if found < key:
            low = middle + 1
        else:
            high = middle - 1
    return None  # pragma: no cover (a match exists, so the search finds one)


def extract(
    blob: Blob, entry: Entry, directory: Directory, *, limit: int, limits: Limits = DEFAULT, field: str | None = None
) -> bytes:
    """The bytes of ``entry`` as ``directory``'s reader extracts them, within ``limit`` bytes (``field``: the
    :class:`~paramcount.limits.Limits` field that ``limit`` is, named when it is exceeded).

    torch (miniz): a directory or empty member gives nothing; encrypted members and methods other than stored and
    deflated fail; a stored member is read for its full ``size``; no CRC is checked. zipfile: the local header
    must name the member as the directory does; stored, deflated, bzip2 and LZMA members are read to the end of
    their compressed bytes; the CRC is not checked (a streaming reader such as ``pickle.load`` would already have
    acted on the bytes before the check).

    Raises:
        FormatError: the reader would fail to extract the member, or it holds more than ``limit`` bytes.
    """
    member = entry.name
    torch = directory.reader == "torch"

    def fail(problem: str, rule: str = "zip-member") -> FormatError:
        reader = "torch's zip reader" if torch else "Python's zipfile"
        return FormatError(f"{problem}, so {reader} cannot read it", target=blob.name, rule=rule, member=member)

    if torch and (entry.is_directory or not entry.compressed_size):
        return b""
    if entry.flags & 0x61 if torch else entry.flags & 0x01:
        raise fail("is encrypted", "zip-encrypted")
    if entry.method not in ((_STORED, _DEFLATED) if torch else (_STORED, _DEFLATED, _BZIP2, _LZMA)):
        raise fail(f"uses zip compression method {entry.method}", "zip-method")
    offset = _data_offset(blob, entry, torch=torch, fail=fail)
    if offset + entry.compressed_size > blob.size and torch:
        raise fail("has data running past the end of the archive", "zip-bounds")
    if torch and entry.method == _STORED and offset + entry.size > blob.size:
        raise fail("has data running past the end of the archive", "zip-bounds")
    if entry.size > limit:
        raise _over(f"member {quote(member, 120)} is {entry.size} bytes", limit, field, blob.name, member)
    if entry.method == _STORED:
        if torch:
            data = blob.read(offset, entry.size)
        else:
            length = min(entry.compressed_size, entry.size, max(blob.size - offset, 0))
            data = blob.read(offset, length)
    else:
        available = min(entry.compressed_size, max(blob.size - offset, 0))
        if torch:
            return _tinfl(blob, offset, available, entry, limits=limits, fail=fail)
        data = _inflate(blob, offset, available, entry, limit=limit, limits=limits, target=blob.name, field=field)
    return data  # no CRC check: torch builds miniz with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS, zipfile checks late


def head(blob: Blob, entry: Entry, directory: Directory, n: int, limits: Limits = DEFAULT) -> bytes:
    """The first ``n`` bytes of ``entry``'s content as ``directory``'s reader would stream them (``b""`` when it
    cannot be read): enough to recognise a NumPy array or a pickle without extracting the member."""
    torch = directory.reader == "torch"
    try:
        if (torch and (entry.is_directory or not entry.compressed_size)) or entry.flags & 0x01:
            return b""
        offset = _data_offset(blob, entry, torch=torch, fail=lambda problem, rule="": FormatError(problem, rule=rule))
        if entry.method == _STORED:
            return blob.read(offset, min(n, entry.size, entry.compressed_size, max(blob.size - offset, 0)))
        chunk = blob.read(offset, min(entry.compressed_size, max(blob.size - offset, 0), 64 * 1024))
        decompressor: Any = _decompressor(entry.method)
        return bytes(decompressor.decompress(chunk, n)[:n])
    except (FormatError, zlib.error, ValueError, EOFError, OSError, struct.error):
        return b""


def local_name(blob: Blob, entry: Entry) -> bytes | None:
    """The name ``entry``'s local header gives it; ``None`` when there is no local header where it should be."""
    header = blob.read(entry.local_offset, _LOCAL.size) if 0 <= entry.local_offset <= blob.size - _LOCAL.size else b""
    if header[:4] != b"PK\x03\x04":
        return None
    (length,) = struct.unpack_from("<H", header, 26)
    start = entry.local_offset + _LOCAL.size
    return blob.read(start, min(length, max(blob.size - start, 0)))


def _data_offset(blob: Blob, entry: Entry, *, torch: bool, fail: object) -> int:
    """Where the member's bytes start: after its local header, by the local header's own name and extra lengths."""
    header = blob.read(entry.local_offset, _LOCAL.size) if 0 <= entry.local_offset <= blob.size else b""
    if len(header) != _LOCAL.size or header[:4] != b"PK\x03\x04":
        raise fail("has no local header where the directory says", "zip-local")  # type: ignore[operator]
    name_length, extra_length = struct.unpack_from("<2H", header, 26)
    if not torch:
        local_name = blob.read(entry.local_offset + _LOCAL.size, name_length)
        local_flags = struct.unpack_from("<H", header, 6)[0]
        text = local_name.decode("utf-8" if local_flags & 0x800 else "cp437", "replace")
        if text != entry.raw.decode("utf-8" if entry.flags & 0x800 else "cp437", "replace"):
            raise fail("is named differently in its local header", "zip-local-name")  # type: ignore[operator]
    return int(entry.local_offset + _LOCAL.size + name_length + extra_length)


def _decompressor(method: int) -> object:
    if method == _DEFLATED:
        return zlib.decompressobj(-15)
    if method == _BZIP2:
        import bz2

        return bz2.BZ2Decompressor()
    return _LzmaZip()


class _LzmaZip:
    """zipfile's LZMA member format: a 4-byte header (version, properties length), the properties, raw LZMA1."""

    def __init__(self) -> None:
        self._decoder: object = None
        self._pending = b""
        self.eof = False

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        import lzma

        try:
            return self._decompress(data, max_length)
        except lzma.LZMAError as e:
            raise ValueError(str(e)) from None

    def _decompress(self, data: bytes, max_length: int) -> bytes:
        import lzma

        if self._decoder is None:
            self._pending += data
            if len(self._pending) < 4:
                return b""
            (size,) = struct.unpack_from("<H", self._pending, 2)
            if len(self._pending) < 4 + size:
                return b""
            filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, self._pending[4 : 4 + size])]  # type: ignore[attr-defined]
            self._decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            data, self._pending = self._pending[4 + size :], b""
        out: bytes = self._decoder.decompress(data, max_length)  # type: ignore[attr-defined]
        self.eof = self._decoder.eof  # type: ignore[attr-defined]
        return out

    @property
    def needs_input(self) -> bool:
        return self._decoder is None or bool(self._decoder.needs_input)  # type: ignore[attr-defined]


def _over(problem: str, limit: int, field: str | None, target: str, member: str) -> FormatError:
    """A member over ``limit``: the named limit's error when ``field`` names one, else a fixed cap's."""
    if field is not None:
        return exceeded(field, problem, limit, target=target)
    return FormatError(f"{problem}, over the cap of {limit}", target=target, rule="zip-limit", member=member)


class PartialMemberError(FormatError):
    """torch's reader hands over a deflated member whose stream broke (or ran out) before it gave the entry's size.

    miniz inflates into a buffer of the entry's size and reports no error when the stream fails or needs more input
    (only when it ends short), and torch's ``getRecord`` uses the buffer as it is: the decoded bytes, then whatever
    the memory held (the zip-oracle fuzz target found it). ``prefix`` is what the stream decoded.
    """

    def __init__(self, problem: str, *, target: str, member: str, prefix: bytes, size: int) -> None:
        super().__init__(problem, target=target, rule="zip-partial", member=member)
        self.prefix = prefix
        self.size = size


_STEP = 1 << 20  # compressed bytes read, and bytes inflated, per step


def _tinfl(blob: Blob, offset: int, available: int, entry: Entry, *, limits: Limits, fail: object) -> bytes:
    """A deflated member as torch's ``getRecord`` extracts it: miniz's ``tinfl`` into a buffer of ``entry.size``.

    A stream that fills the buffer gives it, whatever follows (more output, a broken block, no end); one that ends
    short is an error; one that breaks or runs out of input short leaves the rest of the buffer uninitialised.

    Raises:
        FormatError: the stream ends before ``entry.size`` bytes (``zip-size``), or a limit is exceeded.
        PartialMemberError: it breaks or runs out before ``entry.size`` bytes.
    """
    size = entry.size
    decompressor: Any = zlib.decompressobj(-15)
    out: list[bytes] = []
    held = 0
    broken = False
    for start in range(0, available, _STEP):
        if held >= size or decompressor.eof:
            break
        piece = blob.read(offset + start, min(_STEP, available - start))
        while held < size and piece:
            before = decompressor.copy()
            try:
                chunk = decompressor.decompress(piece, min(_STEP, size - held))
            except zlib.error:
                chunk = _decodable(before, piece, min(_STEP, size - held))
                broken = True
            inflate(len(chunk), limits, target=blob.name, member=entry.name)
            held += len(chunk)
            out.append(chunk)
            if broken or decompressor.eof:
                break
            piece = decompressor.unconsumed_tail
        if broken:
            break
    data = b"".join(out)
    if held >= size:
        return data
    if decompressor.eof and not broken:
        raise fail(f"inflates to {held} bytes, not the {size} its entry says", "zip-size")  # type: ignore[operator]
    how = "breaks" if broken else "runs out"
    raise PartialMemberError(
        f"has a deflate stream that {how} after {held} of its {size} bytes; torch's zip reader reports no error "
        "and hands over the rest of its buffer as it was",
        target=blob.name,
        member=entry.name,
        prefix=data,
        size=size,
    )


def _decodable(state: Any, piece: bytes, most: int) -> bytes:
    """What a stream decodes from ``state`` before it breaks, up to ``most`` bytes. Python's zlib drops a failing
    call's output, and it fails as soon as the bits that break the stream are in its input, even when the output
    it was asked for is complete (a broken block header after the last byte): so the longest input prefix that
    decodes without error is bisected, over copies of the state, and its output kept."""
    low, high = 0, len(piece)  # the first ``low`` bytes decode; more than ``high`` fail
    while low < high:
        middle = (low + high + 1) // 2
        try:
            state.copy().decompress(piece[:middle], most)
            low = middle
        except zlib.error:
            high = middle - 1
    return bytes(state.copy().decompress(piece[:low], most)) if low else b""


def _inflate(
    blob: Blob,
    offset: int,
    available: int,
    entry: Entry,
    *,
    limit: int,
    limits: Limits,
    target: str,
    field: str | None = None,
) -> bytes:
    """A member as Python's zipfile decompresses it: whatever its compressed bytes give, up to ``limit``, in bounded
    steps, each step's output charged to the count's ``total_inflated_bytes`` before it is kept.

    A stream that breaks gives what it decoded before the break: zipfile raises there, but a streaming reader
    (``pickle.load``) has acted on what came before.

    Raises:
        FormatError: it inflates past ``limit``.
    """
    decompressor: Any = _decompressor(entry.method)
    out: list[bytes] = []
    held = 0
    try:
        for start in range(0, max(available, 1), _STEP):
            piece = blob.read(offset + start, min(_STEP, max(available - start, 0)))
            while True:
                chunk = decompressor.decompress(piece, min(_STEP, limit + 1 - held))
                inflate(len(chunk), limits, target=target, member=entry.name)
                held += len(chunk)
                out.append(chunk)
                if held > limit:
                    problem = f"member {quote(entry.name, 120)} inflates past {limit} bytes"
                    raise _over(problem, limit, field, target, entry.name)
                if decompressor.eof:
                    break
                tail = getattr(decompressor, "unconsumed_tail", None)
                if tail is not None:  # zlib: input left over when the output was capped
                    if not tail:
                        break
                    piece = tail
                elif decompressor.needs_input:  # bz2, LZMA: output held back when it was capped
                    break
                else:
                    piece = b""
            if decompressor.eof:
                break
    except FormatError:
        raise  # a limit exceeded
    except (zlib.error, ValueError, EOFError, OSError, LookupError):
        pass  # zipfile raises too, but a streaming reader (pickle.load) has acted on what came before: judge that
    return b"".join(out)


def _miniz_end(blob: Blob) -> int:
    """``mz_zip_reader_locate_header_sig``: the last end-record signature with 22 bytes after it, scanning back in
    4 KiB blocks (overlapping by 3 bytes) no further than 64 KiB + 22 from the end; -1 when there is none."""
    size = blob.size
    offset = max(size - 4096, 0)
    while True:
        n = min(4096, size - offset)
        block = blob.read(offset, n)
        i = n - 4
        while i >= 0:
            i = block.rfind(b"PK\x05\x06", 0, i + 4)
            if i < 0:
                break
            if size - (offset + i) >= _EOCD.size:
                return offset + i
            i -= 1
        if offset == 0 or size - offset >= 0xFFFF + _EOCD.size:
            return -1
        offset = max(offset - (4096 - 3), 0)


def _zipfile_end(blob: Blob) -> tuple[int, list[int], bool] | None:
    """``zipfile._EndRecData`` and ``_EndRecData64``: the end record's offset, its fields (zip64's where there is a
    zip64 record right before the locator), and whether it was zip64."""
    size = blob.size
    if size < _EOCD.size:
        return None
    tail = blob.read(size - _EOCD.size, _EOCD.size)
    if tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        at, fields = size - _EOCD.size, list(_EOCD.unpack(tail))
    else:
        start = max(size - (1 << 16) - _EOCD.size, 0)
        data = blob.read(start, size - start)
        found = data.rfind(b"PK\x05\x06")
        if found < 0 or len(data) - found < _EOCD.size:
            return None
        at, fields = start + found, list(_EOCD.unpack_from(data, found))
    if at < _EOCD64_LOCATOR.size:
        return at, fields, False
    locator = blob.read(at - _EOCD64_LOCATOR.size, _EOCD64_LOCATOR.size)
    if locator[:4] != b"PK\x06\x07":
        return at, fields, False
    _, disk, _, disks = _EOCD64_LOCATOR.unpack(locator)
    if disk != 0 or disks > 1:
        return None
    record_at = at - _EOCD64_LOCATOR.size - _EOCD64.size
    record = blob.read(record_at, _EOCD64.size) if record_at >= 0 else b""
    if len(record) != _EOCD64.size or record[:4] != b"PK\x06\x06":
        return at, fields, False
    values = _EOCD64.unpack(record)
    fields[5], fields[6] = values[8], values[9]  # directory size and offset
    return at, fields, True


def _miniz_zip64(extra: bytes, usize: int, csize: int, local: int, refuse: object) -> tuple[int, int, int]:
    """The directory pass's reading of a zip64 extra field (miniz reads the values past the field's own length)."""
    remaining = len(extra)
    at = 0
    while remaining:
        if remaining < 4:
            raise refuse("has a corrupt zip64 extra field")  # type: ignore[operator]
        field_id, field_size = struct.unpack_from("<2H", extra, at)
        if field_size + 4 > remaining:
            raise refuse("has a corrupt zip64 extra field")  # type: ignore[operator]
        if field_id == 1:
            break
        at += 4 + field_size
        remaining -= 4 + field_size
    if remaining >= 4:
        remaining -= 4
        at += 4
        values = [usize, csize, local]
        for i in range(3):
            if values[i] == _U32 and remaining >= 8:
                (values[i],) = struct.unpack_from("<Q", extra, at)
                at += 8
                remaining -= 8
        usize, csize, local = values
    return usize, csize, local


def _miniz_stat(extra: bytes, usize: int, csize: int, local: int, refuse: object) -> tuple[int, int, int]:
    """``mz_zip_file_stat_internal``: the sizes and local offset, 64-bit values from the zip64 field."""
    if max(csize, usize, local) != _U32:
        return usize, csize, local
    at, remaining = 0, len(extra)
    while remaining:
        if remaining < 4:
            raise refuse("has a corrupt zip64 extra field")  # type: ignore[operator]
        field_id, field_size = struct.unpack_from("<2H", extra, at)
        if field_size + 4 > remaining:
            raise refuse("has a corrupt zip64 extra field")  # type: ignore[operator]
        if field_id == 1:
            values, cursor, left = [usize, csize, local], at + 4, field_size
            for i in range(3):
                if values[i] == _U32:
                    if left < 8:
                        raise refuse("has a corrupt zip64 extra field")  # type: ignore[operator]
                    (values[i],) = struct.unpack_from("<Q", extra, cursor)
                    cursor += 8
                    left -= 8
            return values[0], values[1], values[2]
        at += 4 + field_size
        remaining -= 4 + field_size
    return usize, csize, local


def _zipfile_zip64(extra: bytes, usize: int, csize: int, local: int, refuse: object) -> tuple[int, int, int]:
    """``ZipInfo._decodeExtra``: every zip64 field in turn replaces the 32-bit values it stands for."""
    while len(extra) >= 4:
        field_id, length = struct.unpack_from("<2H", extra)
        if length + 4 > len(extra):
            raise refuse("has a corrupt extra field")  # type: ignore[operator]
        if field_id == 1:
            data = extra[4 : 4 + length]
            try:
                if usize in (0xFFFFFFFFFFFFFFFF, _U32):
                    (usize,) = struct.unpack_from("<Q", data)
                    data = data[8:]
                if csize == _U32:
                    (csize,) = struct.unpack_from("<Q", data)
                    data = data[8:]
                if local == _U32:
                    (local,) = struct.unpack_from("<Q", data)
            except struct.error:
                raise refuse("has a corrupt zip64 extra field") from None  # type: ignore[operator]
        extra = extra[length + 4 :]
    return usize, csize, local


def _heap_sorted(keys: list[bytes]) -> list[int]:
    """``mz_zip_reader_sort_central_dir_offsets_by_filename``: miniz's heap sort of entry indices by lowered name
    (not stable: among equal names, this is the order its binary search meets them in)."""
    size = len(keys)
    order = list(range(size))
    if size <= 1:
        return order

    def sift(root: int, end: int) -> None:
        while True:
            child = 2 * root + 1
            if child >= end:
                return
            if child + 1 < end and keys[order[child]] < keys[order[child + 1]]:
                child += 1
            if not keys[order[root]] < keys[order[child]]:
                return
            order[root], order[child] = order[child], order[root]
            root = child

    start = (size - 2) >> 1
    while True:
        sift(start, size)
        if not start:
            break
        start -= 1
    end = size - 1
    while end > 0:
        order[end], order[0] = order[0], order[end]
        sift(0, end)
        end -= 1
    return order


def _display(raw: bytes) -> str:
    """A member's name for messages and layout checks: UTF-8 where it decodes, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
