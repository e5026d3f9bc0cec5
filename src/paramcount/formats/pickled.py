"""Any other pickle stream: judged for what loading it would run, then refused as not a checkpoint.

``torch.load`` hands any file that is not a zip to its legacy loader, which unpickles the file's first pickle
before it looks for the legacy magic number; ``pickle.load`` does the same. So a protocol 0-5 pickle (or anything
that starts like one) is evaluated inertly first: a global outside the allowlist, called, referenced or
instantiated, makes it unsafe (exit 4); otherwise it is not a checkpoint (exit 3). Bytes that merely start with
an opcode byte and fail at once are not sent here (:func:`paramcount.formats._pickle.looks_like_pickle`).
"""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError
from paramcount.formats import _pickle
from paramcount.formats.dcp import ALLOWLIST as DCP_ALLOWLIST
from paramcount.formats.numpy import ALLOWLIST as NUMPY_ALLOWLIST

if TYPE_CHECKING:
    from paramcount.blob import Blob, Folder
    from paramcount.formats import FileRead
    from paramcount.limits import Limits

__all__ = ["ALLOWLIST", "read"]

# Everything a checkpoint-shaped pickle may name: torch's, DCP's and numpy's reconstruction globals.
ALLOWLIST = NUMPY_ALLOWLIST.union(DCP_ALLOWLIST)


def read(blob: Blob, limits: Limits, folder: Folder | None = None) -> FileRead:
    """Refuse a pickle stream: as unsafe when loading it would run code, else as not a checkpoint.

    Raises:
        UnsafeTargetError: the first pickle calls, references or instantiates a global outside the allowlist.
        TargetError: otherwise, always.
    """
    result = _pickle.check_stream(blob, 0, target=blob.name, where="the file", limits=limits, allowlist=ALLOWLIST)
    raise TargetError(
        f"is a pickle of plain Python values (protocol {result.protocol}), not a checkpoint torch.save writes",
        target=blob.name,
        fix="name a safetensors, PyTorch, GGUF or DCP checkpoint",
    )
