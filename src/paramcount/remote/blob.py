"""Range-read blobs and folders, and the :class:`Transfer` that accounts for one count's network use.

A :class:`RemoteBlob`'s first read fetches :data:`FIRST_READ` bytes, enough for a typical safetensors header, GGUF
preamble or zip end record; later reads fetch exact ranges, growing a read-ahead while a reader walks forward (a GGUF
header's vocabulary). A :class:`RemoteFolder` is a repository or a folder of a store: it opens the files a format
names beside the first (shards, DCP data files, ``config.json``) and, asked to :meth:`RemoteFolder.prefetch`, starts
their first reads concurrently. How bytes are fetched (HTTP, fsspec, the cache) is the ``fetch`` callable's business.
"""

from __future__ import annotations

import threading

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.blob import Blob, Folder
from paramcount.errors import FormatError, TargetError, quote
from paramcount.limits import exceeded

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from paramcount.limits import Limits

__all__ = ["FIRST_READ", "WHOLE_JSON", "Part", "RemoteBlob", "RemoteFolder", "Transfer"]

#: bytes asked for by a blob's first read: a safetensors header of a 70B shard is ~10 KB, 97% of the Hub's are
#: under 100 KB (huggingface_hub fetches 100,000 bytes); a zip's end record and central directory of a 7B ``.bin``
#: fit too
FIRST_READ = 64 * 2**10
#: bytes asked for by a read that jumps away from the previous ones
NEAR_READ = 4 * 2**10
#: the most a forward-walking reader's read-ahead grows to
MAX_READ_AHEAD = 8 * 2**20
#: files whose first reads run at once (huggingface_hub's thread map uses 8; a 70B checkpoint has 14-30 shards)
CONCURRENCY = 16
#: a JSON file (config, index) up to this size is fetched whole by its first read: an index of a 400B model is
#: about 100 KB, and its reader reads it all
WHOLE_JSON = 4 * 2**20


class Transfer:
    """The network cost of one count, shared by its blobs (and threads): requests made, bytes received.

    Attributes:
        requests: HTTP requests (or store calls) made, retries included.
        bytes: body bytes received.
        cached_bytes: bytes served from paramcount's header cache instead of the network.
    """

    def __init__(self, limits: Limits, *, progress: Callable[[int], None] | None = None) -> None:
        self.limits = limits
        self.requests = 0
        self.bytes = 0
        self.cached_bytes = 0
        self._lock = threading.Lock()
        self._progress = progress

    def request(self, count: int = 1) -> None:
        with self._lock:
            self.requests += count

    def received(self, size: int, name: str) -> None:
        """Count ``size`` bytes of a body; raise once the count's total passes ``remote_bytes``."""
        with self._lock:
            self.bytes += size
            total = self.bytes
        if total > self.limits.remote_bytes:
            raise exceeded(
                "remote_bytes",
                f"fetched {total} bytes over the network",
                self.limits.remote_bytes,
                target=name,
            )

    def cached(self, size: int) -> None:
        """Count ``size`` header bytes served from paramcount's cache (blobs open in several threads)."""
        with self._lock:
            self.cached_bytes += size

    def file_done(self) -> None:
        if self._progress is not None:
            self._progress(1)


class Part(NamedTuple):
    """Bytes fetched from ``start``, and the whole file's size when the answer said it."""

    start: int
    data: bytes
    size: int | None


class RemoteBlob(Blob):
    """A file read by ranges through ``fetch(start, end) -> Part`` (``end`` exclusive), keeping what it fetched.

    Args:
        name: what messages call it (``hf://org/name/model.safetensors``, a URL without its query).
        size: its length; a fetched range that says otherwise is an error (the file changed or the server lies).
        fetch: fetches a range; raises :class:`TargetError` when it cannot.
        parts: ranges already at hand (paramcount's header cache, or a first read made to learn the size).
        cache_key: where :func:`save` keeps what was fetched, or ``None`` not to keep it.
        first: bytes the first read asks for (a small JSON file is fetched whole).
    """

    remote = True

    def __init__(
        self,
        name: str,
        size: int,
        fetch: Callable[[int, int], Part],
        parts: Iterable[Part] = (),
        *,
        cache_key: str | None = None,
        first: int = FIRST_READ,
    ) -> None:
        self.name = name
        self.cache_key = cache_key
        self.size = size
        self._fetch = fetch
        self._parts: list[Part] = list(parts)
        self.new: list[Part] = []  # what was fetched, for the header cache
        self.touched = False  # whether a reader asked for any of it
        self._first = first
        self._ahead = 2 * NEAR_READ  # the first read-ahead past a fetched range; doubled at each further step
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        self.touched = True
        if length == 0:
            return b""
        with self._lock:
            for part in self._parts:
                if part.start <= offset and offset + length <= part.start + len(part.data):
                    return part.data[offset - part.start : offset - part.start + length]
            # A read that starts inside a fetched range fetches only what follows it, with a read-ahead that doubles
            # while a reader keeps walking forward (a GGUF vocabulary); a read elsewhere fetches a little around it.
            cover = next((i for i, p in enumerate(self._parts) if p.start <= offset <= p.start + len(p.data)), None)
            if not self.new and cover is None:
                start, ask = offset, self._first
            elif cover is not None:
                start, ask = self._parts[cover].start + len(self._parts[cover].data), self._ahead
                self._ahead = min(self._ahead * 2, MAX_READ_AHEAD)
            else:
                start, ask = offset, NEAR_READ
            end = min(self.size, max(offset + length, start + ask))
            part = self._fetch(start, end)
            if part.size is not None and part.size != self.size:
                raise TargetError(
                    f"changed size while being read: {self.size} bytes, now {part.size}",
                    target=self.name,
                    fix="count it again",
                )
            if part.start + len(part.data) < offset + length:
                raise FormatError(f"short read at offset {offset}", target=self.name, rule="truncated")
            self.new.append(part)
            if cover is not None:
                before = self._parts[cover]
                part = Part(before.start, before.data + part.data[: end - start], None)
                self._parts[cover] = part
            else:
                self._parts.append(part)
            return part.data[offset - part.start : offset - part.start + length]


