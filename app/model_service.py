"""This process's models: loaded once, in order, in the background; ready when every one is warm."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.config import ModelSpec
from detector import Detector, DetectorOptions, ModelLoadError, load_ready_model
from detector.sources import DEFAULT_TFHUB_HOSTS

log = logging.getLogger(__name__)

# gunicorn's arbiter stops the whole server when a worker exits with this code.
WORKER_BOOT_ERROR = 3


class ModelNotReadyError(RuntimeError):
    """The models are still loading, or one failed to load."""


class UnknownModelError(KeyError):
    """No model of that name on this node."""


@dataclass
class ModelState:
    """One model of the node, as it loads."""

    spec: ModelSpec
    state: str = "idle"  # idle -> loading -> ready | failed
    detector: Detector | None = None
    error: str | None = None
    load_seconds: float | None = None
    warmup_seconds: float | None = None


class ModelService:
    """Owns the process's Detectors by model name; views get ModelNotReadyError until every model is warm."""

    def __init__(
        self,
        options: DetectorOptions,
        specs: list[ModelSpec],
        detectors: dict[str, Detector] | None = None,
        tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS,
    ):
        if not specs:
            raise ValueError("a node serves at least one model")
        self.options = options
        self.tfhub_hosts = tfhub_hosts  # whose handles have Kaggle Models as a second source
        self.devices: dict[str, Any] | None = None  # TensorFlow's devices, read in this worker once loaded
        self.models = {s.name: ModelState(s) for s in specs}
        self.default = specs[0].name
        self._ready = threading.Event()
        self._settled = threading.Event()  # set once loading ended, well or badly
        for name, detector in (detectors or {}).items():
            model = self.models[name]
            model.detector, model.state = detector, "ready"
        if all(m.state == "ready" for m in self.models.values()):
            self._ready.set()
            self._settled.set()

    @property
    def names(self) -> list[str]:
        """Model names, the default first."""
        return list(self.models)

    @property
    def handle(self) -> str:
        """The default model's handle."""
        return self.models[self.default].spec.handle

    @property
    def state(self) -> str:
        """`ready` when every model is, `failed` when one failed, else `loading` (or `idle` before start)."""
        states = {m.state for m in self.models.values()}
        if states == {"ready"}:
            return "ready"
        if "failed" in states:
            return "failed"
        return "idle" if states == {"idle"} else "loading"

    @property
    def error(self) -> str | None:
        """The failed model's message (it names the model)."""
        return next((m.error for m in self.models.values() if m.error), None)

    @property
    def ready(self) -> bool:
        """True once every model is loaded and ran one warm-up inference."""
        return self._ready.is_set()

    def resolve(self, name: str | None) -> str:
        """The model a request names (None: the default); UnknownModelError for others."""
        if name is None:
            return self.default
        if name not in self.models:
            raise UnknownModelError(name)
        return name

    def detector(self, name: str | None = None) -> Detector:
        """The loaded detector of model `name` (the default when None), or ModelNotReadyError."""
        model = self.models[self.resolve(name)]
        if not self._ready.is_set() or model.detector is None:
            raise ModelNotReadyError(self.state)
        return model.detector

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has ended (or timeout); return readiness."""
        self._settled.wait(timeout)
        return self._ready.is_set()

    def start(
        self,
        intra_op: int = 0,
        inter_op: int = 0,
        on_failure: Callable[[str], None] | None = None,
        on_ready: Callable[[ModelState], None] | None = None,
    ) -> None:
        """Load in a background thread so health checks answer while large models download."""
        if self._settled.is_set() or any(m.state != "idle" for m in self.models.values()):
            if on_ready is not None:
                for model in self.models.values():
                    if model.state == "ready":
                        on_ready(model)
            return
        for model in self.models.values():
            model.state = "loading"
        thread = threading.Thread(
            target=self._load_all, args=(intra_op, inter_op, on_failure, on_ready), name="model-loader", daemon=True
        )
        thread.start()

    def _load_all(
        self,
        intra_op: int,
        inter_op: int,
        on_failure: Callable[[str], None] | None,
        on_ready: Callable[[ModelState], None] | None,
    ) -> None:
        for model in self.models.values():
            if not self._load(model, intra_op, inter_op, on_ready):
                for rest in self.models.values():
                    if rest.state == "loading":
                        rest.state = "idle"  # never tried: the node will not be ready anyway
                self._settled.set()
                log.critical("%s", model.error)
                if on_failure is not None:
                    on_failure(model.error or "")
                return
        self.devices = _devices()
        self._ready.set()
        self._settled.set()

    def _load(
        self, model: ModelState, intra_op: int, inter_op: int, on_ready: Callable[[ModelState], None] | None
    ) -> bool:
        name, handle = model.spec.name, model.spec.handle
        try:
            log.info("loading model %s: %s", name, handle)
            loaded = load_ready_model(handle, intra_op, inter_op, self.tfhub_hosts)
            model.load_seconds = loaded.load_seconds
            model.warmup_seconds = loaded.warmup_seconds
            model.detector = Detector(loaded, self.options, model_name=name)
        except ModelLoadError as exc:
            model.state, model.error = "failed", f"model {name!r}: {exc}"
            return False
        except Exception as exc:  # a broken model must not leave a silent zombie worker
            log.exception("model %s (%s) failed during load or warm-up", name, handle)
            model.state, model.error = "failed", f"model {name!r} ({handle}) failed during load or warm-up: {exc}"
            return False
        model.state = "ready"
        if on_ready is not None:
            on_ready(model)
        log.info(
            "model ready: %s = %s (family %s, load %.2fs, warm-up %.2fs)",
            name,
            handle,
            model.detector.model.family,
            model.load_seconds,
            model.warmup_seconds,
        )
        return True


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
