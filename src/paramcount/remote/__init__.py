"""Remote byte sources: files on the Hugging Face Hub, at an HTTP(S) URL or in an fsspec store, read by range.

Every reader already reads only headers through a :class:`paramcount.blob.Blob`; a
:class:`paramcount.remote.blob.RemoteBlob` is one whose bytes come from range requests. The package sits below
:mod:`paramcount.sources` (which decides what the bytes hold) and imports nothing above it. Its modules, bottom up:

- :mod:`~paramcount.remote.blob`: a count's :class:`~paramcount.remote.blob.Transfer` (requests and bytes, checked
  against ``--limit remote-bytes``), range-read blobs and folders, prefetching shards concurrently;
- :mod:`~paramcount.remote.http`: one HTTP client for URLs and one retry loop (429, 5xx, timeouts, dropped
  connections; exponential back-off honouring ``Retry-After``) that range reads and the Hub listing share; a failure
  is one :class:`paramcount.errors.TargetError` line (exit 3) naming the file and carrying the HTTP status;
- :mod:`~paramcount.remote.cache`: paramcount's on-disk cache of fetched header bytes and Hub listings;
- :mod:`~paramcount.remote.hub`: the Hub through huggingface_hub (its endpoint, token, revisions and HTTP session;
  the token is sent only to the Hub and never printed);
- :mod:`~paramcount.remote.stores`: ``http(s)://`` URLs (no credentials) and fsspec stores (``s3://``).

This module holds only the Hub's environment, which the resolver reads for every target: importing it costs nothing
else. Nothing here imports torch; huggingface_hub and fsspec are imported only when a remote target is counted.
"""

from __future__ import annotations

import os
import re

__all__ = ["COMMIT", "endpoint", "hub_offline"]

#: a commit hash, as Hub refs and revisions spell it
COMMIT = re.compile(r"[0-9a-f]{40}")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for no network (read when called, as huggingface_hub reads it at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def endpoint() -> str:
    """The Hub's address: ``HF_ENDPOINT``, else huggingface.co (read when called, so tests may point it anywhere)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
