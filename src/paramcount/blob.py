"""Random-access byte sources with bounded reads, and folders that open them. Readers never call ``open()``.

A :class:`Blob` is the bytes of one file: local (:class:`LocalFile`), in memory (:class:`BytesBlob`), or behind
range requests (:class:`paramcount.remote.RemoteBlob`). A :class:`Folder` opens the files a multi-file format
names (DCP data files, shards, ``config.json``) by their names relative to it, and refuses names that lead outside
it, so a reader works the same on a folder on disk, in memory or on a server.
"""

from __future__ import annotations

import os
import stat

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import FormatError, TargetError, quote

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Blob", "BytesBlob", "Folder", "LocalFile", "LocalFolder", "confined"]


class Blob:
    """Bytes addressed by offset; ``read`` never returns fewer bytes than asked for. Close it, or use ``with``.

    Attributes:
        name: what error messages call it (a path, a URL).
        size: its length in bytes.
        remote: each read far from the previous ones costs a network round trip; a reader skips checks that
            need a read per tensor (a zip member's local header) when this is set.
    """

    name: str
    size: int
    remote = False

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``.

        Raises:
            FormatError: the range is outside the blob (rule ``truncated``).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what the blob holds (a file descriptor, a connection)."""

    def __enter__(self) -> Blob:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _check_range(self, offset: int, length: int) -> None:
        """Refuse a read outside the blob (a claimed offset or length is never trusted)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FormatError(
                f"needs bytes {offset}..{offset + length} but the file has {self.size}",
                target=self.name,
                rule="truncated",
            )


class LocalFile(Blob):
    """A regular local file, opened once; every read is checked against the size.

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
        except ValueError as e:  # a NUL in the name: no file can have it
            raise TargetError(f"is not a usable path ({e})", target=self.name, fix="check the path") from None
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
        self._check_range(offset, length)
        try:
            data = os.pread(self._fd, length, offset)
        except OSError as e:  # EIO on a bad disk, EISDIR-like surprises from odd file systems
            raise TargetError(f"cannot read ({e.strerror})", target=self.name, fix="check the file") from None
        if len(data) != length:
            raise FormatError(f"short read at offset {offset}", target=self.name, rule="truncated")
        return data

    def close(self) -> None:
        os.close(self._fd)


class BytesBlob(Blob):
    """Bytes in memory as a Blob (tests, fuzzing, data already fetched), with the same bounds checks as a file.

    >>> BytesBlob(b"GGUF\\x03", name="x.gguf").read(0, 4)
    b'GGUF'
    """

    def __init__(self, data: bytes, *, name: str = "<bytes>") -> None:
        self.name = name
        self.size = len(data)
        self._data = data

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        return self._data[offset : offset + length]


class Folder:
    """The files beside a target, opened by name: the shards of an index, a DCP checkpoint's data files.

    Attributes:
        name: what error messages call the folder.
    """

    name: str

    def names(self) -> tuple[str, ...]:
        """The names of the entries directly inside, sorted."""
        raise NotImplementedError

    def is_file(self, relative: str) -> bool:
        """Whether ``relative`` names a regular file in the folder (after links)."""
        raise NotImplementedError

    def open(self, relative: str) -> Blob:
        """The file ``relative`` names, which must lie inside the folder.

        Raises:
            FormatError: the name leads outside the folder (rule ``folder-path``).
            TargetError: the file is missing or unreadable.
        """
        raise NotImplementedError

    def sub(self, relative: str) -> Folder:
        """The folder ``relative`` names inside this one (a pipeline's component).

        Raises:
            FormatError: the name leads outside the folder (rule ``folder-path``).
        """
        raise NotImplementedError

    def prefetch(self, relatives: list[str]) -> None:
        """A hint that these files are about to be read: a remote folder starts their first reads at once."""


class LocalFolder(Folder):
    """A folder on disk; every name it opens must stay inside it after symlinks are resolved.

    >>> LocalFolder("/models/gpt2").path("model.safetensors")
    '/models/gpt2/model.safetensors'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)

    def path(self, relative: str) -> str:
        """The path of ``relative`` in the folder, unchecked."""
        return os.path.join(self.name, relative)

    def names(self) -> tuple[str, ...]:
        try:
            return tuple(sorted(os.listdir(self.name)))
        except OSError as e:
            raise TargetError(
                f"cannot list the folder ({e.strerror})", target=self.name, fix="check that it exists and is readable"
            ) from None

    def is_file(self, relative: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(self.path(relative)).st_mode)
        except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the name
            return False
        except OSError as e:  # a folder that can be listed but not entered, a link loop
            raise TargetError(
                f"cannot read {quote(relative)} in it ({e.strerror})", target=self.name, fix="check its permissions"
            ) from None

    def open(self, relative: str) -> Blob:
        return LocalFile(self._inside(relative))

    def sub(self, relative: str) -> LocalFolder:
        return LocalFolder(self._inside(relative))

    def _inside(self, relative: str) -> str:
        """The path of ``relative``, which must stay inside the folder once links are resolved."""
        path = self.path(relative)
        if os.path.isabs(relative) or not confined(self.name, path):
            raise FormatError(
                f"{quote(relative)} leads to {quote(os.path.realpath(path))}, outside the folder",
                target=self.name,
                rule="folder-path",
                fix="copy the file into the folder, or name it directly",
            )
        return path


def confined(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path``, with every symlink resolved, lies inside ``folder``.

    One exception: a Hugging Face hub cache snapshot (``<repo>/snapshots/<revision>/``) holds symlinks to
    ``<repo>/blobs/``, which count as inside, so that a cached model can be counted where it is.

    >>> confined("/models/gpt2", "/models/gpt2/model.safetensors"), confined("/models/gpt2", "/models/x")
    (True, False)
    """
    if "\x00" in os.fspath(path):
        return False  # no file has a NUL in its name (os.path.realpath would raise)
    root = os.path.realpath(folder)
    target = os.path.realpath(path)
    if os.path.commonpath([root, target]) == root:
        return True
    parent, revision = os.path.split(root)
    repo, snapshots = os.path.split(parent)
    blobs = os.path.join(repo, "blobs")
    return snapshots == "snapshots" and bool(revision) and os.path.commonpath([blobs, target]) == blobs
