"""TARGET strings -> what they name, in one documented order.

1. **An existing path** (a file or a folder) always wins: ``./gpt2`` is the folder even if a Hub id reads the same.
2. **Code**: ``package.module:callable(args)`` or ``package.module:attribute``.
3. **A URL**: ``hf://org/name[@revision][/path]`` (the Hub), ``https://`` or ``http://`` (any server with range
   requests), or another fsspec protocol (``s3://bucket/key``). Read remotely (:mod:`paramcount.remote`).
4. **A Hugging Face id**, ``org/name`` or ``name``, with an optional ``@revision`` (a branch, a tag or a commit):
   first the local Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``):
   ``models--org--name/refs/<revision>`` holds a commit, whose snapshot folder is counted like any model folder
   when it holds weights. Otherwise the Hub (``HF_ENDPOINT``), header bytes only; with ``HF_HUB_OFFLINE=1`` a
   snapshot without weights is counted from its config, and a missing id says where it looked.

A cache is a folder of links a user did not write by hand; it is checked like a file: a ref must hold a commit
hash, and a snapshot's links must stay inside its repository's ``blobs/`` (:func:`paramcount.blob.confined`).
"""

from __future__ import annotations

import json
import os
import re

from paramcount._typing import NamedTuple
from paramcount.errors import FormatError, TargetError, quote
from paramcount.sources import looks_like_spec

__all__ = [
    "Remote",
    "Resolved",
    "cache_folder",
    "looks_like_hub_id",
    "names_hub_model",
    "resolve",
]

# huggingface_hub's rule for repo ids: letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters
_ID_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
# patterns as text, compiled (and cached by re) on first use: a local count needs none of them
_HUB_ID = rf"(?:(?P<org>{_ID_PART})/)?(?P<name>{_ID_PART})(?:@(?P<revision>[A-Za-z0-9._/-]{{1,200}}))?"


class Remote(NamedTuple):
    """A remote target: ``kind`` is ``"hub"``, ``"url"`` or an fsspec protocol (``"s3"``).

    Attributes:
        url: the URL as given (for the Hub, ``hf://org/name``).
        repo: the Hub repository id.
        revision: the Hub revision asked for (``"main"`` when none is given).
        path: for the Hub, a file or folder inside the repository (``hf://org/name/unet``), else ``""``.
    """

    kind: str
    url: str
    repo: str | None = None
    revision: str | None = None
    path: str = ""


class Resolved(NamedTuple):
    """What a TARGET names: ``kind`` is ``"path"``, ``"spec"``, ``"hub"`` (a snapshot in the local cache) or
    ``"remote"``; ``path`` is the local path to count (for a cached Hub id, its snapshot folder); ``remote`` the
    remote target; ``note`` says how it was found."""

    kind: str
    path: str
    note: str = ""
    remote: Remote | None = None


def looks_like_hub_id(text: str) -> bool:
    """Whether ``text`` is shaped like ``org/name[@revision]`` (and is not a relative path to something).

    >>> looks_like_hub_id("meta-llama/Llama-2-7b-hf"), looks_like_hub_id("gpt2@main"), looks_like_hub_id("a/b/c")
    (True, True, False)
    """
    match = re.fullmatch(_HUB_ID, text)
    return match is not None and "--" not in text.split("@", maxsplit=1)[0] and ".." not in text


def names_hub_model(target: str) -> bool:
    """Whether a target that is no path, code or URL is taken for a Hub model id: shaped like one, and not named
    like a weights file (``org/model.safetensors`` is a missing file)."""
    return looks_like_hub_id(target) and not target.endswith(_FILE_SUFFIXES)


def resolve(target: str) -> Resolved:
    """What ``target`` names, in the documented order: an existing path, code, a URL, then a Hugging Face id
    (``org/name`` where no folder ``org`` is here: beside one, it is a missing path).

    Nothing here touches the network: a remote target is only recognised.

    Raises:
        TargetError: an id that is neither cached nor reachable (offline: the message says where it looked), or a
            broken cache; a malformed ``hf://`` URL.
        FormatError: a cache whose ref or links are not what huggingface_hub writes.
    """
    if os.path.lexists(target):
        return Resolved("path", target)
    if looks_like_spec(target.strip()):
        return Resolved("spec", target)
    scheme = re.match(_SCHEME, target)
    if scheme:
        protocol = scheme[1].lower()
        if protocol == "hf":
            return Resolved("remote", target, remote=_hf_url(target))
        kind = "url" if protocol in ("http", "https") else protocol
        return Resolved("remote", target, remote=Remote(kind, target))
    if names_hub_model(target):
        if "/" in target and os.path.isdir(target.split("/", 1)[0]):
            # a path whose folder is here (a typo of "ck/llama_st"), not a Hub id: "no such file or folder", with
            # the nearest name and the hf:// URL for the Hub model
            return Resolved("path", target)
        match = re.fullmatch(_HUB_ID, target)
        assert match is not None
        org, name, revision = match["org"], match["name"], match["revision"] or "main"
        repo_id = f"{org}/{name}" if org else name
        remote = Remote("hub", f"hf://{repo_id}", repo_id, revision)
        from paramcount.remote import hub_offline  # the Hub's environment: read for an id only

        try:
            path = cache_folder(repo_id, revision, target)
        except TargetError as e:  # the Hub next; offline, paramcount's own cache of its headers
            return Resolved("remote", target, note=f"not in the local Hugging Face cache: {e.problem}", remote=remote)
        if _holds_weights(path) or hub_offline():
            return Resolved("hub", path, f"{repo_id}@{revision} from the local Hugging Face cache: {path}")
        return Resolved("remote", target, remote=remote)
    return Resolved("path", target)


