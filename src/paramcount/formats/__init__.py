"""File formats: one reader module per format, found by content through one registry, :data:`READERS`.

Every reader has the same shape: ``read(blob, limits, folder) -> FileRead``. It reads only through ``blob`` (and,
for a format that spans files, through ``folder``, which opens the files beside it by name), checks every claim
against :class:`paramcount.limits.Limits` before acting on it, and returns a :class:`FileRead`. A registry entry
says how to recognise the format from a file's first bytes and which module reads it; the module is imported only
when a file of its format is read, so a count pays for one reader.

Detection looks at content, like torch does (a zip only when ``PK\\x03\\x04`` is at offset 0), never at a name —
except that a file whose content matches nothing is read by the reader its suffix names when that reader asks
for it (``fallback``), so that a broken ``.safetensors`` file gets the precise rule it breaks. Order matters:
a pickle stream is the last resort, because ``torch.load`` unpickles any file that is not a zip.

>>> detect(b"GGUF\\x03\\x00\\x00\\x00", 100).format, detect(b"PK\\x03\\x04...", 100).format
(<Format.GGUF: 'gguf'>, <Format.TORCH_ZIP: 'torch-zip'>)
>>> detect(b"\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}", 10).format
<Format.SAFETENSORS: 'safetensors'>
>>> detect(b"cos\\nsystem\\n(S'id'\\ntR.", 20).format, detect(b"# notes", 7)
(<Format.PICKLE: 'pickle'>, None)
"""

from __future__ import annotations

import importlib
import struct
from enum import Enum, unique
from types import MappingProxyType

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.errors import TargetError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from paramcount.blob import Blob, Folder
    from paramcount.limits import Limits
    from paramcount.records import ModuleRecord, TensorRecord

__all__ = ["READERS", "SNIFF_BYTES", "WEIGHT_SUFFIXES", "FileRead", "Format", "Reader", "detect", "unrecognised"]

#: bytes read from the start of a file to decide its format
SNIFF_BYTES = 512


@unique
class Format(str, Enum):
    """Formats paramcount recognises. Some are read only to refuse them clearly (tar, NumPy, plain pickles)."""

    SAFETENSORS = "safetensors"
    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    #: the earliest torch.save format, a tar of pickles (recognised, refused)
    TORCH_TAR = "torch-tar"
    GGUF = "gguf"
    #: torch.distributed.checkpoint: a ``.metadata`` pickle and ``*.distcp`` data files
    DCP = "dcp"
    #: NumPy ``.npy`` arrays (refused; an object array's pickle is judged first)
    NUMPY = "numpy"
    #: any other pickle stream (refused; judged first, since ``torch.load`` would unpickle it)
    PICKLE = "pickle"


_EMPTY: Mapping[str, bytes] = MappingProxyType({})


class FileRead(NamedTuple):
    """What one weights file holds, the same for every format.

    Attributes:
        format: the format read.
        records: one per stored tensor name; identities are unique within the file (the source adds the file).
        storages: distinct storages behind the records.
        stored_bytes: bytes of those storages, each once.
        modules: module structure, when the file has one (a whole-module pickle); else empty.
        notes: how the file was read.
        warnings: problems worth a line in the report.
        untrusted: reasons loading the file would run code although counting it did not (instance classes).
        values: the bytes of the tiny tensors the quantization rules need (``paramcount.quant.VALUE_SUFFIXES``),
            by name, read with a cap.
        files: other files read besides the blob itself (a DCP checkpoint's data files).
        config: what the file itself says of the model's configuration (a GGUF file's attention geometry, under
            transformers' names), for a memory estimate; ``None`` for formats that say nothing.
    """

    format: Format
    records: tuple[TensorRecord, ...]
    storages: int
    stored_bytes: int
    modules: tuple[ModuleRecord, ...] = ()
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    untrusted: tuple[str, ...] = ()
    values: Mapping[str, bytes] = _EMPTY
    files: tuple[str, ...] = ()
    config: Mapping[str, object] | None = None


class Reader(NamedTuple):
    """One registry entry.

    Attributes:
        format: what it reads.
        sniff: ``sniff(head, size, name)``: whether the first :data:`SNIFF_BYTES` bytes (with the file's size and
            name) are this format. Content decides; a name only picks a reader for content that could be its own.
        module: the module under ``paramcount.formats`` that reads it, imported on first use.
        function: the reader function in that module: ``function(blob, limits, folder) -> FileRead``.
        suffixes: file name endings that hold the format by convention (a model folder's single weights file).
        fallback: read a file with one of ``suffixes`` whose content matches no format with this reader.
    """

    format: Format
    sniff: Callable[[bytes, int, str], bool]
    module: str
    function: str = "read"
    suffixes: tuple[str, ...] = ()
    fallback: bool = False

    def read(self, blob: Blob, limits: Limits, folder: Folder | None) -> FileRead:
        """Read ``blob`` (with ``folder`` opening the files beside it, when there is one)."""
        module = importlib.import_module(f"paramcount.formats.{self.module}")
        result: FileRead = getattr(module, self.function)(blob, limits, folder)
        return result


