"""Every setting of a node, read from environment variables in this one place."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Mapping

from detector.model import DEFAULT_HANDLE


class ConfigError(ValueError):
    """An environment variable holds a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    """Node settings; each field is read from the environment variable of the same name, upper-cased."""

    model_handle: str = DEFAULT_HANDLE
    images_dir: str = "/app/images"
    output_dir: str = "/app/output"
    min_score: float = 0.1
    max_boxes: int = 10
    max_image_side: int = 1024  # longer side given to the model; 0 = never downscale
    max_image_pixels: int = 50_000_000  # larger declared sizes are refused (decompression bombs)
    max_upload_mb: float = 20.0
    ready_wait_seconds: float = 30.0  # a detect request during start-up waits this long for the model, then 503
    host: str = "0.0.0.0"
    port: int = 5000
    workers: int = 1  # processes; each loads its own copy of the model
    threads: int = 2  # requests in flight per worker: decode/draw/write overlap inference
    timeout: int = 120  # seconds a worker may stay silent before gunicorn restarts it
    graceful_timeout: int = 30  # seconds in-flight requests get to finish on SIGTERM
    log_level: str = "info"
    tf_intra_op_threads: int = 0  # 0 = TensorFlow's default (all cores)
    tf_inter_op_threads: int = 0
    tfhub_cache_dir: str = ""  # read by tensorflow_hub itself; shown in /api/info
    api_key: str = ""  # when set, every endpoint but /api/health requires it
    prometheus_multiproc_dir: str = ""  # set by gunicorn.conf.py when empty: metrics shared by workers

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from `environ` (default: os.environ); unset or empty keeps the default."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            raw = raw.strip()
            kind = type(f.default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError for values that cannot work."""
        checks = [
            (0.0 <= self.min_score <= 1.0, "MIN_SCORE must be between 0 and 1"),
            (self.max_boxes >= 0, "MAX_BOXES must be >= 0"),
            (self.max_image_side >= 0, "MAX_IMAGE_SIDE must be >= 0 (0 = never downscale)"),
            (self.max_image_pixels > 0, "MAX_IMAGE_PIXELS must be > 0"),
            (self.max_upload_mb > 0, "MAX_UPLOAD_MB must be > 0"),
            (self.ready_wait_seconds >= 0, "READY_WAIT_SECONDS must be >= 0"),
            (0 < self.port < 65536, "PORT must be between 1 and 65535"),
            (self.workers >= 1, "WORKERS must be >= 1"),
            (self.threads >= 1, "THREADS must be >= 1"),
            (self.timeout >= 1, "TIMEOUT must be >= 1"),
            (self.tf_intra_op_threads >= 0 and self.tf_inter_op_threads >= 0, "TF_*_THREADS must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def flask_config(self) -> dict:
        """Settings as Flask config keys (upper case)."""
        return {k.upper(): v for k, v in asdict(self).items()}
