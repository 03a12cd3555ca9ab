"""The edge-device baseline: the same detector in this process, one image at a time, same records."""

from __future__ import annotations

import os
import socket
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from client.files import ImageFile
from client.records import LOCAL, Record, round_s
from detector import (
    DEFAULT_MODEL_NAME,
    DetectionSettings,
    Detector,
    ImageDecodeError,
    ImageTooLargeError,
    OutputNameError,
    StageTimer,
    load_ready_model,
    output_target,
)


class LocalRunner:
    """Loads the model once (as a node does: load, then one warm-up inference) and runs images through it."""

    def __init__(
        self,
        model_handle: str | None,
        output_dir: Path,
        save_image: bool,
        notify: Callable[[str], None] = lambda message: None,
        model_name: str | None = None,
    ):
        # TensorFlow's C++ start-up chatter would bury the progress bar (gunicorn.conf.py does the same).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        # The node's own detection settings (MIN_SCORE, MAX_BOXES, MAX_IMAGE_SIDE, ... from the environment),
        # so a local run and a node given the same environment do the same work.
        settings = DetectionSettings.from_env()
        self.handle = model_handle or settings.model_handle
        self.output_dir = output_dir
        self.save_image = save_image
        notify(f"loading model {self.handle}")
        model = load_ready_model(self.handle, settings.tf_intra_op_threads, settings.tf_inter_op_threads)
        notify(f"model ready (load {model.load_seconds:.2f} s, warm-up {model.warmup_seconds:.2f} s)")
        self.host = socket.gethostname()
        self.detector = Detector(
            model, settings.detector_options(), node=self.host, model_name=model_name or DEFAULT_MODEL_NAME
        )

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

    def run(self, images: list[ImageFile], emit: Callable[[Record], None]) -> None:
        """Process every image and emit one record each."""
        for image in images:
            emit(self.process(image))

    def process(self, image: ImageFile) -> Record:
        """One image: read (timed as decode, as a node does in path mode), detect, write outputs."""
        timer = StageTimer()
        started_at = time.time()
        t0 = time.perf_counter()
        result, error = None, None
        try:
            target = output_target(self.output_dir, image.rel, self.save_image)
            with timer.stage("decode"):
                data = image.path.read_bytes()
            result, _ = self.detector.process(data, target, str(image.path), image.rel, timer=timer)
        except ImageTooLargeError as exc:
            error = f"image_too_large: {exc}"
        except ImageDecodeError as exc:
            error = f"undecodable_image: {exc}"
        except OutputNameError as exc:
            error = f"bad_request: {exc}"
        except OSError as exc:
            error = f"cannot read or write: {exc}"
        except Exception as exc:  # noqa: BLE001 - one bad image must not end the run without its record
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
        record = Record(
            file=image.rel,
            size=image.size,
            node=LOCAL,
            host=self.host,
            ok=error is None,
            error=error,
            attempts=1,
            tried=[LOCAL],
            round_trip=round_s(time.perf_counter() - t0),
            started_at=started_at,
            finished_at=time.time(),
        )
        if result is not None:
            record.add_result(result)
        return record
