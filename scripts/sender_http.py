"""One detection request to one node, timed from the client, classified as ok, final or retryable."""
from __future__ import annotations

import mimetypes
import os
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.filepost import encode_multipart_formdata

from scripts.sender_throttle import Link, ThrottledBody


@dataclass
class Attempt:
    """What one request to one node gave."""

    ok: bool
    retryable: bool  # connection error, timeout or 5xx: worth trying on another node
    status: int | None = None
    body: dict = field(default_factory=dict)  # the node's result JSON (ok) or its error JSON
    error: str | None = None
    bytes_sent: int = 0  # image bytes in the request (upload mode), 0 in path mode
    request_bytes: int = 0  # the whole request body
    round_trip: float = 0.0  # seconds from sending the request to having read the whole answer
    started_at: float = 0.0  # epoch seconds
    finished_at: float = 0.0


def make_session(pool_size: int, api_key: str | None = None) -> requests.Session:
    """A session for one node: keep-alive connections for its in-flight slots, no silent retries.

    `api_key` (default: the API_KEY environment variable, the node's own name for it) goes in X-API-Key.
    """
    session = requests.Session()
    api_key = os.environ.get("API_KEY") if api_key is None else api_key
    if api_key:
        session.headers["X-API-Key"] = api_key
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def path_request(input_path: str, save_image: bool) -> tuple[bytes, dict, int]:
    """Form body `input=...&output=0|1`: (body, headers, image bytes)."""
    body = urlencode({"input": input_path, "output": int(save_image)})
    return body.encode("utf-8"), {"Content-Type": "application/x-www-form-urlencoded"}, 0


def upload_request(data: bytes, name: str, save_image: bool) -> tuple[bytes, dict, int]:
    """Multipart body with the image in field `image`: (body, headers, image bytes)."""
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    body, content_type = encode_multipart_formdata({"output": str(int(save_image)), "image": (name, data, mime)})
    return body, {"Content-Type": content_type}, len(data)


def _error_text(response: requests.Response) -> str:
    try:
        err = response.json()["error"]
        return f"{response.status_code} {err['code']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text.strip()[:300]}"


def post_detect(
    session: requests.Session,
    base_url: str,
    body: bytes,
    headers: dict,
    image_bytes: int,
    timeout: tuple[float, float],
    link: Link | None = None,
) -> Attempt:
    """POST the body to `{base_url}/api/detect` (paced by `link` if set) and classify the answer."""
    payload = ThrottledBody(body, link) if link is not None else body
    started_at = time.time()
    t0 = time.perf_counter()
    sizes = {"bytes_sent": image_bytes, "request_bytes": len(body), "started_at": started_at}
    try:
        response = session.post(f"{base_url}/api/detect", data=payload, headers=headers, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Attempt(ok=False, retryable=True, error=f"{type(exc).__name__}: {_short(exc)}",
                       round_trip=time.perf_counter() - t0, finished_at=time.time(), **sizes)
    except requests.RequestException as exc:
        return Attempt(ok=False, retryable=False, error=f"{type(exc).__name__}: {_short(exc)}",
                       round_trip=time.perf_counter() - t0, finished_at=time.time(), **sizes)
    round_trip = time.perf_counter() - t0  # requests has read the whole body by now (no stream=True)
    done = {"status": response.status_code, "round_trip": round_trip, "finished_at": time.time(), **sizes}
    if response.status_code == 200:
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict) or "timings" not in result:
            return Attempt(ok=False, retryable=True, error="200 with a body that is not a result JSON", **done)
        return Attempt(ok=True, retryable=False, body=result, **done)
    return Attempt(ok=False, retryable=response.status_code >= 500, error=_error_text(response), **done)


def _short(exc: BaseException) -> str:
    text = str(exc)
    # urllib3 wraps the useful part ("Connection refused") deep inside a long repr.
    for marker in ("Connection refused", "Connection reset", "Read timed out", "Connection aborted",
                   "Remote end closed", "timed out"):
        if marker in text:
            return marker
    return text[:200]


def health(session: requests.Session, base_url: str, timeout: float) -> bool:
    """True if the node answers GET /api/health with 200."""
    try:
        return session.get(f"{base_url}/api/health", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False
