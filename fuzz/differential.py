"""Differential fuzz targets: paramcount's verdict against the real loader's reading of the same bytes.

* ``pickle-oracle``: CPython's C and pure-Python unpicklers, with every global replaced by a recorded stand-in
  (``tests/oracles.py``), against paramcount's plain-pickle reader. Invariant: a global either unpickler resolves
  outside the allowlist, or calls through an allowlisted function, makes paramcount say unsafe (exit 4).
* ``zip-oracle``: ``torch._C.PyTorchFileReader`` against paramcount's reading of the archive as torch's reader
  (miniz) does. Invariant: when torch's reader opens the bytes and finds a ``data.pkl`` record, paramcount reads
  that same record, byte for byte — or, where torch hands over uninitialised memory (an entry that claims bytes
  but has none to extract), finds the file unsafe.
* ``npy-oracle``: numpy's own header parser against paramcount's. Invariant: when numpy would unpickle the array
  (its dtype holds objects), paramcount judges a pickle at the same offset.

A violated invariant raises ``AssertionError``, which atheris reports as a finding with the input that caused it.
"""

from __future__ import annotations

import io
import os
import re
import sys
import warnings
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # tests.oracles

from tests.oracles import unpickle

from paramcount.blob import BytesBlob
from paramcount.errors import FormatError, ParamcountError, UnsafeTargetError
from paramcount.formats import READERS, Format
from paramcount.formats import zip as zip_format
from paramcount.formats.numpy import pickle_offset
from paramcount.formats.pickled import ALLOWLIST as PLAIN
from paramcount.limits import DEFAULT

__all__ = ["TARGETS"]

_PICKLE_READER = next(reader for reader in READERS if reader.format == Format.PICKLE)
_TORCH_ZIP_READER = next(reader for reader in READERS if reader.format == Format.TORCH_ZIP)


