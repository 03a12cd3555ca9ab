"""Prometheus metrics of a node, correct across gunicorn workers (prometheus-client multiprocess mode).

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker starts; each
worker then writes its samples to files there and /metrics merges them. Without it (a plain
Flask process, tests) the app's own registry is exposed directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Inference ranges from ~50 ms (small models) to tens of seconds (Faster R-CNN on a slow CPU).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The node's metrics, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "detector_http_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "detector_http_request_seconds",
            "Request latency seen by the server",
            ["endpoint"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.stages = Histogram(
            "detector_stage_seconds",
            "Time per detection stage",
            ["stage", "model"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.images = Counter(
            "detector_images_processed", "Images detected successfully", ["mode", "model"], registry=r
        )
        self.in_flight = Gauge(
            "detector_in_flight_requests",
            "Requests being handled now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.model_load = Gauge(
            "detector_model_load_seconds",
            "Seconds the model took to load, per worker and model",
            ["model"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.model_warmup = Gauge(
            "detector_model_warmup_seconds",
            "Seconds of the warm-up inference, per worker and model",
            ["model"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.shed = Counter(
            "detector_shed_requests", "Detections refused with 503 because the queue was full", registry=r
        )
        self.inference_busy = Gauge(
            "detector_inference_busy", "Images in the model now", registry=r, multiprocess_mode="livesum"
        )
        self.inference_waiting = Gauge(
            "detector_inference_waiting",
            "Images admitted and not yet in the model (decoding or queued)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.model_ready = Gauge(
            "detector_model_ready",
            "Workers whose models are all loaded and warm",
            registry=r,
            multiprocess_mode="livesum",
        )

    def observe_stages(self, timings: Mapping[str, object], model: str) -> None:
        """Record one detection's stage timings (stages that did not run are skipped)."""
        for stage, seconds in timings.items():
            if isinstance(seconds, int | float) and (seconds > 0 or stage in ("decode", "queue", "inference", "total")):
                self.stages.labels(stage, model).observe(seconds)

    def observe_queue(self, busy: int, waiting: int) -> None:
        """The inference slots changed (called by detector.slots.InferenceSlots)."""
        self.inference_busy.set(busy)
        self.inference_waiting.set(waiting)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type, merged over workers when multiprocess."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
