"""Every setting of a node, read from environment variables in one place.

The detection settings (MODEL_HANDLE, MIN_SCORE, ...) come from detector.settings, which the
sender's local runner shares; this class adds the service's own (folders, HTTP, gunicorn, API key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from detector.pipeline import DEFAULT_MODEL_NAME
from detector.settings import ConfigError, DetectionSettings

__all__ = ["ConfigError", "ModelSpec", "Settings"]

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelSpec:
    """One model a node serves: the name requests pick it by, and its handle."""

    name: str
    handle: str


def parse_models(text: str) -> list[ModelSpec]:
    """`name=handle,name2=handle2` as specs, in order; ConfigError naming the entry that is wrong."""
    specs: list[ModelSpec] = []
    for entry in (e.strip() for e in text.split(",")):
        name, sep, handle = entry.partition("=")
        name, handle = name.strip(), handle.strip()
        if not sep or not handle:
            raise ConfigError(f'MODELS entry {entry!r} is not name=handle (MODELS="small=/models/a,big=https://...")')
        if not _MODEL_NAME.match(name):
            raise ConfigError(
                f"MODELS name {name!r} is not valid: 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if any(s.name == name for s in specs):
            raise ConfigError(f"MODELS names {name!r} twice")
        specs.append(ModelSpec(name, handle))
    return specs


@dataclass(frozen=True)
class Settings(DetectionSettings):
    """Node settings; each field is read from the environment variable of the same name, upper-cased."""

    models: str = ""  # name=handle,...: several models per node, the first is the default (else MODEL_HANDLE)
    images_dir: str = "/app/images"
    output_dir: str = "/app/output"
    max_upload_mb: float = 20.0
    ready_wait_seconds: float = 30.0  # a detect request during start-up waits this long for the model, then 503
    host: str = "0.0.0.0"
    port: int = 5000
    workers: int = 1  # processes; each loads its own copy of the model
    threads: int = 16  # requests handled at once per worker (decode, queue, draw, write); probes have their own
    inference_concurrency: int = 2  # images in the model at once per worker (measured: bench/RESULTS.md, 7 and 8)
    max_queue: int = 2  # images admitted per worker beyond those in the model; more get 503 at once (-1: no bound)
    max_queue_wait: float = 30.0  # 503 at once when the estimated wait for the model is longer (0: no limit)
    header_timeout: float = 10.0  # seconds for the request line and headers to arrive, else 408
    body_stall_seconds: float = 10.0  # a body with no new byte for this long gets 408
    body_min_rate: float = 10_000.0  # bytes/s: a body slower than this on average (once older than the stall) gets 408
    body_timeout: float = 600.0  # seconds for a whole body, else 408
    timeout: int = 120  # seconds a worker may stay silent before gunicorn restarts it
    graceful_timeout: int = 30  # seconds in-flight requests get to finish on SIGTERM
    tfhub_cache_dir: str = ""  # read by tensorflow_hub itself; shown in /api/info
    api_key: str = ""  # when set, every endpoint but /api/health requires it
    prometheus_multiproc_dir: str = ""  # set by gunicorn.conf.py when empty: metrics shared by workers

    def model_specs(self) -> list[ModelSpec]:
        """The models this node serves: MODELS, or MODEL_HANDLE alone under the name `default`."""
        if self.models.strip():
            return parse_models(self.models)
        return [ModelSpec(DEFAULT_MODEL_NAME, self.model_handle)]

    def validate(self) -> None:
        """The checks below, and MODELS parsed (ConfigError for duplicates or bad names)."""
        super().validate()
        self.model_specs()

    def checks(self) -> list[tuple[bool, str]]:
        """The detection checks, then the service's."""
        return super().checks() + [
            (self.max_upload_mb > 0, "MAX_UPLOAD_MB must be > 0"),
            (self.ready_wait_seconds >= 0, "READY_WAIT_SECONDS must be >= 0"),
            (0 < self.port < 65536, "PORT must be between 1 and 65535"),
            (self.workers >= 1, "WORKERS must be >= 1"),
            (self.threads >= 1, "THREADS must be >= 1"),
            (self.inference_concurrency >= 1, "INFERENCE_CONCURRENCY must be >= 1"),
            (self.max_queue >= -1, "MAX_QUEUE must be >= 0 (or -1: no bound)"),
            (self.max_queue_wait >= 0, "MAX_QUEUE_WAIT must be >= 0 (0: no limit)"),
            (
                min(self.header_timeout, self.body_stall_seconds, self.body_timeout) > 0 and self.body_min_rate >= 0,
                "HEADER_TIMEOUT, BODY_STALL_SECONDS and BODY_TIMEOUT must be > 0, BODY_MIN_RATE >= 0",
            ),
            (self.timeout >= 1, "TIMEOUT must be >= 1"),
        ]

    def warnings(self) -> list[str]:
        """Settings that work, but not as well as they could (logged when a node starts)."""
        admitted = self.inference_concurrency + max(self.max_queue, 0) + 1
        if self.max_queue >= 0 and self.threads < admitted:
            return [
                f"THREADS={self.threads} is below INFERENCE_CONCURRENCY + MAX_QUEUE + 1 = {admitted}: requests "
                "beyond THREADS wait for a thread before the queue bound can answer them 503"
            ]
        return []

    def flask_config(self) -> dict[str, object]:
        """Settings as Flask config keys (upper case)."""
        return self.as_upper_dict()
