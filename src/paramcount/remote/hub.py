"""The Hugging Face Hub: a repository's listing at one commit, and its files read by range through huggingface_hub's
session, endpoint and token (sent only to the Hub, never printed)."""

from __future__ import annotations

from paramcount._typing import TYPE_CHECKING, NamedTuple
from paramcount._version import __version__
from paramcount.errors import TargetError
from paramcount.remote import COMMIT, endpoint, hub_offline
from paramcount.remote import cache as _cache
from paramcount.remote.blob import RemoteBlob, RemoteFolder
from paramcount.remote.http import Http, StatusError, httpx, reason, retrying

if TYPE_CHECKING:
    from typing import Any

    from paramcount.remote.blob import Transfer

__all__ = ["HubRepo", "hub_folder", "hub_listing"]


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


def hub_listing(
    repo_id: str, revision: str, target: str, transfer: Transfer, *, cache: bool, looked: str = ""
) -> HubRepo:
    """The repository's files at ``revision`` (one Hub API request; none for a cached commit).

    ``looked`` says where the local Hugging Face cache was searched, for the error when the Hub is out of reach.

    Raises:
        TargetError: gated, private or unknown repository, unknown revision, rate limits, network failure.
    """
    where = endpoint()
    key = _cache.key("listing", where, repo_id, revision)
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
    api = HfApi(endpoint=where)
    http = httpx()

    def ask() -> Any:
        transfer.request()
        try:
            return api.model_info(
                repo_id, revision=revision, files_metadata=True, timeout=float(transfer.limits.remote_timeout)
            )
        except hub_errors.GatedRepoError:
            raise StatusError(403, None) from None
        except hub_errors.RevisionNotFoundError:
            raise TargetError(
                f"the Hub has {repo_id} but no revision {revision!r}",
                target=target,
                fix="name a branch, tag or commit of the repository",
                status=404,
            ) from None
        except hub_errors.RepositoryNotFoundError:
            raise TargetError(
                ("is not a file or folder, and there is " if looked else "there is ")
                + f"no model {repo_id!r} on the Hub at {where} (or it is private)",
                target=target,
                fix="check the path or the id; for a private repository set HF_TOKEN",
                status=404,
            ) from None
        except hub_errors.HfHubHTTPError as e:
            raise StatusError(e.response.status_code, e.response.headers.get("retry-after")) from None
        except (http.ConnectError, hub_errors.OfflineModeIsEnabled) as e:
            raise _UnreachableError(e) from None

    try:
        info = retrying(
            ask,
            target,
            transfer.limits,
            hub=True,
            timeout=f"the Hub timed out {transfer.limits.remote_attempts} times",
        )
    except _UnreachableError as e:
        return from_cache(
            f"cannot reach the Hub at {where} ({reason(e.error)}), and no cache has {repo_id}@{revision}",
            "check the network, or download the model first",
        )
    files = {s.rfilename: int(s.size or 0) for s in info.siblings or ()}
    total = getattr(info.safetensors, "total", None) if info.safetensors is not None else None
    listing = HubRepo(where, repo_id, revision, str(info.sha), files, total if isinstance(total, int) else None)
    if cache:
        _save_listing(key, listing)
        _save_listing(_cache.key("listing", where, repo_id, listing.commit), listing)
    return listing


def hub_folder(repo: HubRepo, transfer: Transfer, *, cache: bool, subfolder: str = "") -> RemoteFolder:
    """The repository's files at its commit, read by range through huggingface_hub's session and token."""
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, re-exported lazily

    headers = build_hf_headers(library_name="paramcount", library_version=__version__)
    client = get_session()

    def opener(path: str, size: int) -> RemoteBlob:
        url = hf_hub_url(repo.repo_id, path, revision=repo.commit, endpoint=repo.endpoint)
        name = f"hf://{repo.repo_id}/{path}"
        http = Http(url, name, client=client, headers=headers, transfer=transfer, hub=True)
        key = _cache.key("file", repo.endpoint, repo.repo_id, repo.commit, path)
        transfer.file_done()
        return _cache.cached_blob(name, size, http.fetch, key if cache else None, transfer)

    folder = RemoteFolder(f"hf://{repo.repo_id}", repo.files, opener)
    return folder.sub(subfolder) if subfolder else folder


class _UnreachableError(Exception):
    """The Hub cannot be reached (no network, or huggingface_hub's offline mode): the listing uses the cache."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def _load_listing(key: str) -> HubRepo | None:
    document = _cache.load_document(key)
    if document is None:
        return None
    try:
        repo = HubRepo(
            str(document["endpoint"]),
            str(document["repo_id"]),
            str(document["revision"]),
            str(document["commit"]),
            {str(k): int(v) for k, v in document["files"].items()},
            document["hub_parameters"] if isinstance(document["hub_parameters"], int) else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return repo if COMMIT.fullmatch(repo.commit) else None


def _save_listing(key: str, repo: HubRepo) -> None:
    _cache.save_document(key, {field: getattr(repo, field) for field in HubRepo._fields if field != "cached"})
