"""One JSON error shape for every failure: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Stable machine-readable codes for the statuses the API documents.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    408: "request_timeout",
    422: "undecodable_image",
    500: "internal_error",
    503: "not_ready",
}


class ApiError(Exception):
    """An error answer with a status, a code and a message safe to show the client."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODES.get(status, "error")


NOT_READY_RETRY_SECONDS = 5  # Retry-After of a 503 while the model loads


def error_response(status: int, message: str, code: str | None = None, retry_after: float | None = None) -> Response:
    """The JSON error response used by every handler; a 503 always says when to retry (whole seconds)."""
    response = jsonify(error={"code": code or CODES.get(status, "error"), "message": message})
    response.status_code = status
    if status == 503:
        seconds = NOT_READY_RETRY_SECONDS if retry_after is None else retry_after
        response.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn ApiError, every HTTP error and any unexpected exception into the JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.code)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            limit_mb = app.config.get("MAX_UPLOAD_MB")
            message = f"upload too large: the limit is {limit_mb} MB (MAX_UPLOAD_MB)"
        response = error_response(status, message)
        if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")  # the traceback stays in the log, never in the answer
        return error_response(500, "internal error; see the node's log")
