"""Loopback stand-ins for the two sources of a remote model: a TF Hub that refuses (as tfhub.dev does for
some models since its move to Kaggle) and the Kaggle Models API that kagglehub 0.3.13 talks to.

kagglehub's model download (kagglehub/http_resolver.py, ModelHttpResolver; kagglehub/clients.py,
KaggleApiV1Client) makes these requests under KAGGLE_API_ENDPOINT, all GETs:

- `/api/v1/models/O/M/F/V/get` -> `{"versionNumber": N}` (only for a handle without a version);
- `/api/v1/models/O/M/F/V/N/files?page_size=25` -> `{"files": [{"name": ...}], "nextPageToken": ""}`;
- `/api/v1/models/O/M/F/V/N/download/FILE` for each file when there are at most 25 of them, else
  `/api/v1/models/O/M/F/V/N/download` for one archive (tar or zip) of the whole version.

The stand-in answers exactly these from real SavedModel folders, per file or as one archive.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

API = "/api/v1/models/"


class _Recording(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: list[str] = []
        self._lock = threading.Lock()

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def host(self) -> str:
        """127.0.0.1:PORT, the form TFHUB_HOSTS takes."""
        return f"127.0.0.1:{self.server_address[1]}"

    def start(self):
        threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: _Recording

    def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        pass


class _RefusingHandler(_Handler):
    server: RefusingHub

    def do_GET(self) -> None:
        self.server.record(self.path)
        self.send(self.server.status, b"Forbidden\n" if self.server.status == 403 else b"Not Found\n", "text/plain")


class RefusingHub(_Recording):
    """A TF Hub stand-in that answers every download with `status` (403 like tfhub.dev for some models, or 404)."""

    def __init__(self, status: int = 403):
        super().__init__(_RefusingHandler)
        self.status = status


class _KaggleHandler(_Handler):
    server: KaggleStandIn

    def do_GET(self) -> None:
        self.server.record(self.path)
        url = urlsplit(self.path)
        path = unquote(url.path)
        if self.server.refuse is not None or not path.startswith(API):
            status = self.server.refuse or 404
            self.send(status, json.dumps({"message": f"stand-in refuses {path}", "code": status}).encode())
            return
        parts = path[len(API) :].split("/")
        if len(parts) == 5 and parts[4] == "get":
            versions = [int(h.rsplit("/", 1)[1]) for h in self.server.models if h.startswith("/".join(parts[:4]) + "/")]
            return self._json({"versionNumber": max(versions)} if versions else None)
        handle = "/".join(parts[:5])
        folder = self.server.models.get(handle)
        if folder is None or len(parts) < 6:
            return self._json(None)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if parts[5] == "files":
            token = "more" if self.server.archive else ""
            return self._json({"files": [{"name": f} for f in files], "nextPageToken": token})
        if parts[5] == "download" and len(parts) == 6:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(str(folder), arcname=".")
            return self.send(200, buffer.getvalue(), "application/x-tar")
        if parts[5] == "download":
            name = "/".join(parts[6:])
            if name in files:
                return self.send(200, (folder / name).read_bytes(), "application/octet-stream")
        return self._json(None)

    def _json(self, data: object) -> None:
        if data is None:
            self.send(404, json.dumps({"message": f"no such model: {self.path}", "code": 404}).encode())
        else:
            self.send(200, json.dumps(data).encode())


class KaggleStandIn(_Recording):
    """The Kaggle Models API for kagglehub: `models` maps a versioned Kaggle handle to a SavedModel folder.

    `archive=True` answers the file list as if it had more than one page, so kagglehub downloads one
    archive; `refuse=403` (or 404) refuses every request.
    """

    def __init__(self, models: dict[str, Path], archive: bool = False, refuse: int | None = None):
        super().__init__(_KaggleHandler)
        self.models = models
        self.archive = archive
        self.refuse = refuse
