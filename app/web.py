"""The node's web pages (try a detection, browse results and reports, API docs) and the security headers.

The pages are Jinja2 templates (app/templates/) with plain JavaScript (app/static/); Swagger UI comes from
the pinned swagger-ui-bundle package. A page carries no data: the scripts fetch everything from /api/*,
with the API key when the node has one, so the pages and their assets are served without the key.
"""

from __future__ import annotations

import swagger_ui_bundle
from flask import Blueprint, Flask, Response, render_template, request, send_from_directory

from app.errors import ApiError

bp = Blueprint("web", __name__)

# Pages: scripts only from the node's own files (no inline script, no eval), no plugins, no framing.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The viewer shows a report in a sandboxed frame (no script at all): its inline <style> needs inline styles.
VIEWER_CSP = PAGE_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
# The files of Swagger UI the docs page loads (the package's own index.html has a petstore initializer).
SWAGGER_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-16x16.png", "favicon-32x32.png"}


@bp.get("/")
def index() -> str:
    """The page to try a detection: upload an image, see the boxes, the detections and the timings."""
    return render_template("index.html", page="index")


@bp.get("/results")
def results() -> str:
    """The page that lists recent results and reports under OUTPUT_DIR, newest first."""
    return render_template("results.html", page="results")


@bp.get("/results/view")
def viewer() -> Response:
    """The page that shows one file under OUTPUT_DIR: a result with its image, an image, or a report."""
    response = Response(render_template("viewer.html", page="results"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = VIEWER_CSP
    return response


@bp.get("/docs")
def docs() -> str:
    """Swagger UI for /api/openapi.json."""
    return render_template("docs.html", page="docs")


@bp.get("/docs/static/<path:filename>")
def docs_asset(filename: str) -> Response:
    """One file of the pinned Swagger UI (swagger-ui-bundle)."""
    if filename not in SWAGGER_FILES:
        raise ApiError(404, f"no such Swagger UI file {filename[:100]!r}")
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)


def register_security_headers(app: Flask) -> None:
    """Every answer: nosniff, a Content-Security-Policy without inline script, no framing; no-store but for assets."""

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint not in ("static", "web.docs_asset") or response.status_code >= 400:
            headers["Cache-Control"] = "no-store"  # API answers, result files and pages; scripts and styles may be kept
        return response
