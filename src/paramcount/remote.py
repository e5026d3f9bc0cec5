"""Remote byte sources: files on the Hugging Face Hub, at an HTTP(S) URL or in an fsspec store, read by range.

Every reader already reads only headers through a :class:`paramcount.blob.Blob`; a :class:`RemoteBlob` is one whose
bytes come from range requests. Its first read fetches :data:`FIRST_READ` bytes, enough for a typical
safetensors header, GGUF preamble or zip end record; later reads fetch exact ranges, growing a read-ahead while a
reader walks forward (a GGUF header's vocabulary). A :class:`RemoteFolder` is a repository or a folder of a
store: it opens the files a format names beside the first (shards, DCP data files, ``config.json``) and, asked to
:meth:`RemoteFolder.prefetch`, starts their first reads concurrently.

One :class:`Transfer` holds the cost of a count: requests and bytes, checked against ``--limit remote-bytes``,
which is also what stops a server that ignores ``Range`` and streams a whole 10 GB file. Retries (429, 5xx,
timeouts, dropped connections) back off exponentially and honour ``Retry-After``; every other failure is one
:class:`paramcount.errors.TargetError` line (exit 3) naming the file, never a partial result.

The Hub is reached through huggingface_hub (its endpoint, token, revisions and HTTP session; the token is sent only
to the Hub and never printed), any other URL through the same HTTP library without credentials, object stores
through fsspec. Nothing here imports torch; huggingface_hub and fsspec are imported only when a remote target is
counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
import time

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount.blob import Blob, Folder
from paramcount.errors import FormatError, TargetError, quote
from paramcount.limits import Limits, exceeded
from paramcount.sources.resolve import COMMIT, hub_offline

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

__all__ = [
    "FIRST_READ",
    "HubRepo",
    "RemoteBlob",
    "RemoteFolder",
    "Transfer",
    "hub_folder",
    "url_blob",
]

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
#: seconds before the first retry; doubled after each, at most :data:`MAX_BACKOFF`
BACKOFF = 0.5
MAX_BACKOFF = 8.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


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


def _httpx() -> Any:
    """The HTTP library huggingface_hub uses (httpx, or its successor httpx2)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        try:
            import httpx

            return httpx
        except ImportError:
            raise TargetError(
                "counting a remote target needs huggingface_hub and its HTTP library",
                target=None,
                fix="pip install 'paramcount[remote]'",
            ) from None


_PLAIN: list[Any] = []  # one client for URLs, created on first use
_PLAIN_LOCK = threading.Lock()


def _plain_client() -> Any:
    """An HTTP client for URLs that are not the Hub: redirects followed, no credentials, no Hub hooks."""
    with _PLAIN_LOCK:
        if not _PLAIN:
            http = _httpx()
            _PLAIN.append(http.Client(follow_redirects=True, max_redirects=10, headers={"user-agent": _agent()}))
        return _PLAIN[0]


