"""Object detection on one image with a TF Hub detector; no web framework in here.

Importing this package does not import TensorFlow: that happens when a model is loaded,
so a process can import it before forking workers.
"""
from detector.imaging import DecodedImage, ImageDecodeError, ImageTooLargeError, decode_image
from detector.model import (
    DEFAULT_HANDLE,
    FAMILY_OPENIMAGES,
    FAMILY_ZOO,
    DetectionModel,
    ModelLoadError,
    configure_threads,
    load_model,
)
from detector.outputs import annotated_name
from detector.pipeline import Detector, DetectorOptions, DetectionRun, OutputTarget
from detector.result import STAGES, Detection, StageTimer

__all__ = [
    "DEFAULT_HANDLE", "FAMILY_OPENIMAGES", "FAMILY_ZOO", "STAGES", "DecodedImage", "Detection",
    "DetectionModel", "DetectionRun", "Detector", "DetectorOptions", "ImageDecodeError",
    "ImageTooLargeError", "ModelLoadError", "OutputTarget", "StageTimer", "annotated_name",
    "configure_threads", "decode_image", "load_model",
]
