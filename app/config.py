"""Every setting of a node, read from environment variables in one place.

The detection settings (MODEL_HANDLE, MIN_SCORE, ...) come from detector.settings, which the
sender's local runner shares; this class adds the service's own (folders, HTTP, gunicorn, API key).
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.settings import ConfigError, DetectionSettings

__all__ = ["ConfigError", "Settings"]


@dataclass(frozen=True)
class Settings(DetectionSettings):
    """Node settings; each field is read from the environment variable of the same name, upper-cased."""

    images_dir: str = "/app/images"
    output_dir: str = "/app/output"
    max_upload_mb: float = 20.0
    ready_wait_seconds: float = 30.0  # a detect request during start-up waits this long for the model, then 503
    host: str = "0.0.0.0"
    port: int = 5000
    workers: int = 1  # processes; each loads its own copy of the model
    threads: int = 2  # requests in flight per worker: decode/draw/write overlap inference
    timeout: int = 120  # seconds a worker may stay silent before gunicorn restarts it
    graceful_timeout: int = 30  # seconds in-flight requests get to finish on SIGTERM
    tfhub_cache_dir: str = ""  # read by tensorflow_hub itself; shown in /api/info
    api_key: str = ""  # when set, every endpoint but /api/health requires it
    prometheus_multiproc_dir: str = ""  # set by gunicorn.conf.py when empty: metrics shared by workers

    def checks(self) -> list[tuple[bool, str]]:
        """The detection checks, then the service's."""
        return super().checks() + [
            (self.max_upload_mb > 0, "MAX_UPLOAD_MB must be > 0"),
            (self.ready_wait_seconds >= 0, "READY_WAIT_SECONDS must be >= 0"),
            (0 < self.port < 65536, "PORT must be between 1 and 65535"),
            (self.workers >= 1, "WORKERS must be >= 1"),
            (self.threads >= 1, "THREADS must be >= 1"),
            (self.timeout >= 1, "TIMEOUT must be >= 1"),
        ]

    def flask_config(self) -> dict[str, object]:
        """Settings as Flask config keys (upper case)."""
        return self.as_upper_dict()
