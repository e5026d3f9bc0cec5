"""Builders of crafted torch checkpoints: a zip around any data.pkl, pickles with storage persistent ids.

Only the standard library and torch's own rebuild functions (pickled by reference, never called) are used, so a
test can write exactly the bytes a rule is about.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from pathlib import Path


class Pid:
    """Pickles as the persistent id ``pid`` (a torch storage reference)."""

    def __init__(self, *pid: Any) -> None:
        self.pid = pid


class Rebuild:
    """Pickles as ``REDUCE(func, args)``: a tensor as torch.save writes it, with any arguments."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


class UnknownSubclass(torch.Tensor):
    """A tensor subclass outside paramcount's allowlist (as torchao's are)."""


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return obj.pid if isinstance(obj, Pid) else None


def dumps(obj: Any, protocol: int = 2) -> bytes:
    """Pickle ``obj`` with :class:`Pid` values written as persistent ids."""
    import io

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def tensor(key: str, numel: int, size: tuple[Any, ...], stride: tuple[Any, ...], offset: int = 0) -> Rebuild:
    """A float32 tensor over storage ``key`` of ``numel`` elements, as ``_rebuild_tensor_v2``."""
    storage = Pid("storage", torch.FloatStorage, key, "cpu", numel)
    return Rebuild(torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False, OrderedDict())


def torch_zip(path: Path, data_pkl: bytes, records: dict[str, int], *, top: str = "archive") -> Path:
    """A zip laid out like torch.save's: ``<top>/data.pkl`` and ``<top>/data/<key>`` of the given byte sizes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{top}/data.pkl", data_pkl)
        archive.writestr(f"{top}/byteorder", b"little")
        for key, size in records.items():
            archive.writestr(f"{top}/data/{key}", b"\0" * size)
        archive.writestr(f"{top}/version", b"3\n")
    return path
