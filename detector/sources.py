"""Where a remote model comes from: TF Hub first, and Kaggle Models as the second source of the tfhub.dev
handles the docs name; download progress in the log.

tfhub.dev now redirects to Kaggle, and tensorflow_hub users report HTTP 403 for some models since the
move (tensorflow/hub #922, #932). When a TF Hub handle fails with 403 or 404 (or the machine is
offline but the Kaggle copy is already in the local cache), the same model is fetched from Kaggle
Models through kagglehub and loaded from its folder.

TFHUB_TO_KAGGLE maps a TF Hub handle's path (the URL without its host) to its Kaggle Models handle,
`owner/model/framework/variation/version` as kagglehub's `model_download` takes it. The Kaggle handles
are the ones tfhub.dev's own redirects and the models' Kaggle pages name (for example
https://www.kaggle.com/models/google/faster-rcnn-inception-resnet-v2/tensorFlow1/faster-rcnn-openimages-v4-inception-resnet-v2/1).
Which hosts count as TF Hub is the TFHUB_HOSTS setting (default tfhub.dev), so a mirror, or a test's
loopback stand-in, can take tfhub.dev's place. kagglehub itself reads KAGGLE_API_ENDPOINT (default
https://www.kaggle.com) and KAGGLEHUB_CACHE; when KAGGLEHUB_CACHE is unset and TFHUB_CACHE_DIR is
set, the Kaggle copies go to TFHUB_CACHE_DIR/kagglehub, so one model-cache volume holds both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DEFAULT_TFHUB_HOSTS = ("tfhub.dev",)
TFHUB_TO_KAGGLE: dict[str, str] = {
    # The default MODEL_HANDLE: Faster R-CNN Inception-ResNet v2 trained on OpenImages v4.
    "google/faster_rcnn/openimages_v4/inception_resnet_v2/1": (
        "google/faster-rcnn-inception-resnet-v2/tensorFlow1/faster-rcnn-openimages-v4-inception-resnet-v2/1"
    ),
    # Its small sibling, SSD MobileNet v2 on OpenImages v4.
    "google/openimages_v4/ssd/mobilenet_v2/1": "google/mobilenet-v2/tensorFlow1/openimages-v4-ssd-mobilenet-v2/1",
    # The tf2-detection-zoo family's example (docs/configuration.md).
    "tensorflow/faster_rcnn/inception_resnet_v2_640x640/1": (
        "tensorflow/faster-rcnn-inception-resnet-v2/tensorFlow2/640x640/1"
    ),
}
FALLBACK_STATUSES = (403, 404)
PROGRESS_INTERVAL = 5.0  # seconds between two progress lines of a download


def parse_hosts(text: str) -> tuple[str, ...]:
    """`tfhub.dev, 127.0.0.1:8000` -> ("tfhub.dev", "127.0.0.1:8000")."""
    return tuple(h.strip().lower() for h in text.split(",") if h.strip())


def kaggle_handle_for(handle: str, tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS) -> str | None:
    """The Kaggle Models handle of a TF Hub handle this project knows; None for any other handle."""
    url = urlsplit(handle.strip())
    if url.scheme not in ("http", "https") or url.netloc.lower() not in tfhub_hosts:
        return None
    return TFHUB_TO_KAGGLE.get(url.path.strip("/"))


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an error (or one it was raised from) carries, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "code", None)
        if isinstance(current, urllib.error.HTTPError) and isinstance(code, int):
            return code
        status = getattr(getattr(current, "response", None), "status_code", None)  # requests.HTTPError
        if isinstance(status, int):
            return status
        current = current.__cause__ or current.__context__
    return None


def kaggle_cache_dir() -> Path:
    """Where kagglehub keeps its downloads: KAGGLEHUB_CACHE, else TFHUB_CACHE_DIR/kagglehub, else its default."""
    explicit = os.environ.get("KAGGLEHUB_CACHE")
    if explicit:
        return Path(explicit)
    tfhub = os.environ.get("TFHUB_CACHE_DIR")
    if tfhub:
        return Path(tfhub) / "kagglehub"
    return Path.home() / ".cache" / "kagglehub"


def tfhub_cache_dir() -> Path:
    """Where tensorflow_hub caches downloads (TFHUB_CACHE_DIR, else its folder in the temporary directory)."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules"))


@contextlib.contextmanager
def _kagglehub_env() -> Iterator[None]:
    """KAGGLEHUB_CACHE as kaggle_cache_dir() says, for the block."""
    saved = {"KAGGLEHUB_CACHE": os.environ.get("KAGGLEHUB_CACHE")}
    os.environ["KAGGLEHUB_CACHE"] = str(kaggle_cache_dir())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


