"""Every file as the pickle loaders would read it: ``torch.load``'s legacy path, ``pickle.load``, ``numpy.load``.

``torch.load`` sends any file that is not a zip to its legacy loader, which first tries the file as a tar (the
earliest format) and then unpickles it from byte 0 (the magic number's pickle, then, while each check passes, the
next ones); ``pickle.load`` and ``numpy.load`` (for what is not a NumPy array or a zip) unpickle it from byte 0 too.
So every file paramcount reads, whatever format it sniffs as, is also judged that way (:func:`judge`): a file that
is a valid safetensors or GGUF file *and* a pickle that would run code (a polyglot: a protocol opcode in the header
length, a float opcode swallowing the rest) is unsafe whatever its name. The tar reading follows
``torch.serialization``'s ``legacy_load`` with Python's own :mod:`tarfile`: the ``storages``, ``tensors`` and
``pickle`` members, the pickles in them in the order torch reads them, the raw storage data between them skipped by
the sizes written before it.

Most files stop being a pickle within their first bytes without naming a global; that is decided from the sniffed
head alone (:func:`paramcount.formats._pickle.stops_early`), so a safetensors count pays microseconds for it.
"""

from __future__ import annotations

import io
import struct

from paramcount._typing import TYPE_CHECKING
from paramcount.blob import Blob
from paramcount.errors import FormatError, UnsafeTargetError
from paramcount.formats import _pickle
from paramcount.limits import Limits, exceeded

if TYPE_CHECKING:
    from paramcount.formats._pickle import Allowlist, Result

__all__ = ["judge"]

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_PICKLES = ("magic number", "protocol version", "sys_info", "object pickle", "storage key list")


def judge(blob: Blob, head: bytes, limits: Limits) -> None:
    """Refuse the file as unsafe if ``torch.load``, ``pickle.load`` or ``numpy.load`` would run code from it.

    A zip (``PK\\x03\\x04``, or an empty one) and a NumPy array are read another way by those loaders and are judged
    by their readers; every other file is tried as ``torch.load`` tries it: as a tar when its first block is a valid
    tar header, then as a legacy stream from byte 0, pickle after pickle as long as torch's checks pass (the first
    pickle is also what ``pickle.load`` and ``numpy.load`` read).

    Raises:
        UnsafeTargetError: one of those pickles would run code.
        FormatError: a limit is exceeded while following them.
    """
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        return
    if _tar_header(head[:512]):
        _judge_tar(blob, limits)
    if _pickle.stops_early(head, complete=len(head) == blob.size):
        return  # no loader gets past the first bytes, and nothing before them names a global: nothing runs
    _judge_legacy(blob, head, limits)


def _judge_legacy(blob: Blob, head: bytes, limits: Limits) -> None:
    """The legacy stream's pickles from byte 0, in turn, while each passes the check torch makes of it."""
    from paramcount.formats.pickled import ALLOWLIST as PLAIN
    from paramcount.formats.torchpickle import ALLOWLIST

    offset = 0
    for where in _PICKLES:
        main = where == "object pickle"
        result = _try(
            blob,
            offset,
            "the file from byte 0 (as torch.load and pickle.load read it)" if not offset else f"its {where}",
            PLAIN if not main else ALLOWLIST,
            limits,
            # what paramcount counts is the file's other format: a class this reading would import is unsafe
            classes_are_unsafe=True,
            persistent=main,
            first=head if offset == 0 else b"",
        )
        if result is None:
            return
        if where == "magic number" and (type(result.root) is not int or result.root != _MAGIC):
            return  # torch.load: "Invalid magic number"
        if where == "protocol version" and (type(result.root) is not int or result.root != _PROTOCOL):
            return
        offset += result.end


def _try(
    blob: Blob,
    offset: int,
    where: str,
    allowlist: Allowlist,
    limits: Limits,
    *,
    classes_are_unsafe: bool,
    persistent: bool,
    first: bytes = b"",
) -> Result | None:
    """The pickle at ``offset`` if it evaluates; ``None`` if the loader would stop there (nothing after it runs).

    Raises:
        UnsafeTargetError: the pickle would run code before or without failing.
        FormatError: a limit is exceeded.
    """
    try:
        result = _pickle.read_stream(blob, offset, allowlist, limits, persistent=persistent, first=first)
    except _pickle.MalformedPickleError as e:
        if e.unsafe or e.classes or e.limit is not None:
            raise _pickle.error(e, target=blob.name, where=where) from e
        return None
    findings = result.unsafe + (result.class_findings if classes_are_unsafe else ())
    if findings:
        raise _pickle.unsafe_error(blob.name, where, findings)
    return result


def _tar_header(block: bytes) -> bool:
    """Whether ``block`` passes ``tarfile``'s check of a first header (its checksum, octal or base-256), before
    tarfile itself is imported to read the archive."""
    if len(block) != 512 or not block.strip(b"\0"):
        return False
    field = block[148:156]
    if field[0] in (0o200, 0o377):
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0o377:
            value -= 256 ** (len(field) - 1)
    else:
        text = field.split(b"\0", 1)[0].strip()
        if text and not all(48 <= c <= 55 for c in text):
            return False
        value = int(text or b"0", 8)
    unsigned = 256 + sum(block[:148]) + sum(block[156:])
    signed = 256 + sum(b - 256 if b > 127 else b for b in block[:148] + block[156:])
    return value in (unsigned, signed)


