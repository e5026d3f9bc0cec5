"""Remote targets -> records: a Hub repository, a URL or an object-store key, read header-only by range requests.

The remote side only opens bytes (:mod:`paramcount.remote`, the package below this one); what a folder or file holds
is decided by the same code as for local ones (:mod:`paramcount.sources.files`), so a repository counts exactly as
its download would. What reading it cost and where the numbers came from is the report's ``source``.
"""

from __future__ import annotations

import sys

from paramcount._typing import TYPE_CHECKING
from paramcount.errors import TargetError, quote
from paramcount.records import Source, unique_parameters
from paramcount.remote import cache as header_cache
from paramcount.remote import hub, stores
from paramcount.remote.blob import RemoteFolder, Transfer
from paramcount.sources import files

if TYPE_CHECKING:
    from paramcount.limits import Limits
    from paramcount.records import Inventory
    from paramcount.sources.resolve import Remote

__all__ = ["inventory"]


def inventory(
    remote: Remote,
    target: str,
    limits: Limits,
    *,
    architecture: str = "table",
    file: str | None = None,
    cache: bool = True,
    progress: bool = False,
    note: str = "",
) -> Inventory:
    """Records of a remote target, with a ``source`` saying where they came from and what they cost.

    Args:
        remote: the target, as :func:`paramcount.sources.resolve.resolve` recognised it.
        target: how the user named it.
        limits: the reading limits, ``remote_bytes``, ``remote_timeout`` and ``remote_attempts`` included.
        architecture: how a config.json decides tensor roles (as for folders).
        file: one file of a repository or folder to count alone (``--file``).
        cache: keep and reuse fetched header bytes (paramcount's cache); ``False`` for ``--no-cache``.
        progress: show a progress bar on stderr while several files are read.
        note: where a Hub id was looked for locally, for the error when the Hub cannot be reached either.
    """
    bar = _Progress(target) if progress else None
    transfer = Transfer(limits, progress=None if bar is None else bar.update)
    try:
        if remote.kind == "hub":
            return _hub(remote, target, limits, transfer, architecture=architecture, file=file, cache=cache, note=note)
        if remote.kind == "url":
            return _url(remote, target, limits, transfer, file=file)
        return _store(remote, target, limits, transfer, architecture=architecture, file=file)
    finally:
        if bar is not None:
            bar.close()


def _hub(
    remote: Remote,
    target: str,
    limits: Limits,
    transfer: Transfer,
    *,
    architecture: str,
    file: str | None,
    cache: bool,
    note: str,
) -> Inventory:
    assert remote.repo is not None
    assert remote.revision is not None
    repo = hub.hub_listing(remote.repo, remote.revision, target, transfer, cache=cache, looked=note)
    path = remote.path
    if path and path in repo.files:  # hf://org/name/model.safetensors: one file
        path, file = path.rsplit("/", 1) if "/" in path else ("", path)
    elif path and not any(f.startswith(path + "/") for f in repo.files):
        raise TargetError(
            f"has no file or folder {quote(path)} at {repo.commit[:12]}", target=target, fix="check the path"
        )
    folder = hub.hub_folder(repo, transfer, cache=cache, subfolder=path)
    try:
        found = _count(folder, target, limits, architecture, file)
    finally:
        if cache:
            header_cache.save(folder.blobs().values())
    read = tuple(sorted(name for name, blob in folder.blobs().items() if blob.touched))
    alternatives = tuple(n for n in _weight_sets(folder) if n not in read and not _is_part_of(n, read))
    hub_total = repo.hub_parameters
    warnings = found.warnings
    counted = unique_parameters(found.tensors)
    if hub_total is not None and hub_total != counted and not path and file is None:
        warnings = (
            *warnings,
            f"the Hub's metadata says {hub_total:,} parameters, paramcount counts {counted:,} (the Hub sums the "
            "shapes in safetensors headers: buffers, packed quantized weights and tied copies make them differ)",
        )
    notes = found.notes
    if repo.cached:
        notes = (*notes, "offline: the repository listing came from paramcount's cache, not the Hub")
    source = Source(
        kind="hub",
        url=f"{repo.endpoint}/{repo.repo_id}",
        repo=repo.repo_id,
        revision=repo.revision,
        commit=repo.commit,
        files=read,
        bytes_fetched=transfer.bytes,
        requests=transfer.requests,
        cached_bytes=transfer.cached_bytes,
        offline=repo.cached,
        hub_parameters=hub_total,
        alternatives=alternatives,
    )
    return found._replace(target=target, source=source, warnings=warnings, notes=notes)


def _url(remote: Remote, target: str, limits: Limits, transfer: Transfer, *, file: str | None) -> Inventory:
    if file is not None:
        raise TargetError("--file picks a file of a repository or folder, not of a URL", target=target, fix="drop it")
    folder, name = stores.url_folder(remote.url, transfer)
    found = files.remote_file(folder, name, target, limits)
    source = Source(
        kind="url",
        url=folder.name + "/" + name,
        files=tuple(sorted(n for n, blob in folder.blobs().items() if blob.touched)),
        bytes_fetched=transfer.bytes,
        requests=transfer.requests,
    )
    return found._replace(target=target, source=source)


def _store(
    remote: Remote, target: str, limits: Limits, transfer: Transfer, *, architecture: str, file: str | None
) -> Inventory:
    folder, single = stores.fsspec_folder(remote.url, transfer)
    if single is not None and file is not None:
        raise TargetError("--file picks a file of a folder, but this URL names a file", target=target, fix="drop it")
    found = _count(folder, target, limits, architecture, single or file)
    source = Source(
        kind=remote.kind,
        url=folder.name,
        files=tuple(sorted(n for n, blob in folder.blobs().items() if blob.touched)),
        bytes_fetched=transfer.bytes,
        requests=transfer.requests,
    )
    return found._replace(target=target, source=source)


def _count(folder: RemoteFolder, target: str, limits: Limits, architecture: str, file: str | None) -> Inventory:
    if file is not None:
        return files.remote_file(folder, file, target, limits)
    return files.remote_folder(folder, target, limits, architecture=architecture)


def _weight_sets(folder: RemoteFolder) -> list[str]:
    return [n for n in folder.names() if n in files.WEIGHT_SETS and folder.is_file(n)]


def _is_part_of(name: str, read: tuple[str, ...]) -> bool:
    return any(r.rsplit("/", 1)[-1] == name for r in read)


class _Progress:
    """A progress bar on stderr (tqdm when installed) while files are read; shown only on a terminal."""

    def __init__(self, target: str) -> None:
        self._bar = None
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(desc=f"reading {target}", unit=" file", file=sys.stderr, leave=False, total=None)

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