@contextlib.contextmanager
def download_progress(what: str, folder: Path, interval: float = PROGRESS_INTERVAL) -> Iterator[None]:
    """Log how many bytes have arrived under `folder` every `interval` seconds while the block runs,
    and the total at the end (nothing when nothing arrived, as for a cached model)."""
    folder.mkdir(parents=True, exist_ok=True)
    start_bytes, t0 = _folder_bytes(folder), time.monotonic()
    done = threading.Event()

    def watch() -> None:
        last = 0
        while not done.wait(interval):
            now = _folder_bytes(folder) - start_bytes
            if now > last:
                log.info("downloading %s: %s so far (%.0f s)", what, _size(now), time.monotonic() - t0)
                last = now

    watcher = threading.Thread(target=watch, name="download-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(interval + 1)
        got = _folder_bytes(folder) - start_bytes
        if got > 0:
            log.info("downloaded %s: %s in %.1f s", what, _size(got), time.monotonic() - t0)


def _import_kagglehub() -> Any:
    """kagglehub, with its own console handler (INFO lines on stdout) kept to warnings: our log says it all."""
    import kagglehub

    for handler in logging.getLogger("kagglehub").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(max(handler.level, logging.WARNING))
    return kagglehub


def kaggle_cached(kaggle: str) -> bool:
    """True when the Kaggle copy is complete in the local kagglehub cache (no request needed)."""
    _import_kagglehub()
    from kagglehub.cache import load_from_cache
    from kagglehub.handle import parse_model_handle

    with _kagglehub_env():
        return load_from_cache(parse_model_handle(kaggle)) is not None


def kaggle_download(kaggle: str) -> Path:
    """Download (or find in the cache) a Kaggle Models handle with kagglehub; the folder it is in."""
    kagglehub = _import_kagglehub()
    with _kagglehub_env():
        endpoint = os.environ.get("KAGGLE_API_ENDPOINT") or "https://www.kaggle.com"
        with download_progress(f"{kaggle} from Kaggle Models ({endpoint})", kaggle_cache_dir()):
            return Path(kagglehub.model_download(kaggle))


@dataclass
class Fallback:
    """The first source's failure, and what the second gave."""

    kaggle: str
    first_error: BaseException


def should_fall_back(handle: str, exc: BaseException, tfhub_hosts: tuple[str, ...]) -> str | None:
    """The Kaggle handle to try after TF Hub failed with `exc`, or None when there is no second source."""
    kaggle = kaggle_handle_for(handle, tfhub_hosts)
    if kaggle is None:
        return None
    if http_status(exc) in FALLBACK_STATUSES:
        return kaggle
    try:
        return kaggle if kaggle_cached(kaggle) else None  # offline, but fetched before
    except Exception:  # noqa: BLE001 - a broken cache is no second source; the first error stands
        return None


def with_fallback(
    handle: str,
    first: Callable[[], Any],
    second: Callable[[Path], Any],
    tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS,
) -> tuple[Any, str]:
    """`first()` (TF Hub), or on a 403/404 of a mapped handle `second(kaggle folder)`; (result, source).

    Raises FallbackError (both failed) or the first error (no second source for this handle).
    """
    try:
        with download_progress(handle, tfhub_cache_dir()) if "://" in handle else contextlib.nullcontext():
            result = first()
        return result, handle_host(handle)
    except Exception as exc:
        kaggle = should_fall_back(handle, exc, tfhub_hosts)
        if kaggle is None:
            raise
        log.warning("%s failed (%s); loading the same model from Kaggle Models: %s", handle, short_reason(exc), kaggle)
        try:
            result = second(kaggle_download(kaggle))
        except Exception as second_exc:
            raise FallbackError(handle, exc, kaggle, second_exc) from second_exc
        return result, f"Kaggle Models ({kaggle})"


def handle_host(handle: str) -> str:
    """What to call the source of a handle in the log: its host, or `local folder`."""
    return urlsplit(handle).netloc or "local folder"


def short_reason(exc: BaseException) -> str:
    """`HTTP 403 Forbidden`, or the exception's first line."""
    status = http_status(exc)
    if status is not None:
        reason = getattr(exc, "reason", "") or ""
        return f"HTTP {status} {reason}".strip()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


class FallbackError(RuntimeError):
    """Both sources failed: TF Hub, then Kaggle Models."""

    def __init__(self, handle: str, first: BaseException, kaggle: str, second: BaseException):
        self.handle, self.first, self.kaggle, self.second = handle, first, kaggle, second
        endpoint = os.environ.get("KAGGLE_API_ENDPOINT") or "https://www.kaggle.com"
        super().__init__(
            f"TF Hub answered {short_reason(first)} for {handle}, and the second source, Kaggle Models "
            f"({kaggle} via kagglehub from {endpoint}), failed too: {short_reason(second)}"
        )
