"""Serving SavedModel folders over HTTP the way TF Hub does, so nodes can fetch a model from a machine of yours
(the library behind scripts/fetch_server.py).

`GET /<name>[/<anything>]?tf-hub-format=compressed` answers with a gzipped tar of the folder
`ROOT/<name>` (its contents at the archive's top level, as tfhub.dev serves them), so
`MODEL_HANDLE=http://HOST:PORT/<name>/1` works with tensorflow_hub's own download and cache code.
Used by the tests and the container smoke test on 127.0.0.1; also handy on a cluster without internet.

    python scripts/fetch_server.py MODELS_ROOT [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

COMPRESSED_QUERY = ("tf-hub-format", "compressed")


def model_archive(folder: Path) -> bytes:
    """A gzipped tar of `folder`'s contents (`./saved_model.pb`, `./variables/...`), like `tar czf - -C folder .`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(str(folder), arcname=".")
    return buffer.getvalue()


def find_model(root: Path, url_path: str) -> Path | None:
    """The SavedModel folder a URL path names: its longest leading part that is a folder with saved_model.pb.

    `/openimages-style/1` finds `ROOT/openimages-style` (trailing version parts need no folder).
    Parts that would leave the root (`..`, absolute) never match.
    """
    parts = [p for p in unquote(url_path).split("/") if p]
    if any(p in (".", "..") or "\\" in p for p in parts):
        return None
    for end in range(len(parts), 0, -1):
        candidate = root.joinpath(*parts[:end])
        if (candidate / "saved_model.pb").is_file():
            return candidate
    return None


class HubHandler(BaseHTTPRequestHandler):
    """Answers TF Hub's compressed-format download requests from `server.root`."""

    server: HubServer

    def do_GET(self) -> None:
        """Send the archive, 400 without the compressed-format query, 404 for an unknown model."""
        url = urlsplit(self.path)
        self.server.record(self.path)
        query = parse_qs(url.query)
        if query.get(COMPRESSED_QUERY[0]) != [COMPRESSED_QUERY[1]]:
            self._send(400, b"append ?tf-hub-format=compressed to download a model\n", "text/plain")
            return
        folder = find_model(self.server.root, url.path)
        if folder is None:
            self._send(404, f"no model at {url.path}\n".encode(), "text/plain")
            return
        self._send(200, model_archive(folder), "application/x-tar")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        if self.server.verbose:
            super().log_message(format, *args)


class HubServer(ThreadingHTTPServer):
    """A threading HTTP server over a models root that remembers the paths it was asked for."""

    daemon_threads = True

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        super().__init__((host, port), HubHandler)
        self.root = Path(root).resolve()
        self.verbose = verbose
        self.requests: list[str] = []
        self._lock = threading.Lock()

    def record(self, path: str) -> None:
        """Remember one request path (tests read `requests`)."""
        with self._lock:
            self.requests.append(path)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:41234."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HubServer:
        """Serve in a daemon thread; returns self."""
        threading.Thread(target=self.serve_forever, name="hub-server", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