def _safetensors(head: bytes, size: int, name: str) -> bool:
    """A u64 header length that fits the file, then JSON opening an object."""
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 8 + length <= size and head[8:].lstrip(b" \t\r\n")[:1] == b"{"


def _dcp(head: bytes, size: int, name: str) -> bool:
    """A pickle that opens with DCP's Metadata class; or any file named ``.metadata``, DCP's own name for it, so
    that a broken one gets DCP's rules (its bytes are still only ever evaluated inertly)."""
    return name == ".metadata" or (head[:1] == b"\x80" and b"torch.distributed.checkpoint.metadata" in head)


def _pickle_stream(head: bytes, size: int, name: str) -> bool:
    """Bytes that start like a pickle and do not fail as one within their first opcodes (or name globals)."""
    if not head or head[0] not in _OPCODES:
        return False
    from paramcount.formats import _pickle  # pickletools costs a few milliseconds: only for files that get here

    return _pickle.looks_like_pickle(head, complete=len(head) == size)


# pickle.dumps(0x1950A86A20F9469CFC6C) as LONG1: the magic number that opens a legacy torch stream (formats.md 2.3)
_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
# Every pickle opcode byte (pickletools.opcodes, protocols 0-5; a test checks the set): a stream starts with one.
_OPCODES = frozenset(b"().012BCFGIJKLMNPQRSTUVX]abcdeghijlopqrstu}" + bytes(range(0x80, 0x99)))

#: Every format, in the order it is tried: magic numbers first, then pickles with a known start (DCP, legacy),
#: then any other pickle stream, which ``torch.load`` would unpickle.
READERS: tuple[Reader, ...] = (
    Reader(Format.SAFETENSORS, _safetensors, "safetensors", suffixes=(".safetensors",), fallback=True),
    Reader(
        Format.TORCH_ZIP,
        lambda head, size, name: head.startswith(b"PK\x03\x04"),
        "torchzip",
        suffixes=(".bin", ".pt", ".pth", ".ckpt"),
    ),
    Reader(Format.GGUF, lambda head, size, name: head.startswith(b"GGUF"), "gguf", suffixes=(".gguf",), fallback=True),
    Reader(Format.NUMPY, lambda head, size, name: head.startswith(b"\x93NUMPY"), "numpy"),
    Reader(Format.DCP, _dcp, "dcp"),
    Reader(
        Format.TORCH_LEGACY, lambda head, size, name: head[:1] == b"\x80" and _LEGACY_MAGIC in head[:32], "torchlegacy"
    ),
    Reader(Format.TORCH_TAR, lambda head, size, name: head[257:262] == b"ustar", "torchlegacy", function="read_tar"),
    Reader(Format.PICKLE, _pickle_stream, "pickled"),
)


#: Suffixes of weights files, for finding the one weights file of a model folder.
WEIGHT_SUFFIXES: tuple[str, ...] = tuple(dict.fromkeys(s for reader in READERS for s in reader.suffixes))


def detect(head: bytes, size: int, name: str = "") -> Reader | None:
    """The reader for a file from its first bytes, its size and (for ``fallback`` readers) its name.

    Returns:
        The first reader whose sniff matches, else a fallback reader for the name's suffix, else ``None``.
    """
    for reader in READERS:
        if reader.sniff(head, size, name):
            return reader
    if head.startswith(_LFS):
        return None  # a Git LFS pointer in place of the weights: ``unrecognised`` says to pull them, whatever the name
    return next((r for r in READERS if r.fallback and name.endswith(r.suffixes)), None)


_LFS = b"version https://git-lfs"


def unrecognised(name: str, head: bytes) -> TargetError:
    """The error for a file that is none of the formats paramcount reads (``head``: its first bytes)."""
    fix = "name a safetensors, PyTorch (.pt/.bin/.ckpt), GGUF or DCP checkpoint, an index or a model folder"
    if head.startswith(_LFS):
        fix = "it is a Git LFS pointer, not the file itself: fetch the weights with 'git lfs pull'"
    return TargetError("not a checkpoint format paramcount recognises", target=name, fix=fix)