def _agent() -> str:
    from paramcount import __version__

    return f"paramcount/{__version__}"


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class Http:
    """Range requests to one URL with retries, within a count's :class:`Transfer`.

    Args:
        url: what to request.
        name: what messages call it (never a URL with a token or a signature in it).
        client: the HTTP client (huggingface_hub's session for the Hub).
        headers: request headers (the Hub's, with the token, only for the Hub).
        transfer: the count's accounting and limits.
        hub: whether ``url`` is on the Hub (for the hint on 401/403/404).
    """

    def __init__(
        self, url: str, name: str, *, client: Any, headers: dict[str, str], transfer: Transfer, hub: bool = False
    ) -> None:
        self.url = url
        self.name = name
        self.client = client
        self.headers = headers
        self.transfer = transfer
        self.hub = hub

    def fetch(self, start: int, end: int) -> Part:
        """Bytes ``start..end`` (exclusive); the file's size when the server says it.

        A server that answers 200 (the whole file) is accepted only when the whole file fits in ``end`` bytes
        (a small JSON file from a server without range support); otherwise reading stops at once.
        """
        if self.hub and hub_offline():
            raise TargetError(
                f"HF_HUB_OFFLINE is set and paramcount's cache lacks bytes {start}..{end} of this file",
                target=self.name,
                fix="unset HF_HUB_OFFLINE to fetch them",
            )
        return _retrying(lambda: self._once(start, end), self.name, self.transfer.limits, hub=self.hub)

    def _once(self, start: int, end: int) -> Part:
        http = _httpx()
        headers = {**self.headers, "range": f"bytes={start}-{end - 1}", "accept-encoding": "identity"}
        self.transfer.request()
        timeout = http.Timeout(float(self.transfer.limits.remote_timeout))
        with self.client.stream("GET", self.url, headers=headers, timeout=timeout) as response:
            self.transfer.request(len(response.history))  # redirects (the Hub's to its storage) are requests too
            status = response.status_code
            if status == 206:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
                if match is None or int(match[1]) != start or int(match[2]) >= end:
                    raise TargetError(
                        f"answered bytes {start}..{end} with a Content-Range of "
                        f"{quote(response.headers.get('content-range'), 60)}",
                        target=self.name,
                        fix="the server's range support is broken; download the file and count it locally",
                    )
                expected = int(match[2]) - start + 1
                data = self._body(response, expected)
                if len(data) != expected:
                    raise TargetError(
                        f"sent {len(data)} bytes for a range of {expected} "
                        f"(Content-Length {quote(response.headers.get('content-length'), 30)})",
                        target=self.name,
                        fix="the server's answer is truncated or inconsistent; try again, or download the file",
                    )
                return Part(start, data, None if match[3] == "*" else int(match[3]))
            if status == 200:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > end:
                    raise _ignores_range(self.name, start, end, int(declared))
                data = self._body(response, end)
                if len(data) > end:
                    raise _ignores_range(self.name, start, end, None)
                return Part(0, data, len(data)) if start == 0 else Part(start, data[start:], len(data))
            if status == 416 and start == 0:
                return Part(0, b"", 0)  # an empty file
            raise _StatusError(status, response.headers.get("retry-after"))

    def _body(self, response: Any, expected: int) -> bytes:
        """At most ``expected + 1`` bytes of the body (one more shows a server sending more than it should)."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            chunks.append(chunk)
            size += len(chunk)
            self.transfer.received(len(chunk), self.name)
            if size > expected:
                break
        return b"".join(chunks)[: expected + 1]


def _ignores_range(name: str, start: int, end: int, size: int | None) -> TargetError:
    whole = f"the whole file ({size} bytes)" if size is not None else "more than it was asked for"
    return TargetError(
        f"the server ignored the Range request for bytes {start}..{end} and began sending {whole}; stopped",
        target=name,
        fix="use a server that supports HTTP range requests, or download the file and count it locally",
    )


class _StatusError(Exception):
    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


def _retrying(call: Callable[[], Part], name: str, limits: Limits, *, hub: bool) -> Part:
    """``call()`` retried on 429, 5xx, timeouts and dropped connections; each failure mapped to one error line."""
    http = _httpx()
    attempts = limits.remote_attempts
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except _StatusError as e:
            if e.status not in _RETRY_STATUS or attempt == attempts:
                raise _status_error(e.status, name, hub=hub, attempts=attempt) from None
            _sleep(attempt, e.retry_after)
        except http.TooManyRedirects:
            raise TargetError(
                "redirects in a loop (or more than 10 times)", target=name, fix="check the URL and the server"
            ) from None
        except (http.TimeoutException, http.RemoteProtocolError, http.ReadError) as e:
            # a timeout (a connect timeout included) or a connection dropped mid-answer: worth another try
            if attempt == attempts:
                if isinstance(e, http.TimeoutException):
                    raise TargetError(
                        f"timed out {attempts} times (limit {limits.remote_timeout} s per request)",
                        target=name,
                        fix="check the network, or raise --limit remote-timeout=SECONDS",
                    ) from None
                raise TargetError(
                    f"the connection broke mid-answer {attempts} times ({_reason(e)}): the body was truncated",
                    target=name,
                    fix="try again later",
                ) from None
            _sleep(attempt, None)
        except http.ConnectError as e:
            # DNS and TLS failures are not going to heal in a second: no retry
            raise TargetError(
                f"cannot connect ({_reason(e)})",
                target=name,
                fix="check the address and the network (HF_HUB_OFFLINE=1 counts from the local cache)",
            ) from None
        except http.HTTPError as e:
            raise TargetError(f"HTTP failure ({_reason(e)})", target=name, fix="check the URL") from None
    raise AssertionError("unreachable")


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return quote(text, 160)[1:-1]


def _sleep(attempt: int, retry_after: str | None) -> None:
    wait = min(BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF)
    if retry_after is not None and retry_after.strip().isascii() and retry_after.strip().isdigit():
        wait = min(max(wait, float(retry_after)), 4 * MAX_BACKOFF)
    time.sleep(wait)


def _status_error(status: int, name: str, *, hub: bool, attempts: int) -> TargetError:
    if status in (401, 403):
        if hub:
            return TargetError(
                f"access refused (HTTP {status}): the repository is gated or private",
                target=name,
                fix="accept its license on the Hub with your account, then set HF_TOKEN (or huggingface-cli login)",
            )
        return TargetError(f"access refused (HTTP {status})", target=name, fix="check the URL and its credentials")
    if status == 404:
        return TargetError("not found (HTTP 404)", target=name, fix="check the name, the revision and the file")
    if status == 429:
        return TargetError(
            f"rate limited (HTTP 429) {attempts} times in a row",
            target=name,
            fix="wait and try again" + (" (HF_TOKEN raises the Hub's rate limit)" if hub else ""),
        )
    if status >= 500:
        return TargetError(
            f"the server failed (HTTP {status}) {attempts} times in a row", target=name, fix="try again later"
        )
    return TargetError(f"answered HTTP {status}", target=name, fix="check the URL")


# --- folders -------------------------------------------------------------------------------------------------------


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


# --- the Hub -------------------------------------------------------------------------------------------------------


class HubRepo(NamedTuple):
    """A Hub model repository at one commit, as listed by the Hub API."""

    endpoint: str
    repo_id: str
    revision: str
    commit: str
    files: dict[str, int]
    #: the Hub's own ``safetensors.total`` for the repo (its metadata, not a count), when it has one
    hub_parameters: int | None
    #: whether the listing came from paramcount's cache instead of the Hub (offline)
    cached: bool = False


def endpoint() -> str:
    """The Hub's address: ``HF_ENDPOINT``, else huggingface.co (read when called, so tests may point it anywhere)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_listing(
    repo_id: str, revision: str, target: str, transfer: Transfer, *, cache: bool, looked: str = ""
) -> HubRepo:
    """The repository's files at ``revision`` (one Hub API request; none for a cached commit).

    ``looked`` says where the local Hugging Face cache was searched, for the error when the Hub is out of reach.

    Raises:
        TargetError: gated, private or unknown repository, unknown revision, rate limits, network failure.
    """
    where = endpoint()
    key = _key("listing", where, repo_id, revision)
    if cache and COMMIT.fullmatch(revision):
        cached = _load_listing(key)
        if cached is not None:
            return cached
    where_looked = f" ({looked})" if looked else ""

    def from_cache(problem: str, fix: str) -> HubRepo:
        """The listing paramcount's cache kept, marked as such, when the Hub cannot be asked."""
        cached = _load_listing(key) if cache else None
        if cached is None:
            raise TargetError(f"{problem}{where_looked}", target=target, fix=fix)
        return cached._replace(cached=True)

    if hub_offline():
        return from_cache(
            f"HF_HUB_OFFLINE is set and neither the Hugging Face cache nor paramcount's cache has {repo_id}@{revision}",
            "unset HF_HUB_OFFLINE, or download the model first",
        )
    try:
        from huggingface_hub import HfApi
        from huggingface_hub import errors as hub_errors
    except ImportError:
        raise TargetError(
            "counting a model on the Hub needs huggingface_hub", target=target, fix="pip install 'paramcount[remote]'"
        ) from None
    http = _httpx()
    api = HfApi(endpoint=where)
    info = None
    for attempt in range(1, transfer.limits.remote_attempts + 1):
        transfer.request()
        try:
            info = api.model_info(
                repo_id, revision=revision, files_metadata=True, timeout=float(transfer.limits.remote_timeout)
            )
            break
        except hub_errors.GatedRepoError:
            raise _status_error(403, target, hub=True, attempts=attempt) from None
        except hub_errors.RevisionNotFoundError:
            raise TargetError(
                f"the Hub has {repo_id} but no revision {revision!r}",
                target=target,
                fix="name a branch, tag or commit of the repository",
            ) from None
        except hub_errors.RepositoryNotFoundError:
            raise TargetError(
                ("is not a file or folder, and there is " if looked else "there is ")
                + f"no model {repo_id!r} on the Hub at {where} (or it is private)",
                target=target,
                fix="check the path or the id; for a private repository set HF_TOKEN",
            ) from None
        except hub_errors.HfHubHTTPError as e:
            status = e.response.status_code
            if status not in _RETRY_STATUS or attempt == transfer.limits.remote_attempts:
                raise _status_error(status, target, hub=True, attempts=attempt) from None
            _sleep(attempt, e.response.headers.get("retry-after"))
        except (http.ConnectError, hub_errors.OfflineModeIsEnabled) as e:
            return from_cache(
                f"cannot reach the Hub at {where} ({_reason(e)}), and no cache has {repo_id}@{revision}",
                "check the network, or download the model first",
            )
        except http.TimeoutException:
            if attempt == transfer.limits.remote_attempts:
                raise TargetError(
                    f"the Hub timed out {attempt} times", target=target, fix="check the network and try again"
                ) from None
            _sleep(attempt, None)
    assert info is not None
    files = {s.rfilename: int(s.size or 0) for s in info.siblings or ()}
    total = getattr(info.safetensors, "total", None) if info.safetensors is not None else None
    listing = HubRepo(where, repo_id, revision, str(info.sha), files, total if isinstance(total, int) else None)
    if cache:
        _save_listing(key, listing)
        _save_listing(_key("listing", where, repo_id, listing.commit), listing)
    return listing


