"""The result of one detection: plain data types, and the one definition of the result JSON's keys.

ResultJSON is what a node answers and writes beside the annotated image (and what the sender's
local runner writes). This module does not use `from __future__ import annotations`: TypedDict needs
real annotations to tell NotRequired keys apart. app/openapi.py generates the OpenAPI schema from these TypedDicts, the
pipeline builds the record with exactly these keys, and tests check both against a real answer.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, NotRequired, TypedDict

STAGES = ("decode", "queue", "inference", "annotate", "write", "total")


# Each key's type, then its description, then (optionally) extra JSON-schema constraints.
Fraction = Annotated[float, "in [0, 1]", {"minimum": 0, "maximum": 1}]


class DetectionJSON(TypedDict):
    """One detection in the result JSON."""

    label: Annotated[str, "class label as the model names it"]
    score: Fraction
    box: Annotated[list[Fraction], "[ymin, xmin, ymax, xmax], normalised to [0, 1]", {"minItems": 4, "maxItems": 4}]


class ImageSizeJSON(TypedDict):
    """Size of the input in pixels, after EXIF orientation."""

    width: Annotated[int, "pixels"]
    height: Annotated[int, "pixels"]


class ModelJSON(TypedDict):
    """The model that answered."""

    name: Annotated[str, "the model's name on the node (MODELS; `default` for MODEL_HANDLE alone)"]
    handle: Annotated[str, "the model's handle (MODELS or MODEL_HANDLE)"]
    family: Annotated[str, "openimages or tf2-detection-zoo"]


class TimingsJSON(TypedDict):
    """Seconds per stage of the node's work on this image."""

    decode: Annotated[float, "read + decode + resize"]
    queue: Annotated[float, "waiting for an inference slot (INFERENCE_CONCURRENCY) behind other images"]
    inference: Annotated[float, "the model alone"]
    annotate: Annotated[float, "drawing the boxes (0 without output)"]
    write: Annotated[float, "writing the annotated image (0 without output)"]
    total: Annotated[
        float,
        "from the start of the request's work to the final result, before the JSON itself is written; "
        "for uploads it starts once the body is received, so round trip - total is the transfer share",
    ]


class ResultJSON(TypedDict):
    """The result JSON: the keys the old notebooks read first, then the full detail."""

    objects_found: Annotated[int, "number of detections returned (score >= min_score)", {"minimum": 0}]
    detection_class_entities: Annotated[list[str], "their labels, best first"]
    detection_scores: Annotated[list[float], "their scores in [0, 1], same order"]
    inference_time: Annotated[float, "model time alone (= timings.inference)"]
    total_det_loop_time: Annotated[float, "server time for the whole request (= timings.total)"]
    annotated_image_path: Annotated[str, "where the annotated image was written; empty when output was off"]
    input: Annotated[str, "what the client sent: the input value, or the upload's file name"]
    file: Annotated[str, "the image's path relative to IMAGES_DIR (links resolved), or uploads/..."]
    image: ImageSizeJSON
    model: ModelJSON
    min_score: Annotated[float, "the threshold applied"]
    detections: Annotated[list[DetectionJSON], "every detection, best first"]
    timings: TimingsJSON
    result_path: Annotated[str, "where this JSON was written"]
    annotated_image_url: Annotated[
        str, "the annotated image's URL on the node, /api/results/<path under OUTPUT_DIR>; empty when output was off"
    ]
    result_url: Annotated[str, "this JSON's URL on the node, /api/results/<path under OUTPUT_DIR>"]
    node: Annotated[str, "host name of the machine that ran the model"]
    created_at: Annotated[str, "UTC time, ISO 8601", {"format": "date-time"}]
    request_id: NotRequired[Annotated[str, "the request's id (X-Request-ID or generated); absent in --local runs"]]


@dataclass(frozen=True)
class Detection:
    """One detected object: class label, score in [0, 1], box (ymin, xmin, ymax, xmax) in [0, 1]."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> DetectionJSON:
        """JSON-ready form, rounded so files stay small and diffs stay readable."""
        return {"label": self.label, "score": round(self.score, 4), "box": [round(v, 4) for v in self.box]}


@dataclass
class StageTimer:
    """Wall-clock seconds per stage, measured with a monotonic clock."""

    seconds: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent in the `with` block to stage `name`."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def finish(self) -> dict[str, float]:
        """Set `total` to the time since the timer started and return all stages."""
        self.seconds["total"] = time.perf_counter() - self.started
        return {k: round(v, 6) for k, v in self.seconds.items()}
