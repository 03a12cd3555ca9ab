"""GET /api/results/<path>: one regular file under OUTPUT_DIR (annotated image, result JSON, report), nothing else.

The path is resolved with every link followed and must stay inside OUTPUT_DIR (403 otherwise); missing
files, folders, FIFOs, devices and hidden names (a write's temporary `.name.tmp`) are 404. The API key
applies as on every /api/ endpoint (app/auth.py). Answers are never cached, and carry a policy under
which a report's inline <style> and data: images work but no script runs.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path

from flask import Blueprint, Response, current_app, send_file

from app.errors import ApiError

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


def resolve_result_path(output_root: str, rel: str) -> Path:
    """The real path of `rel` under the output root: 400 for a bad name, 403 outside the root, 404 for no file."""
    if len(rel) > MAX_PATH_LENGTH:
        raise ApiError(400, f"path is longer than {MAX_PATH_LENGTH} characters")
    if "\x00" in rel:
        raise ApiError(400, "path contains a NUL byte")
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "path is not valid UTF-8 text") from None
    root = os.path.realpath(output_root)
    real = os.path.realpath(os.path.join(root, rel))  # an absolute `rel` stays absolute, and is checked the same
    if real != root and os.path.commonpath([root, real]) != root:
        raise ApiError(403, f"{rel[:200]!r} is outside the results folder")
    inside = os.path.relpath(real, root)
    if any(part.startswith(".") for part in Path(inside).parts):
        raise ApiError(404, f"no result file {rel[:200]!r}")
    try:
        info = os.stat(real)
    except OSError:  # missing, a link loop, a name too long, a file used as a folder
        raise ApiError(404, f"no result file {rel[:200]!r}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ApiError(404, f"{rel[:200]!r} is not a result file")
    return Path(real)


def content_type(path: Path) -> str:
    """The Content-Type a result file is served with, from its name."""
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith("image/") else "application/octet-stream"


@bp.get("/results/<path:rel>")
def result_file(rel: str) -> Response:
    """One file under OUTPUT_DIR, with its content type; never cached."""
    path = resolve_result_path(current_app.config["OUTPUT_DIR"], rel)
    try:
        # O_NOFOLLOW: a link swapped in after the check is refused; O_NONBLOCK: a FIFO swapped in never blocks.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise ApiError(404, f"no result file {rel[:200]!r}") from None
    fh = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        fh.close()
        raise ApiError(404, f"{rel[:200]!r} is not a result file")
    response = send_file(fh, mimetype=content_type(path), conditional=False, etag=False, max_age=None)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = FILE_CSP
    return response