def _outside(module: str, name: str) -> bool:
    """Whether ``find_class(module, name)`` resolves something outside the plain-pickle allowlist."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    pairs = {(module, name), NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module, module), name))}
    return not any("." not in n and f"{m}.{n}" in PLAIN.names for m, n in pairs)


def _grows_memo(data: bytes) -> bool:
    """Whether the bytes may hold a PUT or LONG_BINPUT of an index above 2^24 anywhere: the C unpickler grows its
    memo array to the index (8 bytes an entry), so one 4-byte argument costs it up to 32 GB."""
    for found in re.finditer(rb"r(?=[\s\S]{4})", data):
        if int.from_bytes(data[found.start() + 1 : found.start() + 5], "little") > 1 << 24:
            return True
    return re.search(rb"p[ \t\n\r\f\v]*[+-]?0*[1-9][0-9]{7}", data) is not None


def _allocates(data: bytes) -> bool:
    """Whether the bytes may hold a BINUNICODE8, BINBYTES8 or BYTEARRAY8 claiming over 64 MiB anywhere: both
    unpicklers allocate the claimed size before they read (``bytearray(size)``)."""
    for found in re.finditer(rb"[\x8d\x8e\x96](?=[\s\S]{8})", data):
        if int.from_bytes(data[found.start() + 1 : found.start() + 9], "little") > 1 << 26:
            return True
    return False


def pickle_oracle(data: bytes) -> None:
    try:
        _PICKLE_READER.read(BytesBlob(data, name="fuzz.pkl"), DEFAULT, None)
        verdict = "ok"
    except UnsafeTargetError:
        return  # unsafe: whatever the loaders resolve, the invariant holds
    except FormatError as e:
        if e.rule.startswith("limit-") or "would not end" in str(e):
            return  # paramcount stopped at a bound; a loader may hang or run out of memory here
        verdict = f"refused ({e.rule}: {str(e)[:120]})"
    except ParamcountError as e:
        verdict = f"refused ({type(e).__name__}: {str(e)[:120]})"
    if _allocates(data):
        return  # both unpicklers allocate what an 8-byte length claims before reading: the fuzzer's memory limit
    for c in (True, False):
        if c and _grows_memo(data):
            continue  # the C unpickler would allocate gigabytes for its memo: the fuzzer's memory limit, not a finding
        trace = unpickle(data, c=c)
        outside = [g for g in trace.globals if _outside(g.module, g.name)]
        if outside:
            g = outside[0]
            loader = "the C unpickler" if c else "the Python unpickler"
            raise AssertionError(f"{loader} resolves {g.module}.{g.name}; paramcount: {verdict}")


def zip_oracle(data: bytes) -> None:
    import torch

    blob = BytesBlob(data, name="fuzz.pt")
    directory: zip_format.Directory | None = None
    entry: zip_format.Entry | None = None
    try:
        directory = zip_format.miniz(blob)
        first = directory.entries[0].raw
        entry = zip_format.locate(directory, first[: first.index(b"/") + 1] + b"data.pkl")
    except (ParamcountError, IndexError, ValueError):
        directory = entry = None
    if directory is not None and any(e.size > 1 << 26 for e in directory.entries):
        # torch's reader allocates what an entry claims before it reads it (data.pkl, the version record it reads
        # when it opens the archive): the oracle would run out of memory
        return
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        reader.get_all_records()  # torch.load lists the records (looking for TorchScript) before it reads data.pkl
        record = bytes(reader.get_record("data.pkl"))
    except Exception:  # torch's reader (or torch.load's first step) refuses the bytes: nothing to compare
        return
    try:
        if directory is None:
            directory = zip_format.miniz(blob)
            first = directory.entries[0].raw
            entry = zip_format.locate(directory, first[: first.index(b"/") + 1] + b"data.pkl")
        ours = zip_format.extract(blob, entry, directory, limit=2**30) if entry is not None else None
    except zip_format.PartialMemberError as e:
        # torch reads the prefix, then whatever its buffer held: only the prefix can be compared
        if record[: len(e.prefix)] != e.prefix:
            problem = f"torch's reader reads {record[:40]!r}; paramcount's prefix {e.prefix[:40]!r}"
            raise AssertionError(problem) from None
        return
    except ParamcountError as e:
        raise AssertionError(f"torch's reader reads data.pkl ({len(record)} bytes); paramcount: {e}") from None
    if entry is not None and entry.size and (entry.is_directory or not entry.compressed_size):
        # torch hands over uninitialised memory for the claimed size: paramcount cannot follow it, so it is unsafe
        try:
            _TORCH_ZIP_READER.read(blob, DEFAULT, None)
        except UnsafeTargetError:
            return
        except ParamcountError as e:
            raise AssertionError(f"torch reads uninitialised memory as data.pkl; paramcount: {e}") from None
        raise AssertionError("torch reads uninitialised memory as data.pkl; paramcount counts the file")
    if ours != record:
        raise AssertionError(f"torch's reader reads {record[:40]!r}; paramcount {ours[:40] if ours else ours!r}")


def _numpy_objects(data: bytes) -> int | None:
    """Where numpy would start unpickling ``data`` as an ``.npy`` file, or ``None`` when it would not."""
    import importlib

    fmt: Any = importlib.import_module("numpy.lib._format_impl")  # numpy >= 2 (pinned in constraints.txt)
    f = io.BytesIO(data)
    try:
        version = fmt.read_magic(f)
        _shape, _order, dtype = fmt._read_array_header(f, version, max_header_size=2**64)
    except Exception:  # numpy refuses the header
        return None
    return f.tell() if dtype.hasobject else None


def npy_oracle(data: bytes) -> None:
    if len(data) > 16384:
        return  # numpy tokenizes a header in Python: a long one takes it seconds (paramcount's npy target has them)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about old header spellings
        numpy_at = _numpy_objects(data)
    try:
        ours = pickle_offset(data, DEFAULT, target="fuzz.npy")
    except FormatError:
        return  # over npy-header-bytes: refused
    if numpy_at is not None and ours != numpy_at:
        raise AssertionError(f"numpy unpickles from byte {numpy_at}; paramcount judges {ours}")


TARGETS: dict[str, Any] = {"pickle-oracle": pickle_oracle, "zip-oracle": zip_oracle, "npy-oracle": npy_oracle}