# --- HTTP ---------------------------------------------------------------------------------------------------------


class RemoteFolder(Folder):
    """Files of a repository or store folder, listed up front: ``files`` maps relative paths to sizes.

    ``opener(relative, size)`` makes the blob of one file; blobs are kept, so a file opened twice (a sniff, then a
    read) and a file prefetched are fetched once. :meth:`close` writes what was fetched to the header cache.
    """

    def __init__(
        self,
        name: str,
        files: dict[str, int],
        opener: Callable[[str, int], RemoteBlob],
        *,
        prefix: str = "",
        shared: dict[str, RemoteBlob] | None = None,
    ) -> None:
        self.name = name
        self.files = files
        self._opener = opener
        self._prefix = prefix
        self._blobs: dict[str, RemoteBlob] = {} if shared is None else shared
        self._lock = threading.Lock()

    def _full(self, relative: str) -> str | None:
        parts = relative.replace("\\", "/").split("/")
        if relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return None
        return self._prefix + "/".join(parts)

    def names(self) -> tuple[str, ...]:
        found = set()
        for path in self.files:
            if path.startswith(self._prefix):
                found.add(path[len(self._prefix) :].split("/", 1)[0])
        return tuple(sorted(found))

    def is_file(self, relative: str) -> bool:
        full = self._full(relative)
        return full is not None and full in self.files

    def is_dir(self, relative: str) -> bool:
        full = self._full(relative)
        return full is not None and any(p.startswith(full + "/") for p in self.files)

    def sub(self, relative: str) -> RemoteFolder:
        """The folder ``relative`` inside this one (a pipeline's component)."""
        full = self._full(relative)
        if full is None:
            raise FormatError(f"{quote(relative)} leads outside the folder", target=self.name, rule="folder-path")
        return RemoteFolder(
            f"{self.name.rstrip('/')}/{relative}",
            self.files,
            self._opener,
            prefix=full + "/",
            shared=self._blobs,
        )

    def open(self, relative: str) -> Blob:
        full = self._full(relative)
        if full is None:
            raise FormatError(
                f"{quote(relative)} leads outside the repository",
                target=self.name,
                rule="folder-path",
                fix="name a file inside it",
            )
        if full not in self.files:
            raise TargetError(f"has no file {quote(relative)}", target=self.name, fix="check the file name")
        with self._lock:
            blob = self._blobs.get(full)
            if blob is None:
                blob = self._blobs[full] = self._opener(full, self.files[full])
        return _Borrowed(blob)

    def prefetch(self, relatives: list[str]) -> None:
        """Start the first read of each file at once (a bounded pool); errors surface when the file is read."""
        wanted = [r for r in relatives if self.is_file(r)]
        if len(wanted) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        def first(relative: str) -> None:
            blob = self.open(relative)
            blob.read(0, min(blob.size, 8))

        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(wanted))) as pool:
            for future in [pool.submit(first, r) for r in wanted]:
                future.result()

    def blobs(self) -> dict[str, RemoteBlob]:
        return self._blobs


class _Borrowed(Blob):
    """A folder's blob lent to a reader: closing it keeps what was fetched."""

    remote = True

    def __init__(self, blob: RemoteBlob) -> None:
        self._blob = blob
        self.name = blob.name
        self.size = blob.size

    def read(self, offset: int, length: int) -> bytes:
        return self._blob.read(offset, length)