_SCHEME = r"([A-Za-z][A-Za-z0-9+.-]{1,15})://"
_HF_URL = (
    rf"hf://(?:models/)?(?P<repo>{_ID_PART}(?:/{_ID_PART})?)(?:@(?P<revision>[A-Za-z0-9._-]{{1,200}}))?"
    r"(?:/(?P<path>.*))?"
)


def _hf_url(target: str) -> Remote:
    """``hf://org/name[@revision][/path]`` as huggingface_hub's file system spells it."""
    match = re.fullmatch(_HF_URL, target)
    path_parts = (match["path"] or "").split("/") if match is not None else []
    # an '@' that ends a name (hf://org/name@ or hf://org/name@/x) is an empty revision, not part of a file's path
    empty_revision = any(part.endswith("@") for part in [*(match["repo"].split("/") if match else []), *path_parts])
    if match is None or "--" in match["repo"] or ".." in path_parts or empty_revision:
        raise TargetError(
            "is not a Hub URL paramcount understands",
            target=target,
            fix="write hf://org/name, hf://org/name@revision or hf://org/name/path/in/repo",
        )
    repo = match["repo"]
    return Remote("hub", f"hf://{repo}", repo, match["revision"] or "main", (match["path"] or "").strip("/"))


# What makes a cached snapshot worth counting without the Hub: weights (all the shards its index names), or a
# pipeline or an adapter. A snapshot with only config.json (from AutoConfig) or only an index (from
# huggingface_hub.get_safetensors_metadata) is asked of the Hub instead.
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".metadata")
_WHOLE = ("model_index.json", "adapter_config.json")


def _holds_weights(snapshot: str) -> bool:
    try:
        names = set(os.listdir(snapshot))
    except OSError:
        return False
    if any(name in names for name in _WHOLE):
        return True
    if not any(name.endswith(_WEIGHTS) for name in names):
        return False
    for index in (name for name in names if name.endswith(".index.json")):
        try:
            with open(os.path.join(snapshot, index), "rb") as f:
                weight_map = json.loads(f.read(64 * 2**20)).get("weight_map", {})
            shards = {str(shard) for shard in weight_map.values()}
        except (OSError, ValueError, AttributeError):
            continue  # the reader will say what is wrong with it
        if not all(os.path.exists(os.path.join(snapshot, shard)) for shard in shards):
            return False
    return True


# A TARGET ending like a file is a path with a typo, not a Hub id ("model.safetensors" must say "no such file").
_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".json", ".npz", ".npy", ".pkl")


def _hub_cache() -> str:
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if cache:
        return cache
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return os.path.join(home, "hub")


def cache_folder(repo_id: str, revision: str, target: str) -> str:
    """The snapshot folder of ``repo_id`` at ``revision`` in the local cache.

    Raises:
        TargetError: the repository or revision is not cached.
        FormatError: the ref does not hold a commit hash, or the snapshot leads outside the cache.
    """
    from paramcount.remote import COMMIT

    cache = _hub_cache()
    repo = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    if not os.path.isdir(repo):
        raise TargetError(
            f"is not a file or folder, and the local Hugging Face cache has no model {repo_id!r} (looked in {repo})",
            target=target,
            fix=f"download it first (huggingface-cli download {repo_id}), or set HF_HUB_CACHE or HF_HOME",
        )
    if COMMIT.fullmatch(revision):
        commit = revision
    else:
        ref = os.path.join(repo, "refs", revision)
        if not os.path.isfile(ref):
            raise TargetError(
                f"the local Hugging Face cache has {repo_id!r} but no revision {revision!r} (no {ref})",
                target=target,
                fix=f"download that revision, or name one under {os.path.join(repo, 'refs')}",
            )
        with open(ref, "rb") as f:
            raw = f.read(200)
        commit = raw.decode("ascii", "replace").strip()
        if not COMMIT.fullmatch(commit):
            raise FormatError(
                f"the cache's ref {revision!r} holds {quote(raw, 60)}, not a 40-character commit hash",
                target=ref,
                rule="hub-cache-ref",
                fix=f"download {repo_id} again to repair the cache",
            )
    snapshot = os.path.join(repo, "snapshots", commit)
    if not os.path.isdir(snapshot):
        raise TargetError(
            f"the local Hugging Face cache has no snapshot {commit} of {repo_id!r} (no {snapshot})",
            target=target,
            fix=f"download {repo_id} again to repair the cache",
        )
    real_repo = os.path.realpath(repo)
    if os.path.commonpath([real_repo, os.path.realpath(snapshot)]) != real_repo:
        raise FormatError(
            f"the snapshot folder leads to {quote(os.path.realpath(snapshot))}, outside the cache's repository",
            target=snapshot,
            rule="hub-cache-link",
            fix=f"download {repo_id} again to repair the cache",
        )
    return snapshot
