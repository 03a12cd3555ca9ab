"""Downloading a detector once and checking that it loads, so nodes can start without the internet
(the library behind scripts/fetch_model.py).

The download goes through tensorflow_hub's own resolver (the `?tf-hub-format=compressed` archive)
into a SavedModel folder or a TF Hub cache; the model is then loaded and warmed up once, exactly
as a node does (detector.loading.load_ready_model).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import tarfile
import urllib.error
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from detector.handles import is_remote, normalize_handle
from detector.loading import load_ready_model
from detector.model import ModelLoadError
from detector.quiet import quiet_tensorflow
from detector.sources import DEFAULT_TFHUB_HOSTS, FallbackError, with_fallback

PROVENANCE_FILE = "FETCHED_FROM.txt"
log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """The model could not be fetched or does not load; the message is one line for the user."""


@dataclass
class FetchResult:
    """Where the model now is and how it loaded."""

    handle: str  # what the nodes should use as MODEL_HANDLE
    location: Path  # the SavedModel folder on disk
    family: str
    signature: str
    load_seconds: float
    warmup_seconds: float
    checked: bool = True

    def summary(self, cache_dir: Path | None, seconds: float) -> str:
        """The `ok: ...` line fetch_model.py prints: where the model is, how it loaded, what nodes set."""
        where = f"MODEL_HANDLE={self.handle}"
        if is_remote(self.handle):
            where += f" with TFHUB_CACHE_DIR={cache_dir}"
        checked = (
            f"{self.family} family, signature {self.signature}, load {self.load_seconds:.1f} s, "
            f"warm-up {self.warmup_seconds:.1f} s"
            if self.checked
            else "not loaded (--no-check)"
        )
        return f"ok: {self.location} ({checked}; {seconds:.1f} s in all). Nodes: {where}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and the ones it was raised from or during."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_failure(handle: str, exc: BaseException, timeout: float | None = None) -> str:
    """One line saying what failed and what to do, for the errors a download or load can raise."""
    advice = (
        "Fetch it on a machine that can download it (--dest DIR) and copy DIR here, "
        "or use a local SavedModel folder as HANDLE."
    )
    if isinstance(exc, FallbackError):
        return f"{exc}. {advice}"
    if isinstance(exc, urllib.error.HTTPError):
        url = getattr(exc, "filename", None) or handle
        if exc.code in (401, 403):
            return (
                f"HTTP {exc.code} {exc.reason} from {url}: the server refuses this download "
                f"(tfhub.dev now redirects to Kaggle, which refuses some models). {advice}"
            )
        if exc.code in (404, 410):
            return f"HTTP {exc.code} {exc.reason} from {url}: no model at this handle; check its spelling and version."
        return f"HTTP {exc.code} {exc.reason} from {url}. {advice}"
    if isinstance(exc, (TimeoutError, socket.timeout)) or (
        isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, (TimeoutError, socket.timeout))
    ):
        return f"no answer from {urlsplit(handle).netloc or handle} within {timeout or '?'} s. {advice}"
    if isinstance(exc, urllib.error.URLError):
        return (
            f"cannot reach {urlsplit(handle).netloc or handle} ({exc.reason}): this machine looks offline, "
            f"or the address is wrong. {advice}"
        )
    archive_error = next((e for e in _chain(exc) if isinstance(e, (tarfile.TarError, EOFError, zlib.error))), None)
    if archive_error is not None:  # tensorflow_hub re-raises tarfile.ReadError as a bare OSError
        return (
            f"the download from {handle} is not a gzipped tar of a SavedModel "
            f"({type(archive_error).__name__}: {archive_error})."
        )
    if isinstance(exc, ModelLoadError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''} (handle {handle})"


def import_hub() -> ModuleType:
    """Import tensorflow_hub; TensorFlow itself quietly (detector.quiet) unless a tool imported it already."""
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    if "tensorflow" not in sys.modules:
        quiet_tensorflow()
    import tensorflow_hub

    return tensorflow_hub


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """Set one environment variable for the block (tensorflow_hub reads TFHUB_CACHE_DIR on every call)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def download_to_cache(handle: str, cache_dir: Path, tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS) -> Path:
    """Resolve a remote handle into `cache_dir` with tensorflow_hub (no request when already cached); a TF Hub
    handle that answers 403/404 comes from Kaggle Models instead, into `cache_dir/kagglehub` (detector.sources)."""
    hub = import_hub()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _env("TFHUB_CACHE_DIR", str(cache_dir)):
        path, source = with_fallback(handle, lambda: Path(hub.resolve(handle)), lambda folder: folder, tfhub_hosts)
    log.info("%s served by %s", handle, source)
    return path


