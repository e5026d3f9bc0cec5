"""Random-access byte sources with bounded reads. File readers read only through a Blob, never ``open()``.

A local file today; HTTP range requests and object stores fit the same two members later.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Protocol

from paramcount.errors import FormatError, TargetError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Blob", "BytesBlob", "LocalFile", "confined"]


class Blob(Protocol):
    """Bytes addressed by offset; ``read`` never returns fewer bytes than asked for."""

    name: str
    size: int

    def read(self, offset: int, length: int) -> bytes: ...


class LocalFile:
    """A regular local file, opened once; every read is checked against the size and a caller's cap.

    Args:
        path: the file; FIFOs, devices and other non-regular files are refused before they are read.

    Raises:
        TargetError: the file is missing, unreadable or not a regular file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        try:
            fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as e:
            raise TargetError(f"cannot open ({e.strerror})", target=self.name, fix="check the path") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise TargetError("not a regular file", target=self.name, fix="name a checkpoint file or folder")
        except BaseException:
            os.close(fd)
            raise
        self.size = info.st_size
        self._fd = fd

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``.

        Raises:
            FormatError: the range is outside the file.
        """
        _check_range(self, offset, length)
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise FormatError(f"short read at offset {offset}", target=self.name, rule="truncated")
        return data

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> LocalFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class BytesBlob:
    """Bytes in memory as a Blob (tests, fuzzing, data already fetched), with the same bounds checks as a file.

    >>> BytesBlob(b"GGUF\\x03", name="x.gguf").read(0, 4)
    b'GGUF'
    """

    def __init__(self, data: bytes, *, name: str = "<bytes>") -> None:
        self.name = name
        self.size = len(data)
        self._data = data

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``.

        Raises:
            FormatError: the range is outside the bytes.
        """
        _check_range(self, offset, length)
        return self._data[offset : offset + length]


def _check_range(blob: Blob, offset: int, length: int) -> None:
    """Refuse a read outside ``blob`` (a claimed offset or length is never trusted)."""
    if offset < 0 or length < 0 or offset + length > blob.size:
        raise FormatError(
            f"needs bytes {offset}..{offset + length} but the file has {blob.size}",
            target=blob.name,
            rule="truncated",
        )


def confined(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path``, with every symlink resolved, lies inside ``folder``.

    One exception: a Hugging Face hub cache snapshot (``<repo>/snapshots/<revision>/``) holds symlinks to
    ``<repo>/blobs/``, which count as inside, so that a cached model can be counted where it is.

    >>> confined("/models/gpt2", "/models/gpt2/model.safetensors"), confined("/models/gpt2", "/models/x")
    (True, False)
    """
    root = os.path.realpath(folder)
    target = os.path.realpath(path)
    if os.path.commonpath([root, target]) == root:
        return True
    parent, revision = os.path.split(root)
    repo, snapshots = os.path.split(parent)
    blobs = os.path.join(repo, "blobs")
    return snapshots == "snapshots" and bool(revision) and os.path.commonpath([blobs, target]) == blobs
