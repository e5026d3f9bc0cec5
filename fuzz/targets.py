"""One fuzz target per reader: bytes in, a report or a paramcount error out; anything else is a finding.

Each target reads the bytes through the reader directly (an in-memory blob, no disk), then tallies and renders
what it read, so a malformed value that a reader lets through and a later stage trips over is found too. The
DCP target writes ``.metadata`` into a folder on ``/dev/shm`` because the DCP reader reads a folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from typing import TYPE_CHECKING

from paramcount.blob import BytesBlob
from paramcount.errors import ParamcountError
from paramcount.formats import dcp, gguf, torchzip
from paramcount.formats import safetensors as st
from paramcount.records import Inventory, TensorRecord
from paramcount.render import render
from paramcount.sources import files
from paramcount.tally import tally

if TYPE_CHECKING:
    from collections.abc import Callable

_DCP_FOLDER = tempfile.mkdtemp(prefix="paramcount-fuzz-dcp-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
with open(os.path.join(_DCP_FOLDER, "__0_0.distcp"), "wb") as _f:
    _f.truncate(1 << 20)


def _report(records: list[TensorRecord] | tuple[TensorRecord, ...]) -> None:
    report = tally(Inventory(target="fuzz", tensors=tuple(records), format="fuzz", verdict="ok"))
    render(report, "json")
    render(report, "table")


def safetensors_target(data: bytes) -> None:
    header = st.read_header(BytesBlob(data, name="fuzz.safetensors"))
    _report([files._record(entry, "fuzz") for entry in header.entries])


def torchzip_target(data: bytes) -> None:
    _report(torchzip.read_zip(BytesBlob(data, name="fuzz.pt")).tensors.records)


def legacy_target(data: bytes) -> None:
    _report(torchzip.read_legacy(BytesBlob(data, name="fuzz.pt")).tensors.records)


def gguf_target(data: bytes) -> None:
    _report(gguf.read(BytesBlob(data, name="fuzz.gguf")).records)


def dcp_target(data: bytes) -> None:
    from pathlib import Path

    with open(os.path.join(_DCP_FOLDER, ".metadata"), "wb") as f:
        f.write(data)
    _report(dcp.read(Path(_DCP_FOLDER)).records)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "safetensors": safetensors_target,
    "torchzip": torchzip_target,
    "legacy": legacy_target,
    "gguf": gguf_target,
    "dcp": dcp_target,
}


def run(target: Callable[[bytes], None], data: bytes) -> None:
    """Call ``target``; paramcount's own errors are the expected outcome for bad input.

    Warnings are errors here: a warning that escapes a reader is an extra line on the user's terminal.
    """
    with warnings.catch_warnings(), contextlib.suppress(ParamcountError):
        warnings.simplefilter("error")
        target(data)
