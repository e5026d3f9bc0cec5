"""One fuzz target per reader: bytes in, a report or a paramcount error out; anything else is a finding.

Each target hands the bytes to its reader through the format registry's one contract (an in-memory blob, no
disk), then tallies and renders what it read, so a malformed value that a reader lets through and a later stage
trips over is found too. The DCP target gives its reader a folder on ``/dev/shm`` holding one data file.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import TYPE_CHECKING

from paramcount.blob import BytesBlob, LocalFolder
from paramcount.errors import ParamcountError
from paramcount.formats import READERS, Format
from paramcount.limits import DEFAULT
from paramcount.records import Inventory
from paramcount.render import render
from paramcount.tally import tally

if TYPE_CHECKING:
    from collections.abc import Callable

    from paramcount.blob import Folder

_DCP_FOLDER = tempfile.mkdtemp(prefix="paramcount-fuzz-dcp-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
with open(os.path.join(_DCP_FOLDER, "__0_0.distcp"), "wb") as _f:
    _f.truncate(1 << 20)

_BY_FORMAT = {reader.format: reader for reader in READERS}


def _target(format: Format, name: str, folder: Folder | None = None) -> Callable[[bytes], None]:
    reader = _BY_FORMAT[format]

    def target(data: bytes) -> None:
        read = reader.read(BytesBlob(data, name=name), DEFAULT, folder)
        report = tally(Inventory(target="fuzz", tensors=read.records, format="fuzz", verdict="ok"))
        render(report, "json")
        render(report, "table")

    return target


TARGETS: dict[str, Callable[[bytes], None]] = {
    "safetensors": _target(Format.SAFETENSORS, "fuzz.safetensors"),
    "torchzip": _target(Format.TORCH_ZIP, "fuzz.pt"),
    "legacy": _target(Format.TORCH_LEGACY, "fuzz.pt"),
    "gguf": _target(Format.GGUF, "fuzz.gguf"),
    "dcp": _target(Format.DCP, ".metadata", LocalFolder(_DCP_FOLDER)),
    "pickle": _target(Format.PICKLE, "fuzz.pkl"),
    "numpy": _target(Format.NUMPY, "fuzz.npy"),
}


def run(target: Callable[[bytes], None], data: bytes) -> None:
    """Call ``target``; paramcount's own errors are the expected outcome for bad input.

    Warnings are errors here: a warning that escapes a reader is an extra line on the user's terminal. An error
    message must be one line of bounded length, whatever the file's names.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            target(data)
        except ParamcountError as e:
            message = str(e)
            if "\n" in message or len(message) > 2000:
                raise AssertionError(f"error message of {len(message)} characters: {message[:200]!r}") from e
