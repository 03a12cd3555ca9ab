"""Optional shared API key: when API_KEY is set, every endpoint but /api/health and the web pages requires it.

The pages (app/web.py) and their scripts and styles carry no data: they fetch everything from /api/*,
with the key, so they are served without it.
"""

from __future__ import annotations

import hmac

from flask import Flask, Response, request

from app.errors import error_response

OPEN_ENDPOINTS = {"api.health", "static"}
OPEN_BLUEPRINTS = {"web"}


def presented_key() -> str:
    """The key the client sent, in X-API-Key or as `Authorization: Bearer <key>`."""
    key = request.headers.get("X-API-Key", "")
    if not key:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            key = token.strip()
    return key


def register_auth(app: Flask) -> None:
    """Refuse requests without the right key with 401 (no-op when API_KEY is empty)."""
    expected = (app.config.get("API_KEY") or "").encode("utf-8")
    if not expected:
        return

    @app.before_request
    def _require_key() -> Response | None:
        if request.endpoint in OPEN_ENDPOINTS or request.blueprint in OPEN_BLUEPRINTS:
            return None
        # compare_digest: the time taken does not reveal how much of the key matched.
        if hmac.compare_digest(presented_key().encode("utf-8"), expected):
            return None
        response = error_response(401, "missing or wrong API key: send X-API-Key or Authorization: Bearer <key>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="detector"'
        return response
