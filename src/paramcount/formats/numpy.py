"""NumPy ``.npy`` files, recognised so that they are refused clearly — after an object array's pickle is judged.

Layout (numpy ``lib/format.py``): the magic ``\\x93NUMPY``, a version byte pair, a header length (u16 for version
1, u32 for 2 and 3), then a Python-literal header ``{'descr': ..., 'fortran_order': ..., 'shape': ...}``. An array
of numbers is its raw data after that; an array of Python objects (``descr`` ``'|O'``, alone or in a structured
dtype) is a **pickle**, which ``numpy.load(allow_pickle=True)`` unpickles. Such a pickle is judged like any other:
one that would run code makes the file unsafe (exit 4). A ``.npz`` is a zip of ``.npy`` members, judged by
:mod:`paramcount.formats.torchzip`. Neither holds a model, so both are otherwise refused (exit 3).

The header is never evaluated: a regular expression looks for an object type in it.
"""

from __future__ import annotations

import re
import struct

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError
from paramcount.formats import _pickle
from paramcount.formats._pickle import Allowlist
from paramcount.formats.torchpickle import ALLOWLIST as TORCH_ALLOWLIST

if TYPE_CHECKING:
    from paramcount.blob import Blob, Folder
    from paramcount.formats import FileRead
    from paramcount.limits import Limits

__all__ = ["ALLOWLIST", "pickle_offset", "read"]

# numpy's own cap on header length (format.py _MAX_HEADER_SIZE) is 10,000 bytes; versions 2 and 3 allow more.
_MAX_HEADER = 1 << 16
# A quoted numpy type string for Python objects: 'O', '|O', '<O8' ...
_OBJECT_TYPE = re.compile(rb"""['"][|<>=]?O\d*['"]""")
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


def pickle_offset(data: bytes) -> int | None:
    """Where the pickle of an object array starts in ``.npy`` bytes; ``None`` when it holds no objects.

    >>> header = b"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }" + b" " * 5 + b"\\n"
    >>> pickle_offset(b"\\x93NUMPY\\x01\\x00" + len(header).to_bytes(2, "little") + header + b"\\x80\\x04")
    73
    >>> pickle_offset(b"\\x93NUMPY\\x01\\x00" + len(header).to_bytes(2, "little") + header.replace(b"|O", b"<f4"))
    """
    if not data.startswith(b"\x93NUMPY") or len(data) < 10:
        return None
    if data[6] == 1:
        (length,), start = struct.unpack_from("<H", data, 8), 10
    elif len(data) >= 12:
        (length,), start = struct.unpack_from("<I", data, 8), 12
    else:
        return None
    if length > _MAX_HEADER or start + length > len(data):
        return None
    return start + length if _OBJECT_TYPE.search(data[start : start + length]) else None


def read(blob: Blob, limits: Limits, folder: Folder | None = None) -> FileRead:
    """Refuse a ``.npy`` file: as unsafe when its object pickle would run code, else as not a checkpoint.

    Raises:
        UnsafeTargetError: the array holds objects whose pickle calls or names globals outside the allowlist.
        TargetError: otherwise, always.
    """
    head = blob.read(0, min(blob.size, 12 + _MAX_HEADER))
    offset = pickle_offset(head)
    if offset is not None:
        _pickle.check_stream(
            blob, offset, target=blob.name, where="its object array", limits=limits, allowlist=ALLOWLIST
        )
    raise TargetError(
        "is a NumPy array file (.npy), not a model checkpoint",
        target=blob.name,
        fix="name a safetensors, PyTorch, GGUF or DCP checkpoint",
    )
