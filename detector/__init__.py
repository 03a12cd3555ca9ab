"""Object detection on one image with a TF Hub detector; no web framework in here.

Importing this package does not import TensorFlow: that happens when a model is loaded,
so a process can import it before forking workers.
"""

from detector.handles import DEFAULT_HANDLE, is_remote, normalize_handle
from detector.imaging import DecodedImage, ImageDecodeError, ImageTooLargeError, check_decodable, decode_image
from detector.loading import configure_threads, load_model, load_ready_model
from detector.model import FAMILY_OPENIMAGES, FAMILY_ZOO, DetectionModel, ModelLoadError
from detector.outputs import OutputNameError, OutputTarget, annotated_name, output_target
from detector.pipeline import DEFAULT_MODEL_NAME, DetectionRun, Detector, DetectorOptions
from detector.result import STAGES, Detection, ResultJSON, StageTimer
from detector.settings import ConfigError, DetectionSettings

__all__ = [
    "DEFAULT_HANDLE",
    "DEFAULT_MODEL_NAME",
    "FAMILY_OPENIMAGES",
    "FAMILY_ZOO",
    "STAGES",
    "ConfigError",
    "DecodedImage",
    "Detection",
    "DetectionModel",
    "DetectionRun",
    "DetectionSettings",
    "Detector",
    "DetectorOptions",
    "ImageDecodeError",
    "ImageTooLargeError",
    "ModelLoadError",
    "OutputNameError",
    "OutputTarget",
    "ResultJSON",
    "StageTimer",
    "annotated_name",
    "check_decodable",
    "configure_threads",
    "decode_image",
    "is_remote",
    "load_model",
    "load_ready_model",
    "normalize_handle",
    "output_target",
]