def hub_folder(repo: HubRepo, transfer: Transfer, *, cache: bool, subfolder: str = "") -> RemoteFolder:
    """The repository's files at its commit, read by range through huggingface_hub's session and token."""
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, re-exported lazily

    headers = build_hf_headers(library_name="paramcount", library_version=_version())
    client = get_session()

    def opener(path: str, size: int) -> RemoteBlob:
        url = hf_hub_url(repo.repo_id, path, revision=repo.commit, endpoint=repo.endpoint)
        name = f"hf://{repo.repo_id}/{path}"
        http = Http(url, name, client=client, headers=headers, transfer=transfer, hub=True)
        key = _key("file", repo.endpoint, repo.repo_id, repo.commit, path)
        transfer.file_done()
        return _cached_blob(name, size, http.fetch, key if cache else None, transfer)

    folder = RemoteFolder(f"hf://{repo.repo_id}", repo.files, opener)
    return folder.sub(subfolder) if subfolder else folder


def _version() -> str:
    from paramcount import __version__

    return __version__


# --- URLs and stores -----------------------------------------------------------------------------------------------


def url_blob(url: str, transfer: Transfer) -> RemoteBlob:
    """A file at an ``http(s)://`` URL; its first read tells its size."""
    name = url.split("?", 1)[0].split("#", 1)[0]  # a signed URL's query is a credential
    http = Http(url, name, client=_plain_client(), headers={}, transfer=transfer)
    first = http.fetch(0, FIRST_READ)
    size = first.size if first.size is not None else len(first.data)
    return RemoteBlob(name, size, http.fetch, [first])