def _place(source: Path, dest: Path, move: bool) -> None:
    """Put the SavedModel folder `source` at `dest` in one rename (dest's parent must exist)."""
    staging = dest.with_name(f".{dest.name}.new-{os.getpid()}")
    if move:
        source.rename(staging)
    else:
        shutil.copytree(source, staging)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists() or dest.is_symlink():
        dest.rename(old)
    staging.rename(dest)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():
        old.unlink()


def fetch(
    handle: str,
    dest: Path | None = None,
    cache_dir: Path | None = None,
    force: bool = False,
    tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS,
) -> tuple[str, Path]:
    """Download (or copy) the model; return (MODEL_HANDLE for the nodes, SavedModel folder)."""
    if dest is not None and dest.exists() and not force and (not dest.is_dir() or any(dest.iterdir())):
        raise FetchError(f"{dest} exists and is not empty; use --force to replace it")
    if not is_remote(handle):
        local = Path(handle)
        if not (local / "saved_model.pb").is_file():
            raise FetchError(f"{handle} is neither a URL nor a folder with a saved_model.pb")
        if dest is None:
            return str(local.resolve()), local.resolve()
        dest.parent.mkdir(parents=True, exist_ok=True)
        _place(local, dest, move=False)
        return str(dest.resolve()), dest.resolve()
    if dest is None:
        if cache_dir is None:
            raise FetchError(
                "give --dest DIR, or --cache-dir DIR (or set TFHUB_CACHE_DIR) to the cache the nodes "
                "use; otherwise the download would land in a temporary folder no node reads"
            )
        return handle, download_to_cache(handle, cache_dir, tfhub_hosts).resolve()
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A private cache beside DEST: same file system, so the finished folder moves there in one rename.
    scratch = dest.with_name(f".{dest.name}.fetch-{os.getpid()}")
    try:
        _place(download_to_cache(handle, scratch, tfhub_hosts), dest, move=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    (dest / PROVENANCE_FILE).write_text(f"{handle}\nfetched {stamp}\n", encoding="utf-8")
    return str(dest), dest


def check(handle: str, tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS) -> tuple[str, str, float, float]:
    """Load `handle` as the nodes will and run one warm-up inference: (family, signature, load s, warm-up s)."""
    import_hub()
    model = load_ready_model(handle, tfhub_hosts=tfhub_hosts)
    return model.family, model.signature_name, model.load_seconds, model.warmup_seconds


def run(
    raw_handle: str,
    dest: Path | None = None,
    cache_dir: Path | None = None,
    force: bool = False,
    load_check: bool = True,
    tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS,
) -> FetchResult:
    """Fetch and check one model; every failure becomes a FetchError with a one-line message."""
    handle = normalize_handle(raw_handle)
    try:
        node_handle, location = fetch(handle, dest, cache_dir, force, tfhub_hosts)
        family = signature = "unchecked"
        load_s = warm_s = 0.0
        if load_check:
            # Remote + cache: load through the handle, exactly as a node will (from the cache, no request).
            target = node_handle if is_remote(node_handle) else str(location)
            with _env("TFHUB_CACHE_DIR", str(cache_dir)) if cache_dir else contextlib.nullcontext():
                family, signature, load_s, warm_s = check(target, tfhub_hosts)
    except FetchError:
        raise
    except Exception as exc:  # every failure becomes one readable line
        timeout = socket.getdefaulttimeout()
        raise FetchError(describe_failure(handle, exc, timeout)) from exc
    return FetchResult(node_handle, location, family, signature, load_s, warm_s, checked=load_check)
