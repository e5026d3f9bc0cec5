"""HTTP range requests with one retry loop, shared by file reads and the Hub listing.

Retries (429, 5xx, timeouts, dropped connections) back off exponentially and honour ``Retry-After``; every other
failure is one :class:`paramcount.errors.TargetError` line (exit 3) naming the file, whose ``status`` is the HTTP
status when the server gave one. The HTTP library is the one huggingface_hub uses (httpx, or its successor httpx2),
imported on first use.
"""

from __future__ import annotations

import re
import threading
import time

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, quote
from paramcount.remote import hub_offline
from paramcount.remote.blob import Part

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from paramcount.limits import Limits
    from paramcount.remote.blob import Transfer

    T = TypeVar("T")

__all__ = ["BACKOFF", "Http", "StatusError", "httpx", "plain_client", "reason", "retrying", "status_error"]

#: seconds before the first retry; doubled after each, at most :data:`MAX_BACKOFF`
BACKOFF = 0.5
MAX_BACKOFF = 8.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def httpx() -> Any:
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


def plain_client() -> Any:
    """An HTTP client for URLs that are not the Hub: redirects followed, no credentials, no Hub hooks."""
    with _PLAIN_LOCK:
        if not _PLAIN:
            http = httpx()
            _PLAIN.append(http.Client(follow_redirects=True, max_redirects=10, headers={"user-agent": _agent()}))
        return _PLAIN[0]


def _agent() -> str:
    from paramcount._version import __version__

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
        return retrying(lambda: self._once(start, end), self.name, self.transfer.limits, hub=self.hub)

    def _once(self, start: int, end: int) -> Part:
        http = httpx()
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
            raise StatusError(status, response.headers.get("retry-after"))

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


class StatusError(Exception):
    """An HTTP status a call inside :func:`retrying` got: the loop retries it, or turns it into a TargetError."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


def retrying(call: Callable[[], T], name: str, limits: Limits, *, hub: bool, timeout: str = "") -> T:
    """``call()`` retried on 429, 5xx, timeouts and dropped connections; each failure mapped to one error line.

    The one retry loop of paramcount: range reads and the Hub listing both go through it. ``call`` raises
    :class:`StatusError` for an HTTP status, or the HTTP library's own exceptions; anything else passes through.

    Args:
        name: what the error line names (a file, or the target for a listing).
        hub: whether the call is to the Hub (for the hints on 401/403/429).
        timeout: the problem a last timeout reports, when not the per-request limit (the listing's own words).
    """
    http = httpx()
    attempts = limits.remote_attempts
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except StatusError as e:
            if e.status not in _RETRY_STATUS or attempt == attempts:
                raise status_error(e.status, name, hub=hub, attempts=attempt) from None
            _sleep(attempt, e.retry_after)
        except getattr(http, "InvalidURL", ()) as e:
            raise TargetError(f"is not a valid URL ({reason(e)})", target=name, fix="check the URL") from None
        except http.TooManyRedirects:
            raise TargetError(
                "redirects in a loop (or more than 10 times)", target=name, fix="check the URL and the server"
            ) from None
        except (http.TimeoutException, http.RemoteProtocolError, http.ReadError) as e:
            # a timeout (a connect timeout included) or a connection dropped mid-answer: worth another try
            if attempt == attempts:
                if isinstance(e, http.TimeoutException):
                    raise TargetError(
                        timeout or f"timed out {attempts} times (limit {limits.remote_timeout} s per request)",
                        target=name,
                        fix="check the network, or raise --limit remote-timeout=SECONDS (limits={'remote_timeout': "
                        "SECONDS} in Python)",
                    ) from None
                raise TargetError(
                    f"the connection broke mid-answer {attempts} times ({reason(e)}): the body was truncated",
                    target=name,
                    fix="try again later",
                ) from None
            _sleep(attempt, None)
        except http.ConnectError as e:
            # DNS and TLS failures are not going to heal in a second: no retry
            raise TargetError(
                f"cannot connect ({reason(e)})",
                target=name,
                fix="check the address and the network (HF_HUB_OFFLINE=1 counts from the local cache)",
            ) from None
        except http.HTTPError as e:
            raise TargetError(f"HTTP failure ({reason(e)})", target=name, fix="check the URL") from None
    raise AssertionError("unreachable")


def reason(error: BaseException) -> str:
    """The first line of an exception's message, quoted and bounded, for an error line."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return quote(text, 160)[1:-1]


def _sleep(attempt: int, retry_after: str | None) -> None:
    wait = min(BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF)
    if retry_after is not None and retry_after.strip().isascii() and retry_after.strip().isdigit():
        wait = min(max(wait, float(retry_after)), 4 * MAX_BACKOFF)
    time.sleep(wait)


def status_error(status: int, name: str, *, hub: bool, attempts: int) -> TargetError:
    """The error line for an HTTP status, carrying the status as data (``error.status``)."""
    if status in (401, 403):
        if hub:
            return TargetError(
                f"access refused (HTTP {status}): the repository is gated or private",
                target=name,
                status=status,
                fix="accept its license on the Hub with your account, then set HF_TOKEN (or huggingface-cli login)",
            )
        return TargetError(
            f"access refused (HTTP {status})", target=name, fix="check the URL and its credentials", status=status
        )
    if status == 404:
        return TargetError(
            "not found (HTTP 404)", target=name, fix="check the name, the revision and the file", status=status
        )
    if status == 429:
        return TargetError(
            f"rate limited (HTTP 429) {attempts} times in a row",
            target=name,
            status=status,
            fix="wait and try again" + (" (HF_TOKEN raises the Hub's rate limit)" if hub else ""),
        )
    if status >= 500:
        return TargetError(
            f"the server failed (HTTP {status}) {attempts} times in a row",
            target=name,
            fix="try again later",
            status=status,
        )
    return TargetError(f"answered HTTP {status}", target=name, fix="check the URL", status=status)
