"""paramcount's header cache: the byte ranges a count fetched, and Hub listings at a commit, kept on disk.

A later count of the same commit reads them instead of the network (``--no-cache`` skips it). The cache is only a
cache: a damaged, foreign or unwritable file is ignored, never an error. Entries are written to a temporary file and
renamed, so concurrent counts never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading

from paramcount._typing import TYPE_CHECKING
from paramcount.remote.blob import FIRST_READ, WHOLE_JSON, Part, RemoteBlob

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    from paramcount.remote.blob import Transfer

__all__ = ["cache_dir", "cached_blob", "key", "load_document", "save", "save_document"]

_MAGIC = b"PCHEAD01"


def cache_dir() -> str:
    """Where fetched header bytes are kept: ``PARAMCOUNT_CACHE``, else ``$XDG_CACHE_HOME/paramcount``."""
    explicit = os.environ.get("PARAMCOUNT_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "paramcount", "remote")


def key(*parts: str) -> str:
    """The cache's name for an entry: a hash of what identifies it (endpoint, repository, commit, path)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def cached_blob(
    name: str, size: int, fetch: Callable[[int, int], Part], key: str | None, transfer: Transfer
) -> RemoteBlob:
    """A blob over ``fetch`` holding the ranges cached under ``key`` (none when ``key`` is ``None``)."""
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


def load_document(key: str) -> Any:
    """The JSON document kept for ``key`` (a Hub listing), or ``None`` when there is none or it is unreadable."""
    path = os.path.join(cache_dir(), key[:2], key + ".json")
    try:
        with open(path, "rb") as f:
            return json.loads(f.read(64 * 2**20))
    except (OSError, ValueError):
        return None


def save_document(key: str, document: dict[str, Any]) -> None:
    """Keep a JSON document for ``key`` (best effort: a cache is never an error)."""
    path = os.path.join(cache_dir(), key[:2], key + ".json")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(document, f)
        os.replace(temporary, path)
    except OSError:
        pass