class UrlFolder(RemoteFolder):
    """The files beside a URL (an index's shards), found by asking for them: an HTTP server lists nothing."""

    def __init__(self, base: str, transfer: Transfer) -> None:
        super().__init__(base, {}, lambda path, size: url_blob(f"{base}/{path}", transfer))
        self._missing: set[str] = set()

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.files))

    def is_file(self, relative: str) -> bool:
        full = self._full(relative)
        if full is None or full in self._missing:
            return False
        if full in self.files:
            return True
        try:
            blob = self._opener(full, 0)
        except TargetError as e:
            if "HTTP 404" in e.problem:
                self._missing.add(full)
                return False
            raise
        with self._lock:
            self._blobs[full] = blob
            self.files[full] = blob.size
        return True

    def open(self, relative: str) -> Blob:
        if not self.is_file(relative):
            raise TargetError(f"has no file {quote(relative)} (HTTP 404)", target=self.name, fix="check the URL")
        return super().open(relative)


def url_folder(url: str, transfer: Transfer) -> tuple[UrlFolder, str]:
    """The folder of an ``http(s)://`` URL and the file's name in it; the file is fetched first."""
    # a query signs the named file only; the files beside it are asked for without it
    path = url.split("#", 1)[0].split("?", 1)[0]
    base, name = path.rsplit("/", 1)
    folder = UrlFolder(base, transfer)
    blob = url_blob(url, transfer)
    folder.files[name] = blob.size
    folder._blobs[name] = blob
    return folder, name


