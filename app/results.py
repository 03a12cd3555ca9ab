"""GET /api/results/<path>: one regular file under OUTPUT_DIR (annotated image, result JSON, report), nothing else.

The path gets path mode's refusals (app/inputs.py resolve_result_path): resolved with every link followed,
it must stay inside OUTPUT_DIR (403 otherwise); missing files and hidden names (a write's temporary
`.name.tmp`) are 404, folders, FIFOs and devices 400. The API key applies as on every /api/ endpoint
(app/auth.py). Answers are never cached, and carry a policy under which a report's inline <style> and
data: images work but no script runs.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, Response, current_app, send_file

from app.inputs import open_regular_file, resolve_result_path

bp = Blueprint("results", __name__, url_prefix="/api")

MAX_PATH_LENGTH = 4096
# A self-contained report uses inline <style> and data: images and no script; sandbox keeps any script out.
FILE_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
# What a browser shows for these; everything else is served as bytes to download.
CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".html": "text/html",
    ".md": "text/markdown",
    ".txt": "text/plain",
}


def content_type(path: Path) -> str:
    """The Content-Type a result file is served with, from its name."""
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith("image/") else "application/octet-stream"


@bp.get("/results/<path:rel>", merge_slashes=False)  # `//etc/x` matches no route: a 404, not a redirect
def result_file(rel: str) -> Response:
    """One file under OUTPUT_DIR (a result JSON's result_url or annotated_image_url), its content type; never cached."""
    path, _ = resolve_result_path(current_app.config["OUTPUT_DIR"], rel)
    # O_NOFOLLOW: a link swapped in after the check is refused; O_NONBLOCK: a FIFO swapped in never blocks.
    fh = open_regular_file(path, rel, "result")
    response = send_file(fh, mimetype=content_type(path), conditional=False, etag=False, max_age=None)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = FILE_CSP
    return response
