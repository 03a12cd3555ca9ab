"""This process's detector: loaded once in the background, ready after one warm-up inference."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from detector import Detector, DetectorOptions, ModelLoadError, load_ready_model
from detector.sources import DEFAULT_TFHUB_HOSTS

log = logging.getLogger(__name__)

# gunicorn's arbiter stops the whole server when a worker exits with this code.
WORKER_BOOT_ERROR = 3


class ModelNotReadyError(RuntimeError):
    """The model is still loading, or failed to load."""


class ModelService:
    """Owns the process's Detector; views ask it for the detector and get ModelNotReadyError until it is warm."""

    def __init__(
        self,
        options: DetectorOptions,
        handle: str,
        detector: Detector | None = None,
        tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS,
    ):
        self.options = options
        self.handle = handle
        self.tfhub_hosts = tfhub_hosts  # whose handles have Kaggle Models as a second source
        self._detector = detector
        self._ready = threading.Event()
        self._settled = threading.Event()  # set once loading ended, well or badly
        self.state = "ready" if detector is not None else "idle"
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.warmup_seconds: float | None = None
        self.devices: dict[str, Any] | None = None  # TensorFlow's devices, read in this worker once loaded
        if detector is not None:
            self._ready.set()
            self._settled.set()

    @property
    def ready(self) -> bool:
        """True once the model is loaded and one warm-up inference ran."""
        return self._ready.is_set()

    def detector(self) -> Detector:
        """The loaded detector, or ModelNotReadyError."""
        if not self._ready.is_set() or self._detector is None:
            raise ModelNotReadyError(self.state)
        return self._detector

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has ended (or timeout); return readiness."""
        self._settled.wait(timeout)
        return self._ready.is_set()

    def start(
        self,
        intra_op: int = 0,
        inter_op: int = 0,
        on_failure: Callable[[str], None] | None = None,
        on_ready: Callable[[ModelService], None] | None = None,
    ) -> None:
        """Load in a background thread so health checks answer while a large model downloads."""
        if self.state != "idle":
            if self.state == "ready" and on_ready is not None:
                on_ready(self)
            return
        self.state = "loading"
        thread = threading.Thread(
            target=self._load, args=(intra_op, inter_op, on_failure, on_ready), name="model-loader", daemon=True
        )
        thread.start()

    def _load(
        self,
        intra_op: int,
        inter_op: int,
        on_failure: Callable[[str], None] | None,
        on_ready: Callable[[ModelService], None] | None,
    ) -> None:
        try:
            log.info("loading model %s", self.handle)
            model = load_ready_model(self.handle, intra_op, inter_op, self.tfhub_hosts)
            self.load_seconds = model.load_seconds
            self.warmup_seconds = model.warmup_seconds
            detector = self._detector = Detector(model, self.options)
            self.devices = _devices()
        except ModelLoadError as exc:
            self._fail(str(exc), on_failure)
            return
        except Exception as exc:  # a broken model must not leave a silent zombie worker
            log.exception("model %s failed during load or warm-up", self.handle)
            self._fail(f"Model {self.handle!r} failed during load or warm-up: {exc}", on_failure)
            return
        self.state = "ready"
        self._ready.set()
        self._settled.set()
        if on_ready is not None:
            on_ready(self)
        log.info(
            "model ready: %s (family %s, load %.2fs, warm-up %.2fs)",
            self.handle,
            detector.model.family,
            self.load_seconds,
            self.warmup_seconds,
        )

    def _fail(self, message: str, on_failure: Callable[[str], None] | None) -> None:
        self.state = "failed"
        self.error = message
        self._settled.set()
        log.critical("%s", message)
        if on_failure is not None:
            on_failure(message)


def _devices() -> dict[str, Any] | None:
    """TensorFlow's devices in this worker (TensorFlow is loaded here by now; never in the master)."""
    from measure.sysinfo import tensorflow_devices

    try:
        return tensorflow_devices()
    except Exception:  # a node without its device list still serves (logged with the traceback)
        log.warning("could not read TensorFlow's device list", exc_info=True)
        return None


def exit_worker(message: str) -> None:
    """Stop this worker so gunicorn halts with 'Worker failed to boot' instead of serving 503 forever."""
    logging.shutdown()
    time.sleep(0.1)
    os._exit(WORKER_BOOT_ERROR)
