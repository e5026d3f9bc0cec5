"""NumPy ``.npy`` files, recognised so that they are refused clearly — after an object array's pickle is judged.

Layout (numpy ``lib/format.py``): the magic ``\\x93NUMPY``, a version byte pair, a header length (u16 for version
1, u32 for 2 and 3), then a Python-literal header ``{'descr': ..., 'fortran_order': ..., 'shape': ...}``. An array
of numbers is its raw data after that; an array of Python objects is a **pickle**, which
``numpy.load(allow_pickle=True)`` unpickles. Such a pickle is judged like any other: one that would run code makes
the file unsafe (exit 4). A ``.npz`` is a zip of ``.npy`` members, judged by :mod:`paramcount.formats.torchzip`.
Neither holds a model, so both are otherwise refused (exit 3).

**The header is read the way numpy reads it** (``_read_array_header``): versions 1.0, 2.0 and 3.0 only; the header
decoded as Latin-1 (UTF-8 for 3.0); numpy lifts its header size limit when ``allow_pickle=True``, so any size is read
here (within ``npy-header-bytes``). numpy then evaluates the header as a Python literal and builds a dtype from its
``descr``, and unpickles the data when the dtype holds objects (``hasobject``): ``O`` and NumPy 2's ``StringDType``,
``T``. paramcount neither evaluates nor builds anything, so it takes every header as possibly holding objects except
the plain form numpy writes for numbers, bytes, text and dates (one quoted type string of a kind other than ``O``
and ``T``, without an escape, which could spell one: ``'\\x4f'`` is ``'O'``; ``'object'``, ``'i4,O'`` and
structured types are not that form). Judging a numeric array as a pickle costs one failed evaluation and never
hides a payload.
"""

from __future__ import annotations

import re
import struct

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError
from paramcount.formats import _pickle
from paramcount.formats._pickle import Allowlist
from paramcount.formats.torchpickle import ALLOWLIST as TORCH_ALLOWLIST
from paramcount.limits import DEFAULT, exceeded

if TYPE_CHECKING:
    from paramcount.blob import Blob, Folder
    from paramcount.formats import FileRead
    from paramcount.limits import Limits

__all__ = ["ALLOWLIST", "header_end", "pickle_offset", "read"]

_MAGIC = b"\x93NUMPY"
_LENGTHS = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}
_CORES = ("numpy.core", "numpy._core")

#: What an object array's pickle names to rebuild the array itself: numpy's reconstructor, ndarray, dtype and
#: scalars. What the objects inside need is judged as usual.
ALLOWLIST = Allowlist(
    names=frozenset(
        {
            *(f"{core}.multiarray.{name}" for core in _CORES for name in ("_reconstruct", "scalar")),
            "numpy.ndarray",
            "numpy.dtype",
        }
    ),
    arguments=tuple((f"{core}.multiarray._reconstruct", 0, "class") for core in _CORES),
    mutable=(("numpy.dtype", "BUILD"), *((f"{core}.multiarray._reconstruct", "BUILD") for core in _CORES)),
).union(TORCH_ALLOWLIST)


def header_end(head: bytes) -> tuple[int, str] | None:
    """Where an ``.npy`` header ends and its encoding, from the file's first 12 bytes; ``None`` when numpy would not
    read the file as an array (no magic, an unsupported version).

    >>> header_end(b"\\x93NUMPY\\x01\\x00\\x76\\x00"), header_end(b"\\x93NUMPY\\x03\\x00\\x00\\x01\\x00\\x00")
    ((128, 'latin1'), (268, 'utf8'))
    """
    if not head.startswith(_MAGIC) or len(head) < 8:
        return None
    info = _LENGTHS.get((head[6], head[7]))
    if info is None:
        return None
    form, encoding = info
    start = 8 + struct.calcsize(form)
    if len(head) < start:
        return None
    (length,) = struct.unpack_from(form, head, 8)
    return start + length, encoding