class _Slice(Blob):
    """``size`` bytes of a blob from ``start``: a tar member, read as the file torch extracts it to."""

    def __init__(self, blob: Blob, start: int, size: int) -> None:
        self.name = blob.name
        self.size = size
        self._blob = blob
        self._start = start
        self.remote = blob.remote

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        return self._blob.read(self._start + offset, length)


class _Reader(io.RawIOBase):
    """A blob as the seekable file ``tarfile`` reads, every read capped (a header claiming gigabytes fails)."""

    def __init__(self, blob: Blob, cap: int) -> None:
        self._blob = blob
        self._cap = cap
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._position, self._blob.size)[whence]
        self._position = max(base + offset, 0)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), max(self._blob.size - self._position, 0))
        if n > self._cap:
            raise OSError(f"a read of {n} bytes, over {self._cap}")
        data = self._blob.read(self._position, n)
        buffer[:n] = data
        self._position += n
        return n


def _judge_tar(blob: Blob, limits: Limits) -> None:
    """``legacy_load``: the tar's ``storages`` member (a count, then per storage a pickle, an int64 element count
    and the data), its ``tensors`` member (a count, then per tensor a pickle and its sizes), then its ``pickle``
    member, the object, with torch's persistent ids. Judged in that order until torch would stop."""
    import tarfile

    from paramcount.formats.pickled import ALLOWLIST as PLAIN
    from paramcount.formats.torchpickle import ALLOWLIST

    members: dict[str, tarfile.TarInfo] = {}
    try:
        with tarfile.open(fileobj=_Reader(blob, 2**20), mode="r:", format=tarfile.PAX_FORMAT) as archive:
            for count, info in enumerate(iter(archive.next, None), 1):
                if count > limits.zip_entries:
                    raise exceeded(
                        "zip_entries",
                        f"has more than {limits.zip_entries} tar members",
                        limits.zip_entries,
                        target=blob.name,
                    )
                members[info.name] = info  # getmember: the last member of a name
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as e:
        if isinstance(e, FormatError) and e.rule.startswith("limit-"):
            raise
        return  # not a tar to tarfile, or torch's getmember fails on it: torch goes on to the legacy stream
    for member in ("storages", "tensors", "pickle"):
        found = members.get(member)
        if found is None:
            return  # KeyError: torch.load fails here
        info = found
        if not info.isreg() or info.issparse():
            raise UnsafeTargetError(
                f"unsafe: cannot be judged the way torch reads it: its tar member {member!r} is a link or sparse file, "
                "whose content comes from elsewhere",
                target=blob.name,
                fix="do not torch.load or unpickle this file; nothing in it was run",
            )
        content = _Slice(blob, info.offset_data, min(info.size, max(blob.size - info.offset_data, 0)))
        where = f"tar member {member!r}"
        if member == "pickle":
            # paramcount counts no tar: a class its object pickle would import is unsafe, not untrusted
            _try(content, 0, where, ALLOWLIST, limits, classes_are_unsafe=True, persistent=True)
            return
        if not _judge_records(content, where, PLAIN, limits, storages=member == "storages"):
            return


def _judge_records(content: Blob, where: str, allowlist: Allowlist, limits: Limits, *, storages: bool) -> bool:
    """The ``storages`` or ``tensors`` member: a count pickle, then per record a pickle and its binary part (for a
    storage an int64 element count and the data; for a tensor its dimensions, sizes, strides and offset); a storage
    member ends with the storage views' pickle. Whether torch would read the whole member."""
    from paramcount.dtypes import TORCH_STORAGES

    counted = _try(content, 0, where, allowlist, limits, classes_are_unsafe=True, persistent=False)
    if counted is None or type(counted.root) is not int or counted.root < 0:
        return False
    offset = counted.end
    for _ in range(min(counted.root, content.size)):
        record = _try(content, offset, where, allowlist, limits, classes_are_unsafe=True, persistent=False)
        if record is None or not isinstance(record.root, tuple) or len(record.root) != 3:
            return False
        offset += record.end
        if offset + 8 > content.size:
            return False
        if storages:
            kind = record.root[2]
            dtype = TORCH_STORAGES.get(getattr(kind, "name", "")) if getattr(kind, "module", "") == "torch" else None
            (elements,) = struct.unpack("<q", content.read(offset, 8))
            if dtype is None or elements < 0:
                return False  # torch fails on the storage type or the size it reads
            offset += 8 + elements * (dtype.bits // 8)
        else:
            (dimensions,) = struct.unpack("<i", content.read(offset, 4))
            if dimensions < 0:
                return False
            offset += 8 + 16 * dimensions + 8
        if offset > content.size:
            return False
    if storages:
        views = _try(content, offset, where, allowlist, limits, classes_are_unsafe=True, persistent=False)
        return views is not None
    return True
