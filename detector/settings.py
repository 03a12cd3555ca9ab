"""Detection settings from environment variables: the one reader every process uses.

A node (app.config.Settings extends DetectionSettings with the service's own fields) and the
sender's local runner read the same variables here, so a local run and a node given the same
environment do the same work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from detector.handles import DEFAULT_HANDLE
from detector.pipeline import DetectorOptions
from detector.sources import parse_hosts


class ConfigError(ValueError):
    """An environment variable holds a value we cannot use."""


@dataclass(frozen=True)
class DetectionSettings:
    """What a detector needs; each field is read from the environment variable of its name, upper-cased."""

    model_handle: str = DEFAULT_HANDLE
    min_score: float = 0.1
    max_boxes: int = 10
    max_image_side: int = 1024  # longer side given to the model; 0 = never downscale
    max_image_pixels: int = 50_000_000  # larger declared sizes are refused (decompression bombs)
    tf_intra_op_threads: int = 0  # 0 = TensorFlow's default (all cores)
    tf_inter_op_threads: int = 0
    log_level: str = "info"  # a node's log level; `debug` also shows TensorFlow's native log in the tools
    tfhub_hosts: str = "tfhub.dev"  # hosts whose handles fall back to Kaggle Models (detector/sources.py)

    @property
    def tfhub_host_list(self) -> tuple[str, ...]:
        """TFHUB_HOSTS as a tuple of lower-case host[:port] names."""
        return parse_hosts(self.tfhub_hosts)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build settings from `environ` (default: os.environ); unset or empty keeps the default."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or raw.strip() == "":
                continue
            raw = raw.strip()
            kind: type = type(f.default)  # every field has a default of the field's own type
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def checks(self) -> list[tuple[bool, str]]:
        """(condition, message) pairs; a subclass adds its own."""
        return [
            (0.0 <= self.min_score <= 1.0, "MIN_SCORE must be between 0 and 1"),
            (self.max_boxes >= 0, "MAX_BOXES must be >= 0"),
            (self.max_image_side >= 0, "MAX_IMAGE_SIDE must be >= 0 (0 = never downscale)"),
            (self.max_image_pixels > 0, "MAX_IMAGE_PIXELS must be > 0"),
            (self.tf_intra_op_threads >= 0 and self.tf_inter_op_threads >= 0, "TF_*_THREADS must be >= 0"),
        ]

    def validate(self) -> None:
        """Raise ConfigError for the first value that cannot work."""
        for ok, message in self.checks():
            if not ok:
                raise ConfigError(message)

    def detector_options(self) -> DetectorOptions:
        """The per-process options of a Detector built from these settings."""
        return DetectorOptions(
            min_score=self.min_score,
            max_boxes=self.max_boxes,
            max_image_side=self.max_image_side,
            max_image_pixels=self.max_image_pixels,
        )

    def as_upper_dict(self) -> dict[str, Any]:
        """Every setting under its environment variable's name (Flask config keys)."""
        return {k.upper(): v for k, v in asdict(self).items()}