def fsspec_folder(url: str, transfer: Transfer) -> tuple[RemoteFolder, str | None]:
    """An fsspec URL (``s3://bucket/key``): the folder it names, or its parent folder and the file's name."""
    try:
        import fsspec
    except ImportError:
        raise TargetError(
            f"counting a {url.split(':', 1)[0]}:// URL needs fsspec", target=url, fix="pip install 'paramcount[s3]'"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as e:  # a known protocol whose library is missing (s3fs for s3://)
        raise TargetError(
            f"cannot open this kind of URL ({_reason(e)})", target=url, fix="pip install 'paramcount[s3]'"
        ) from None
    except ValueError as e:  # a protocol fsspec does not know: a typo in the scheme
        raise TargetError(
            f"cannot open this kind of URL ({_reason(e)})",
            target=url,
            fix="check the scheme: hf://, https://, s3:// or another fsspec protocol",
        ) from None
    protocol = url.split("://", 1)[0]

    def call(what: Callable[[], Any]) -> Any:
        transfer.request()
        try:
            return what()
        except FileNotFoundError:
            raise TargetError("not found", target=url, fix="check the bucket and the key") from None
        except PermissionError as e:
            raise TargetError(f"access refused ({_reason(e)})", target=url, fix="check the credentials") from None
        except OSError as e:
            raise TargetError(f"cannot read ({_reason(e)})", target=url, fix="check the URL and the store") from None

    info = call(lambda: fs.info(path))
    if info.get("type") == "directory":
        root, single = path.rstrip("/"), None
    else:
        root, single = path.rsplit("/", 1) if "/" in path else ("", path)
    listing = call(lambda: fs.find(root, detail=True)) if single is None else {path: info}
    files = {}
    for full, detail in listing.items():
        if detail.get("type", "file") == "file":
            files[full[len(root) + 1 :] if root else full] = int(detail.get("size") or 0)

    def opener(relative: str, size: int) -> RemoteBlob:
        full = f"{root}/{relative}" if root else relative
        name = f"{protocol}://{full}"

        def fetch(start: int, end: int) -> Part:
            data = call(lambda: fs.cat_file(full, start=start, end=end))
            transfer.received(len(data), name)
            return Part(start, bytes(data), None)

        transfer.file_done()
        return RemoteBlob(name, size, fetch)

    return RemoteFolder(f"{protocol}://{root}", files, opener), single


# --- paramcount's header cache ------------------------------------------------------------------------------------

_MAGIC = b"PCHEAD01"


def cache_dir() -> str:
    """Where fetched header bytes are kept: ``PARAMCOUNT_CACHE``, else ``$XDG_CACHE_HOME/paramcount``."""
    explicit = os.environ.get("PARAMCOUNT_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "paramcount", "remote")


def _key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _cached_blob(
    name: str, size: int, fetch: Callable[[int, int], Part], key: str | None, transfer: Transfer
) -> RemoteBlob:
    parts = _merged(_load_parts(key, size)) if key is not None else []
    transfer.cached(sum(len(p.data) for p in parts))
    first = size if name.endswith(".json") and size <= WHOLE_JSON else FIRST_READ
    return RemoteBlob(name, size, fetch, parts, cache_key=key, first=max(first, 1))


def _merged(parts: Iterable[Part]) -> list[Part]:
    """Ranges sorted, with touching or overlapping ones joined, so that a read across two of them is served."""
    out: list[Part] = []
    for part in sorted(parts, key=lambda p: p.start):
        if out and part.start <= out[-1].start + len(out[-1].data):
            last = out[-1]
            tail = part.data[last.start + len(last.data) - part.start :]
            out[-1] = Part(last.start, last.data + tail, None)
        else:
            out.append(part)
    return out


def save(folder_blobs: Iterable[RemoteBlob]) -> None:
    """Write each blob's newly fetched ranges to the header cache (best effort: a cache is never an error)."""
    for blob in folder_blobs:
        if blob.cache_key is None or not blob.new:
            continue
        _store_parts(blob.cache_key, blob.size, _merged([*_load_parts(blob.cache_key, blob.size), *blob.new]))


def _load_parts(key: str, size: int) -> Iterator[Part]:
    """Ranges cached for ``key``; a damaged or foreign cache file yields nothing (it is only a cache)."""
    path = os.path.join(cache_dir(), key[:2], key)
    try:
        with open(path, "rb") as f:
            raw = f.read(256 * 2**20 + 1)
    except OSError:
        return
    if len(raw) < 16 or raw[:8] != _MAGIC:
        return
    (head_size,) = struct.unpack("<Q", raw[8:16])
    try:
        head = json.loads(raw[16 : 16 + head_size])
        if head["size"] != size:
            return
        offset = 16 + head_size
        ranges = [(int(a), int(b)) for a, b in head["parts"]]
    except (ValueError, KeyError, TypeError):
        return
    for start, length in ranges:
        data = raw[offset : offset + length]
        if len(data) != length or start < 0 or start + length > size:
            return
        offset += length
        yield Part(start, data, None)


def _store_parts(key: str, size: int, parts: list[Part]) -> None:
    head = json.dumps({"size": size, "parts": [[p.start, len(p.data)] for p in parts]}).encode()
    path = os.path.join(cache_dir(), key[:2], key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "wb") as f:
            f.write(_MAGIC + struct.pack("<Q", len(head)) + head)
            for p in parts:
                f.write(p.data)
        os.replace(temporary, path)
    except OSError:
        pass


def _load_listing(key: str) -> HubRepo | None:
    path = os.path.join(cache_dir(), key[:2], key + ".json")
    try:
        with open(path, "rb") as f:
            document = json.loads(f.read(64 * 2**20))
        repo = HubRepo(
            str(document["endpoint"]),
            str(document["repo_id"]),
            str(document["revision"]),
            str(document["commit"]),
            {str(k): int(v) for k, v in document["files"].items()},
            document["hub_parameters"] if isinstance(document["hub_parameters"], int) else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return repo if COMMIT.fullmatch(repo.commit) else None


def _save_listing(key: str, repo: HubRepo) -> None:
    path = os.path.join(cache_dir(), key[:2], key + ".json")
    document = {field: getattr(repo, field) for field in HubRepo._fields if field != "cached"}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(document, f)
        os.replace(temporary, path)
    except OSError:
        pass
