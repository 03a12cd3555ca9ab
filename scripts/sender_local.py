"""The edge-device baseline: the same detector in this process, one image at a time, same records."""
from __future__ import annotations

import os
import socket
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from scripts.sender_files import ImageFile
from scripts.sender_records import round_s

LOCAL = "local"  # the `node` of local records


class LocalRunner:
    """Loads the model once (like a node: load, then one warm-up inference) and runs images through it."""

    def __init__(self, model_handle: str | None, output_dir: Path, save_image: bool,
                 notify: Callable[[str], None] = lambda message: None):
        # TensorFlow's C++ start-up chatter would bury the progress bar (gunicorn.conf.py does the same).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        # The node's own settings (MIN_SCORE, MAX_BOXES, MAX_IMAGE_SIDE, ... from the environment),
        # so a local run and a node given the same environment do the same work.
        from app.config import Settings
        from detector import Detector, DetectorOptions, configure_threads, load_model

        settings = Settings.from_env()
        self.handle = model_handle or settings.model_handle
        self.output_dir = output_dir
        self.save_image = save_image
        configure_threads(settings.tf_intra_op_threads, settings.tf_inter_op_threads)
        notify(f"loading model {self.handle}")
        model = load_model(self.handle)
        warm = model.warm_up()
        notify(f"model ready (load {model.load_seconds:.2f} s, warm-up {warm:.2f} s)")
        options = DetectorOptions(
            min_score=settings.min_score,
            max_boxes=settings.max_boxes,
            max_image_side=settings.max_image_side,
            max_image_pixels=settings.max_image_pixels,
        )
        self.host = socket.gethostname()
        self.detector = Detector(model, options, node=self.host)

    def warm(self, images: list[ImageFile]) -> None:
        """Process these images once with every output going to a scratch folder, and forget them."""
        keep = self.output_dir
        with tempfile.TemporaryDirectory(prefix="sender-warmup-") as scratch:
            self.output_dir = Path(scratch)
            try:
                for image in images:
                    self.process(image)
            finally:
                self.output_dir = keep

    def run(self, images: list[ImageFile], emit: Callable[[dict], None]) -> None:
        """Process every image and emit one record each."""
        for image in images:
            emit(self.process(image))

    def process(self, image: ImageFile) -> dict:
        """One image: read (timed as decode, as a node does in path mode), detect, write outputs."""
        from app.inputs import output_target
        from detector import ImageDecodeError, ImageTooLargeError, StageTimer

        target = output_target(str(self.output_dir), image.rel, self.save_image)
        timer = StageTimer()
        started_at = time.time()
        t0 = time.perf_counter()
        result, error = {}, None
        try:
            with timer.stage("decode"):
                data = image.path.read_bytes()
            result, _ = self.detector.process(data, target, str(image.path), image.rel, timer=timer)
        except ImageTooLargeError as exc:
            error = f"image_too_large: {exc}"
        except ImageDecodeError as exc:
            error = f"undecodable_image: {exc}"
        except OSError as exc:
            error = f"cannot read or write: {exc}"
        except Exception as exc:  # noqa: BLE001 - one bad image must not end the run without its record
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
        round_trip = time.perf_counter() - t0
        timings = result.get("timings")
        return {
            "file": image.rel,
            "size": image.size,
            "node": LOCAL,
            "host": self.host,
            "ok": error is None,
            "status": None,  # no HTTP in a local run
            "error": error,
            "attempts": 1,
            "tried": [LOCAL],
            "bytes_sent": 0,
            "request_bytes": 0,
            "round_trip": round_s(round_trip),
            "timings": timings,
            "transfer": round_s(round_trip - timings["total"]) if timings else None,
            "started_at": started_at,
            "finished_at": time.time(),
            "objects_found": result.get("objects_found"),
            "labels": result.get("detection_class_entities"),
            "scores": result.get("detection_scores"),
            "result_path": result.get("result_path"),
        }
