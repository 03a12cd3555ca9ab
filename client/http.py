"""The one HTTP client for a node's /api/detect: timeouts, API key, request bodies, error parsing,
503 back-pressure, all timed from the client."""

from __future__ import annotations

import mimetypes
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.filepost import encode_multipart_formdata

from client.link import Link, ThrottledBody
from client.records import Record, round_s

CONNECT_TIMEOUT = 5.0  # seconds; a node that does not accept within this is down
DEFAULT_READ_TIMEOUT = 120.0  # a node on a big model may take long for one image


@dataclass(frozen=True)
class DetectRequest:
    """A prepared /api/detect body: bytes, headers, and how many of the bytes are the image."""

    body: bytes
    headers: dict[str, str]
    image_bytes: int  # image bytes in the request (upload mode), 0 in path mode


def path_request(input_path: str, save_image: bool, model: str | None = None) -> DetectRequest:
    """Form body `input=...&output=0|1` (the seed's form), and `&model=NAME` when a model is named."""
    fields: dict[str, str | int] = {"input": input_path, "output": int(save_image)}
    if model:
        fields["model"] = model
    body = urlencode(fields)
    return DetectRequest(body.encode("utf-8"), {"Content-Type": "application/x-www-form-urlencoded"}, 0)


def upload_request(data: bytes, name: str, save_image: bool, model: str | None = None) -> DetectRequest:
    """Multipart body with the image in field `image` (and field `model` when a model is named)."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    fields: dict[str, str | tuple[str, bytes, str]] = {"output": str(int(save_image))}
    if model:
        fields["model"] = model
    fields["image"] = (name, data, mime)
    body, content_type = encode_multipart_formdata(fields)
    return DetectRequest(body, {"Content-Type": content_type}, len(data))


class DownloadError(RuntimeError):
    """A node answered a result download with something other than 200."""


@dataclass
class Attempt:
    """What one request to one node gave."""

    ok: bool
    retryable: bool  # connection error, timeout or 5xx: worth trying on another node
    status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)  # the node's result JSON (ok) or its error JSON
    error: str | None = None
    bytes_sent: int = 0  # image bytes in the request (upload mode), 0 in path mode
    request_bytes: int = 0  # the whole request body
    bytes_received: int = 0  # the answer's body
    round_trip: float = 0.0  # seconds from sending the request to having read the whole answer
    started_at: float = 0.0  # epoch seconds
    finished_at: float = 0.0
    retry_after: float | None = None  # seconds, from a 503's Retry-After header

    @property
    def overloaded(self) -> bool:
        """A 503 from a node whose queue is full (code `overloaded`): busy, not broken; retry after `retry_after`."""
        error = self.body.get("error") if self.status == 503 else None
        return isinstance(error, dict) and error.get("code") == "overloaded"

    @property
    def timings(self) -> dict[str, float] | None:
        """The node's stage timings of an ok answer."""
        timings = self.body.get("timings") if self.ok else None
        return timings if isinstance(timings, dict) else None


def attempt_record(
    attempt: Attempt | None,
    *,
    file: str,
    size: int,
    node: str | None,
    attempts: int = 1,
    tried: list[str] | None = None,
    error: str | None = None,
) -> Record:
    """The record of an image whose last attempt was `attempt` (None: it was never sent; `error` says why)."""
    now = time.time()
    record = Record(
        file=file,
        size=size,
        node=node,
        ok=bool(attempt is not None and attempt.ok),
        status=attempt.status if attempt is not None else None,
        error=error if error is not None else (attempt.error if attempt is not None else None),
        attempts=attempts,
        tried=list(tried) if tried is not None else ([node] if node else []),
        bytes_sent=attempt.bytes_sent if attempt is not None else 0,
        request_bytes=attempt.request_bytes if attempt is not None else 0,
        bytes_received=attempt.bytes_received if attempt is not None else 0,
        round_trip=round_s(attempt.round_trip) if attempt is not None else None,
        started_at=attempt.started_at if attempt is not None else now,
        finished_at=attempt.finished_at if attempt is not None else now,
    )
    if attempt is not None and attempt.ok:
        record.add_result(attempt.body)
    return record


def error_text(response: requests.Response) -> str:
    """`status code: message` from the node's JSON error, or the start of whatever else it sent."""
    try:
        err = response.json()["error"]
        return f"{response.status_code} {err['code']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text.strip()[:300]}"


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date (nodes send seconds)


def _short(exc: BaseException) -> str:
    text = str(exc)
    # urllib3 wraps the useful part ("Connection refused") deep inside a long repr.
    for marker in (
        "Connection refused",
        "Connection reset",
        "Read timed out",
        "Connection aborted",
        "Remote end closed",
        "timed out",
    ):
        if marker in text:
            return marker
    return text[:200]


