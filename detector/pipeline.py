"""One image through decode, inference, annotation and output, with per-stage timings."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from detector.annotate import draw_detections
from detector.imaging import ImageSource, decode_image
from detector.outputs import OutputTarget, dump_json, result_url, write_bytes_atomic, write_image_atomic
from detector.result import Detection, ResultJSON, StageTimer
from detector.slots import Reservation

DEFAULT_MODEL_NAME = "default"  # a node's only model, when MODELS is not set; a --local run's model


class Model(Protocol):
    """What the pipeline needs of a model (DetectionModel, or a stand-in in tests)."""

    handle: str
    family: str

    def predict(self, rgb: np.ndarray) -> list[Detection]:
        """All detections for a uint8 [H, W, 3] array, sorted by score, descending."""


@dataclass(frozen=True)
class DetectorOptions:
    """Per-process detection settings."""

    min_score: float = 0.1
    max_boxes: int = 10
    max_image_side: int = 1024
    max_image_pixels: int = 50_000_000


@dataclass
class DetectionRun:
    """Everything one call produced, before it becomes a result record."""

    detections: list[Detection]
    width: int
    height: int
    timer: StageTimer = field(default_factory=StageTimer)


class Detector:
    """A loaded model plus the options; knows nothing of HTTP."""

    def __init__(
        self,
        model: Model,
        options: DetectorOptions | None = None,
        node: str | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
    ):
        self.model = model
        self.options = options or DetectorOptions()
        self.node = node or socket.gethostname()
        self.model_name = model_name  # what requests pick it by (MODELS), in the result's `model.name`

    def detect(
        self,
        source: ImageSource,
        annotate_to: Path | None = None,
        timer: StageTimer | None = None,
        reservation: Reservation | None = None,
    ) -> DetectionRun:
        """Decode, run the model and (when `annotate_to` is set) draw and save the annotated image.

        Pass `timer` to count work done before the call (such as reading the file) in the totals, and
        `reservation` to run the model only in one of its InferenceSlots (the wait is the `queue` stage).
        """
        timer = timer or StageTimer()
        opts = self.options
        with timer.stage("decode"):
            decoded = decode_image(
                source,
                max_side=opts.max_image_side,
                max_pixels=opts.max_image_pixels,
                keep_full=annotate_to is not None,
            )
        with ExitStack() as slot:
            if reservation is not None:
                with timer.stage("queue"):
                    slot.enter_context(reservation.slot())
            with timer.stage("inference"):
                found = self.model.predict(decoded.array)
        detections = [d for d in found if d.score >= opts.min_score]
        if annotate_to is not None and decoded.full is not None:  # keep_full was set: the full image is there
            with timer.stage("annotate"):
                # decoded.full is this call's own copy: draw on it rather than on another copy.
                annotated = draw_detections(decoded.full, detections, opts.max_boxes, in_place=True)
            with timer.stage("write"):
                write_image_atomic(annotated, annotate_to)
        return DetectionRun(detections, decoded.width, decoded.height, timer)

    def process(
        self,
        source: ImageSource,
        target: OutputTarget,
        input_name: str,
        file_name: str,
        timer: StageTimer | None = None,
        request_id: str | None = None,
        reservation: Reservation | None = None,
    ) -> tuple[ResultJSON, bytes]:
        """Detect, write the annotated image (if asked) and the result JSON; return record and its bytes.

        Timings are final before the JSON is serialised, so the file and the response are identical;
        `write` covers the annotated image, the JSON write itself (well under a millisecond) is not timed.
        """
        run = self.detect(source, annotate_to=target.image, timer=timer, reservation=reservation)
        record = self.result_record(run, input_name, file_name, target)
        if request_id is not None:  # a node's request; local runs have none
            record["request_id"] = request_id
        data = dump_json(record)
        write_bytes_atomic(data, target.json)
        return record, data

    def result_record(self, run: DetectionRun, input_name: str, file_name: str, target: OutputTarget) -> ResultJSON:
        """The result JSON (detector.result.ResultJSON): the keys the old notebooks read, then the full detail."""
        timings: Any = run.timer.finish()
        dets = run.detections
        return {
            "objects_found": len(dets),
            "detection_class_entities": [d.label for d in dets],
            "detection_scores": [round(d.score, 4) for d in dets],
            "inference_time": timings["inference"],
            "total_det_loop_time": timings["total"],
            "annotated_image_path": str(target.image) if target.image is not None else "",
            "input": input_name,
            "file": file_name,
            "image": {"width": run.width, "height": run.height},
            "model": {"name": self.model_name, "handle": self.model.handle, "family": self.model.family},
            "min_score": self.options.min_score,
            "detections": [d.to_dict() for d in dets],
            "timings": timings,
            "result_path": str(target.json),
            "annotated_image_url": result_url(target.root, target.image),
            "result_url": result_url(target.root, target.json),
            "node": self.node,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
