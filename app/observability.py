"""Per-request id, structured request logs and request metrics."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from app.metrics import Metrics

access_log = logging.getLogger("app.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    """The current request's id (from X-Request-ID when it is sane, else generated)."""
    return g.get("request_id", "")


def _endpoint_label() -> str:
    # The route pattern, never the raw path: keeps metric label values bounded.
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def register_observability(app: Flask, metrics: Metrics) -> None:
    """Attach request ids, timing, metrics and one JSON log line per request to `app`."""

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        g.in_flight = True
        metrics.in_flight.inc()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = request_id()
        started = g.get("started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        endpoint = _endpoint_label()
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(seconds)
        access_log.info(
            json.dumps(
                {
                    "event": "request",
                    "request_id": request_id(),
                    "method": request.method,
                    "path": request.path[:200],
                    "status": response.status_code,
                    "seconds": round(seconds, 6),
                    "remote": request.remote_addr,
                    "bytes_in": request.content_length or 0,
                    "bytes_out": response.calculate_content_length() or 0,
                    **g.get("log_fields", {}),
                },
                ensure_ascii=False,
            )
        )
        return response

    @app.teardown_request
    def _done(_exc: BaseException | None) -> None:
        if g.pop("in_flight", False):
            metrics.in_flight.dec()