class DetectClient:
    """Keep-alive requests to one node; `pool_size` connections for that many requests in flight.

    `api_key` (default: the API_KEY environment variable, the node's own name for it) goes in X-API-Key.
    No silent retries: every attempt is reported, and the caller decides what to do with it.
    """

    def __init__(
        self,
        base_url: str,
        pool_size: int = 1,
        api_key: str | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        api_key = os.environ.get("API_KEY") if api_key is None else api_key
        if api_key:
            self.session.headers["X-API-Key"] = api_key
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        """Close the connections."""
        self.session.close()

    def send(self, request: DetectRequest, link: Link | None = None) -> Attempt:
        """POST the body to /api/detect (paced and delayed by `link`, if set) and classify the answer."""
        throttled = link is not None and link.rate is not None
        payload: bytes | ThrottledBody = ThrottledBody(request.body, link) if throttled and link else request.body
        started_at = time.time()
        t0 = time.perf_counter()
        if link is not None:
            link.half_round_trip()  # the request's way out
        sizes: dict[str, Any] = {
            "bytes_sent": request.image_bytes,
            "request_bytes": len(request.body),
            "started_at": started_at,
        }
        try:
            response = self.session.post(
                f"{self.base_url}/api/detect", data=payload, headers=request.headers, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            return Attempt(
                ok=False,
                retryable=True,
                error=f"{type(exc).__name__}: {_short(exc)}",
                round_trip=time.perf_counter() - t0,
                finished_at=time.time(),
                **sizes,
            )
        except requests.RequestException as exc:
            return Attempt(
                ok=False,
                retryable=False,
                error=f"{type(exc).__name__}: {_short(exc)}",
                round_trip=time.perf_counter() - t0,
                finished_at=time.time(),
                **sizes,
            )
        if link is not None:
            link.half_round_trip()  # the answer's way back
        round_trip = time.perf_counter() - t0  # requests has read the whole body by now (no stream=True)
        done: dict[str, Any] = {
            "status": response.status_code,
            "bytes_received": len(response.content),
            "round_trip": round_trip,
            "finished_at": time.time(),
            **sizes,
        }
        if response.status_code == 200:
            try:
                result = response.json()
            except ValueError:
                result = None
            if not isinstance(result, dict) or "timings" not in result:
                return Attempt(ok=False, retryable=True, error="200 with a body that is not a result JSON", **done)
            return Attempt(ok=True, retryable=False, body=result, **done)
        try:
            err_body = response.json()
        except ValueError:
            err_body = None
        return Attempt(
            ok=False,
            retryable=response.status_code >= 500,
            error=error_text(response),
            body=err_body if isinstance(err_body, dict) else {},
            retry_after=_retry_after(response) if response.status_code == 503 else None,
            **done,
        )

    def detect_path(self, input_path: str, save_image: bool = False, model: str | None = None) -> Attempt:
        """Path mode: the node reads `input_path` from its images folder (with its model `model`, if named)."""
        return self.send(path_request(input_path, save_image, model))

    def detect_upload(
        self, data: bytes, name: str, save_image: bool = False, link: Link | None = None, model: str | None = None
    ) -> Attempt:
        """Upload mode: the image's bytes go in the request (over `link`, when given)."""
        return self.send(upload_request(data, name, save_image, model), link)

    def download(self, url: str) -> bytes:
        """GET one of the node's result files by the relative URL a result JSON gives (`/api/results/...`).

        Raises requests.RequestException for a connection error or timeout, DownloadError for any other answer.
        """
        response = self.session.get(f"{self.base_url}{url}", timeout=self.timeout)
        if response.status_code != 200:
            raise DownloadError(f"GET {url[:200]}: {error_text(response)}")
        return response.content

    def info(self, timeout: float) -> dict[str, Any]:
        """The node's GET /api/info answer (model, versions, machine, TensorFlow devices), or {"error": ...}."""
        try:
            response = self.session.get(f"{self.base_url}/api/info", timeout=timeout)
        except requests.RequestException as exc:
            return {"error": f"{type(exc).__name__}: {_short(exc)}"}
        if response.status_code != 200:
            return {"error": error_text(response)}
        try:
            body = response.json()
        except ValueError:
            return {"error": "GET /api/info answered something that is not JSON"}
        return body if isinstance(body, dict) else {"error": "GET /api/info answered something that is not an object"}

    def health(self, timeout: float) -> bool:
        """True if the node answers GET /api/health with 200."""
        return self._get_ok("/api/health", timeout)

    def ready(self, timeout: float) -> bool:
        """True if the node answers GET /api/ready with 200 (model loaded and warm)."""
        return self._get_ok("/api/ready", timeout)

    def _get_ok(self, path: str, timeout: float) -> bool:
        try:
            return self.session.get(f"{self.base_url}{path}", timeout=timeout).status_code == 200
        except requests.RequestException:
            return False
