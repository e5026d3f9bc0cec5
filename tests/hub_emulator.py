"""A local stand-in for the Hugging Face Hub, and for a plain range-capable file server, on 127.0.0.1.

It speaks what huggingface_hub's client asks of the Hub: ``GET /api/models/{repo}[/revision/{rev}]`` (the listing,
with ``sha``, ``siblings`` and sizes, ``gated`` and the ``safetensors`` parameter metadata), and ``HEAD``/``GET
/{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``, ``X-Linked-Size`` and, for large files, a 302 to
``/storage/...`` as the Hub redirects to its storage backend. Every file answers ``Range`` with 206 and
``Content-Range``. Gated repositories refuse files without the right token (401, ``X-Error-Code: GatedRepo``).

Repositories are folders on disk (sparse files welcome). A repository can be told to misbehave (``Repo.mode``):
ignore ``Range``, lie in ``Content-Length``, truncate bodies, redirect in a loop, rate-limit, fail with 500, stall.
The emulator counts requests and body bytes sent, and can add latency to every request, so benchmarks and tests
measure what a client really asked for.

Plain files (``/files/{path}``) are served from ``files_root`` with the same range support, for ``https://`` URL
targets (over plain HTTP here).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".distcp")


@dataclass
class Repo:
    """A repository the emulator serves: the files under ``folder`` at one commit."""

    folder: Path
    commit: str = ""
    gated: bool = False
    private: bool = False
    #: the Hub's ``safetensors`` metadata: {"parameters": {"BF16": n}, "total": n}, or None for none
    safetensors: dict[str, Any] | None = None
    #: "", "ignore-range", "lying-length", "truncate", "redirect-loop", "rate-limit", "error", "stall", "bad-range"
    mode: str = ""
    branches: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.commit:
            self.commit = hashlib.sha1(str(self.folder).encode()).hexdigest()
        self.branches.setdefault("main", self.commit)

    def files(self) -> dict[str, Path]:
        return {
            p.relative_to(self.folder).as_posix(): p
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and ".cache" not in p.parts
        }


class HubEmulator:
    """The server; use as a context manager. ``url`` is its address (``HF_ENDPOINT``)."""

    def __init__(self, *, latency: float = 0.0, token: str = "hf_emulator_token", files_root: Path | None = None):
        self.repos: dict[str, Repo] = {}
        self.latency = latency
        self.token = token
        self.files_root = files_root
        self.requests = 0
        self.bytes_sent = 0
        self.log: list[tuple[str, str, str, int]] = []  # (method, path, range, body bytes sent)
        self.authorizations: list[tuple[str, str]] = []  # (path, Authorization header)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        #: the same server under another host name, as the Hub's storage backend is another host
        self.storage_url = f"http://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, repo_id: str, repo: Repo) -> Repo:
        self.repos[repo_id] = repo
        return repo

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.bytes_sent = 0
            self.log.clear()
            self.authorizations.clear()

    def counted(self, method: str, path: str, range_header: str, sent: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_sent += sent
            self.log.append((method, path, range_header, sent))

    def file_bytes(self) -> int:
        """Body bytes sent for files (resolve and storage), not for API listings or errors."""
        with self._lock:
            return sum(sent for _, path, _, sent in self.log if not path.startswith("/api/"))


def _handler(hub: HubEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        # --- routing -------------------------------------------------------------------------------------------

        def _serve(self, *, head: bool) -> None:
            if hub.latency:
                time.sleep(hub.latency)
            path = unquote(urlsplit(self.path).path)
            hub.authorizations.append((path, self.headers.get("authorization", "")))
            match = re.fullmatch(r"/api/models/(.+?)(?:/revision/([^/]+))?", path)
            if match:
                self._listing(match[1], match[2] or "main", head)
                return
            match = re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path)
            if match and match[1] in hub.repos:
                self._resolve(match[1], match[2], match[3], head)
                return
            match = re.fullmatch(r"/storage/(.+?)/([0-9a-f]{40})/(.+)", path)
            if match and match[1] in hub.repos:
                repo = hub.repos[match[1]]
                file = repo.files().get(match[3])
                if file is None:
                    self._error(404, "EntryNotFound", head)
                    return
                self._file(file, head, repo.mode)
                return
            if path.startswith("/files/") and hub.files_root is not None:
                file = (hub.files_root / path[len("/files/") :]).resolve()
                if not file.is_file() or hub.files_root.resolve() not in file.parents:
                    self._error(404, "", head)
                    return
                self._file(file, head, "")
                return
            match = re.fullmatch(r"/(.+?)/resolve/.*", path)
            if match:
                self._error(404, "RepoNotFound", head)
                return
            self._error(404, "", head)
            return

        def _authorized(self, repo: Repo) -> bool:
            return self.headers.get("authorization", "") == f"Bearer {hub.token}"

        def _commit(self, repo_id: str, revision: str, head: bool, *, files: bool) -> str | None:
            """The commit ``revision`` names, or ``None`` once the refusal the Hub would give is answered (a gated
            repository lists its files to anyone and serves them only with a token)."""
            repo = hub.repos.get(repo_id)
            if repo is None or (repo.private and not self._authorized(repo)):
                self._error(401, "RepoNotFound", head, "Repository Not Found")
            elif files and repo.gated and not self._authorized(repo):
                message = f"Access to model {repo_id} is restricted. You must have access to it."
                self._error(401, "GatedRepo", head, message)
            elif repo.mode == "rate-limit":
                self._error(429, "", head, "Too Many Requests", retry_after="0")
            elif repo.mode == "error":
                self._error(500, "", head, "Internal Error")
            else:
                commit = repo.branches.get(revision, revision if revision == repo.commit else None)
                if commit is not None:
                    return commit
                self._error(404, "RevisionNotFound", head, "Invalid rev id")
            return None

        def _listing(self, repo_id: str, revision: str, head: bool) -> None:
            commit = self._commit(repo_id, revision, head, files=False)
            if commit is None:
                return
            repo = hub.repos[repo_id]
            siblings = []
            for name, file in repo.files().items():
                size = file.stat().st_size
                entry: dict[str, Any] = {"rfilename": name, "size": size, "blobId": _sha1(name)}
                if name.endswith(LFS_SUFFIXES):
                    digest = hashlib.sha256(name.encode()).hexdigest()
                    entry["lfs"] = {"sha256": digest, "size": size, "pointerSize": 134}
                siblings.append(entry)
            document: dict[str, Any] = {
                "_id": _sha1(repo_id)[:24],
                "id": repo_id,
                "modelId": repo_id,
                "sha": commit,
                "private": repo.private,
                "gated": "manual" if repo.gated else False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "lastModified": "2026-11-30T00:00:00.000Z",
                "createdAt": "2026-11-30T00:00:00.000Z",
            }
            if repo.safetensors is not None:
                document["safetensors"] = repo.safetensors
            self._json(200, document, head)

        def _resolve(self, repo_id: str, revision: str, name: str, head: bool) -> None:
            commit = self._commit(repo_id, revision, head, files=True)
            if commit is None:
                return
            repo = hub.repos[repo_id]
            file = repo.files().get(name)
            if file is None:
                self._error(404, "EntryNotFound", head, "Entry not found")
                return
            extra = {"X-Repo-Commit": commit, "ETag": f'"{_sha1(name)}"'}
            if repo.mode == "redirect-loop":
                self._redirect(self.path, extra, head)
                return
            if name.endswith(LFS_SUFFIXES):
                size = file.stat().st_size
                extra |= {"X-Linked-Size": str(size), "X-Linked-Etag": f'"{_sha1(name + "lfs")}"'}
                # to another host, as the Hub redirects to its storage: huggingface_hub stops at such a redirect to
                # read the file's metadata from it, and no client may carry the token there
                self._redirect(f"{hub.storage_url}/storage/{repo_id}/{commit}/{name}", extra, head)
                return
            self._file(file, head, repo.mode, extra)
            return

        # --- answers -------------------------------------------------------------------------------------------

        def _redirect(self, location: str, extra: dict[str, str], head: bool) -> None:
            self.send_response(302)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            hub.counted(self.command, self.path, "", 0)
            self.end_headers()

        def _json(self, status: int, document: Any, head: bool, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            hub.counted(self.command, self.path, "", 0 if head else len(body))
            if not head:
                self.wfile.write(body)

        def _error(
            self, status: int, code: str, head: bool, message: str = "not found", *, retry_after: str | None = None
        ) -> None:
            headers = {"X-Error-Code": code, "X-Error-Message": message} if code else {}
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            self._json(status, {"error": message}, head, headers)

        def _file(self, file: Path, head: bool, mode: str, extra: dict[str, str] | None = None) -> None:
            size = file.stat().st_size
            wanted = self.headers.get("range", "")
            if mode == "stall":
                time.sleep(5)
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            ranged = match is not None and mode != "ignore-range"
            start, end = 0, size - 1
            if ranged and match is not None:
                start = int(match[1])
                end = min(int(match[2]) if match[2] else size - 1, size - 1)
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    hub.counted(self.command, self.path, wanted, 0)
                    self.end_headers()
                    return
            length = max(0, end - start + 1)
            self.send_response(206 if ranged else 200)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            if ranged:
                shown = f"bytes {start}-{end}/{size}"
                if mode == "bad-range":
                    shown = f"bytes {start + 1}-{end}/{size}"
                self.send_header("Content-Range", shown)
            declared = length + 1000 if mode == "lying-length" else length
            self.send_header("Content-Length", str(declared))
            if head:
                hub.counted(self.command, self.path, wanted, 0)
                self.end_headers()
                return
            self.end_headers()
            sent = 0
            remaining = length if mode != "truncate" else length // 2
            hub.counted(self.command, self.path, wanted, remaining)  # before the client can see the answer
            with open(file, "rb") as f:
                f.seek(start)
                try:
                    while remaining > 0:
                        chunk = f.read(min(remaining, 1 << 20))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        remaining -= len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            if mode in ("truncate", "lying-length"):
                self.close_connection = True

    return Handler


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def hub_environment(hub: HubEmulator, cache: Path) -> dict[str, str]:
    """Environment variables that point huggingface_hub and paramcount at the emulator, with empty caches."""
    return {
        "HF_ENDPOINT": hub.url,
        "HF_HUB_CACHE": str(cache / "hf"),
        "HF_HOME": str(cache / "hf-home"),
        "PARAMCOUNT_CACHE": str(cache / "paramcount"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_XET": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def env_without_token() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
