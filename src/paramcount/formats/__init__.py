"""File formats: detection by content (magic bytes), one reader module per format.

Detection looks at the first bytes, like torch does (a zip only when ``PK\\x03\\x04`` is at offset 0), never at the
file name's extension.
"""

from __future__ import annotations

from enum import Enum, unique

from paramcount.formats import safetensors

__all__ = ["Format", "detect"]

#: bytes read from the start of a file to decide its format
SNIFF_BYTES = 512


@unique
class Format(str, Enum):
    """Formats paramcount recognises; only some are read by this version."""

    SAFETENSORS = "safetensors"
    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    #: the earliest torch.save format, a tar of pickles (recognised, not read)
    TORCH_TAR = "torch-tar"
    GGUF = "gguf"
    JSON = "json"


def detect(head: bytes, size: int) -> Format | None:
    """The format of a file from its first bytes and its size, or ``None`` when unrecognised.

    >>> detect(b"GGUF\\x03\\x00\\x00\\x00", 100), detect(b"PK\\x03\\x04...", 100)
    (<Format.GGUF: 'gguf'>, <Format.TORCH_ZIP: 'torch-zip'>)
    >>> detect(b"\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}", 10), detect(b'{"weight_map": {}}', 18)
    (<Format.SAFETENSORS: 'safetensors'>, <Format.JSON: 'json'>)
    """
    if safetensors.sniff(head, size):
        return Format.SAFETENSORS
    if head.startswith(b"PK\x03\x04"):
        return Format.TORCH_ZIP
    if head.startswith(b"GGUF"):
        return Format.GGUF
    if head.startswith(b"\x80") and len(head) > 2 and head[1] <= 5:
        return Format.TORCH_LEGACY  # a pickle stream; the pre-1.6 torch format starts with one
    if head[257:262] == b"ustar":
        return Format.TORCH_TAR
    if head.lstrip(b" \t\r\n").startswith(b"{"):
        return Format.JSON
    return None