def pickle_offset(data: bytes, limits: Limits = DEFAULT, *, target: str | None = None) -> int | None:
    """Where the pickle of an object array starts in ``.npy`` bytes; ``None`` when numpy would read no objects
    (numbers, a header it refuses, too few bytes).

    >>> header = b"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }" + b" " * 5 + b"\\n"
    >>> pickle_offset(b"\\x93NUMPY\\x01\\x00" + len(header).to_bytes(2, "little") + header + b"\\x80\\x04")
    73
    >>> pickle_offset(b"\\x93NUMPY\\x01\\x00" + len(header).to_bytes(2, "little") + header.replace(b"|O", b"<f4"))
    >>> pickle_offset(b"\\x93NUMPY\\x01\\x00" + len(header).to_bytes(2, "little") + header.replace(b"|O", b"\\\\x4f"))
    73

    Raises:
        FormatError: the header is longer than ``limits.npy_header_bytes``.
    """
    found = header_end(data[:12])
    if found is None:
        return None
    end, encoding = found
    if end - 12 > limits.npy_header_bytes:
        raise exceeded(
            "npy_header_bytes", f"has a {end - 12}-byte NumPy header", limits.npy_header_bytes, target=target
        )
    if end > len(data):
        return None  # numpy: "EOF: reading array header"
    start = 10 if data[6] == 1 else 12
    return end if _holds_objects(data[start:end], encoding) else None


def _holds_objects(raw: bytes, encoding: str) -> bool:
    """Whether numpy could make an array of objects of this header: ``False`` only for a header in the plain form
    numpy writes for numbers (one quoted type string with no ``O``, no escape), ``True`` for anything else that
    decodes (an escape, ``'object'``, a structured type, another layout: numpy's parser would evaluate it, and
    whatever it makes of it is judged)."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return False  # numpy fails to decode the header: it reads nothing
    return _NUMERIC.fullmatch(text) is None


# The header numpy writes for an array of numbers: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
# padded with spaces and a newline. The type string is one numpy writes for numbers, bytes, text or dates (a byte
# order, a kind other than O and T, a size, a date unit): objects are O, and NumPy 2's StringDType, T, is stored as
# a pickle too (the attacker review found it); an escape, 'object' or a structured type is not matched either.
_TYPE = r"[<>|=]?[?bBhHiIlLqQpPefdgFDGSaUVMmcu]\d*(?:\[\d*[a-zA-Z]+\])?"
_NUMERIC = re.compile(
    rf"\{{\s*'descr'\s*:\s*(?:'{_TYPE}'|\"{_TYPE}\")\s*,\s*'fortran_order'\s*:\s*(?:True|False)\s*,"
    r"\s*'shape'\s*:\s*\(\s*(?:\d+\s*,\s*)*(?:\d+\s*)?\)\s*,?\s*\}\s*"
)


def read(blob: Blob, limits: Limits, folder: Folder | None = None) -> FileRead:
    """Refuse a ``.npy`` file: as unsafe when its object pickle would run code, else as not a checkpoint.

    Raises:
        UnsafeTargetError: the array holds objects whose pickle calls or names globals outside the allowlist.
        TargetError: otherwise, always.
    """
    head = blob.read(0, min(blob.size, 12))
    found = header_end(head)
    if found is not None:
        end = found[0]
        if end - 12 > limits.npy_header_bytes:
            raise exceeded(
                "npy_header_bytes", f"has a {end - 12}-byte NumPy header", limits.npy_header_bytes, target=blob.name
            )
        offset = pickle_offset(blob.read(0, min(end, blob.size)), limits, target=blob.name)
        if offset is not None:
            _pickle.check_stream(
                blob,
                offset,
                target=blob.name,
                where="its object array",
                limits=limits,
                allowlist=ALLOWLIST,
                persistent=False,
            )
    raise TargetError(
        "is a NumPy array file (.npy), not a model checkpoint",
        target=blob.name,
        fix="name a safetensors, PyTorch, GGUF or DCP checkpoint",
    )
