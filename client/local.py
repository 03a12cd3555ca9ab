"""The edge-device baseline: the same detector in this process, one image at a time, same records."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client.files import ImageFile
from client.preprocess import Preprocess, prepare
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
from detector.quiet import log_to_stderr, quiet_tensorflow, wants_verbose


class LocalRunner:
    """Loads the model once (as a node does: load, then one warm-up inference) and runs images through it."""

    def __init__(
        self,
        model_handle: str | None,
        output_dir: Path,
        save_image: bool,
        notify: Callable[[str], None] = lambda message: None,
        verbose: bool = False,
        preprocess: Preprocess | None = None,
        model_name: str | None = None,
    ):
        # The node's own detection settings (MIN_SCORE, MAX_BOXES, MAX_IMAGE_SIDE, ... from the environment),
        # so a local run and a node given the same environment do the same work.
        settings = DetectionSettings.from_env()
        # TensorFlow's native start-up lines would bury the progress bar: held back unless asked for.
        quiet_tensorflow(wants_verbose(verbose, settings.log_level))
        log_to_stderr("sender")  # which source served a remote model, download progress
        self.handle = model_handle or settings.model_handle
        self.output_dir = output_dir
        self.save_image = save_image
        self.preprocess = preprocess or Preprocess()
        notify(f"loading model {self.handle}")
        model = load_ready_model(
            self.handle, settings.tf_intra_op_threads, settings.tf_inter_op_threads, settings.tfhub_host_list
        )
        notify(f"model ready (load {model.load_seconds:.2f} s, warm-up {model.warmup_seconds:.2f} s)")
        self.host = socket.gethostname()
        self.detector = Detector(
            model, settings.detector_options(), node=self.host, model_name=model_name or DEFAULT_MODEL_NAME
        )
        self.min_score = settings.min_score

    def info(self) -> dict[str, Any]:
        """This machine as the one that runs the model: hardware, TensorFlow's devices, versions, the model."""
        from measure.sysinfo import load_average, machine, package_versions, tensorflow_devices

        model = self.detector.model
        return {
            "node": self.host,
            "machine": machine(),
            "tensorflow": tensorflow_devices(),  # TensorFlow is loaded in this process by now
            "versions": package_versions(),
            "model": {"name": self.detector.model_name, "handle": self.handle, "family": model.family},
            "limits": {"min_score": self.min_score},
            "load_at_start": load_average(),
        }

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
        """One image: read (timed as decode, as a node does in path mode) or preprocess (timed as the
        client stage `encode`, before the per-image clock starts, as in upload mode), detect, write outputs."""
        started_at = time.time()
        encode = 0.0
        result, error = None, None
        timer = StageTimer()
        t0 = time.perf_counter()
        try:
            target = output_target(self.output_dir, image.rel, self.save_image)
            if self.preprocess.active:
                prepared = prepare(image.path, self.preprocess)
                encode = prepared.seconds
                timer = StageTimer()  # the detector's stages start after the edge's own work
                t0 = time.perf_counter()
                data = prepared.data
            else:
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
            encode=round(encode, 6),
            round_trip=round_s(time.perf_counter() - t0),
            started_at=started_at,
            finished_at=time.time(),
        )
        if result is not None:
            record.add_result(result)
        return record
