"""Files at ``http(s)://`` URLs (asked for by name: an HTTP server lists nothing) and in fsspec stores (``s3://``)."""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, quote
from paramcount.remote.blob import FIRST_READ, Part, RemoteBlob, RemoteFolder
from paramcount.remote.http import Http, plain_client, reason

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from paramcount.blob import Blob
    from paramcount.remote.blob import Transfer

__all__ = ["fsspec_folder", "url_blob", "url_folder"]


def url_blob(url: str, transfer: Transfer) -> RemoteBlob:
    """A file at an ``http(s)://`` URL; its first read tells its size."""
    name = url.split("?", 1)[0].split("#", 1)[0]  # a signed URL's query is a credential
    http = Http(url, name, client=plain_client(), headers={}, transfer=transfer)
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
            if e.status == 404:
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
            f"cannot open this kind of URL ({reason(e)})", target=url, fix="pip install 'paramcount[s3]'"
        ) from None
    except ValueError as e:  # a protocol fsspec does not know: a typo in the scheme
        raise TargetError(
            f"cannot open this kind of URL ({reason(e)})",
            target=url,
            fix="check the scheme: hf://, https://, s3:// or another fsspec protocol",
        ) from None
    except Exception as e:  # the store's own client raises its own kinds: one line, never a traceback
        raise TargetError(
            f"cannot open this URL ({type(e).__name__}: {reason(e)})", target=url, fix="check the URL"
        ) from None
    protocol = url.split("://", 1)[0]

    def call(what: Callable[[], Any]) -> Any:
        transfer.request()
        try:
            return what()
        except FileNotFoundError:
            raise TargetError("not found", target=url, fix="check the bucket and the key") from None
        except PermissionError as e:
            raise TargetError(f"access refused ({reason(e)})", target=url, fix="check the credentials") from None
        except OSError as e:
            raise TargetError(f"cannot read ({reason(e)})", target=url, fix="check the URL and the store") from None
        except Exception as e:  # a store's client: botocore's NoCredentialsError, s3fs's ValueError...
            raise TargetError(
                f"cannot read ({type(e).__name__}: {reason(e)})",
                target=url,
                fix="check the URL, the store and its credentials",
            ) from None

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
