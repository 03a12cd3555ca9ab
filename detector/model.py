"""A loaded TF Hub object detector of either family, run on one RGB array.

TensorFlow is imported only inside functions (here and in detector.loading), so the rest of the
package (and the gunicorn master, which imports the config) never pays for it or starts TF
threads before a fork.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detector.result import Detection

FAMILY_OPENIMAGES = "openimages"  # signature `default`: float [0,1] in, string entities out, no batch axis
FAMILY_ZOO = "tf2-detection-zoo"  # uint8 `input_tensor` in, batched outputs, numeric COCO ids
_LABELS_FILE = Path(__file__).with_name("coco_labels.txt")


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says which handle and what to do."""


def load_coco_labels(path: Path = _LABELS_FILE) -> dict[int, str]:
    """COCO 91-id label map kept in the repo: {1: "Person", ..., 90: "Toothbrush"}."""
    labels = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            ident, name = line.split(" ", 1)  # names such as "Traffic light" contain spaces
            labels[int(ident)] = name.strip()
    return labels


@dataclass
class _Signature:
    fn: Callable[..., dict]
    name: str
    input_key: str
    input_is_float: bool
    batched: bool
    entities: bool  # string class names in the output (else numeric ids)
    any_size: bool = False  # the input takes [1, H, W, 3] for any H and W


def _find_signature(obj: Any) -> _Signature:
    """Pick the detection signature and read its contract from the loaded object itself."""
    signatures = dict(getattr(obj, "signatures", {}) or {})
    ordered = [n for n in ("default", "serving_default") if n in signatures]
    ordered += [n for n in signatures if n not in ordered]
    seen = []
    for name in ordered:
        fn = signatures[name]
        _, inputs = fn.structured_input_signature
        outputs = fn.structured_outputs
        seen.append(f"{name}({', '.join(inputs)}) -> {', '.join(outputs) if isinstance(outputs, dict) else '?'}")
        if not isinstance(outputs, dict) or len(inputs) != 1:
            continue
        if "detection_boxes" not in outputs or "detection_scores" not in outputs:
            continue
        entities = "detection_class_entities" in outputs
        if not entities and "detection_classes" not in outputs:
            continue
        ((input_key, spec),) = inputs.items()
        shape = spec.shape
        return _Signature(
            fn=fn,
            name=name,
            input_key=input_key,
            input_is_float=spec.dtype.is_floating,
            batched=outputs["detection_boxes"].shape.rank == 3,
            entities=entities,
            any_size=shape.rank == 4 and shape[1] is None and shape[2] is None and shape[0] in (None, 1),
        )
    raise ModelLoadError(
        "the model has no object-detection signature (one image input; detection_boxes, "
        "detection_scores and detection_class_entities or detection_classes outputs). "
        f"Signatures found: {'; '.join(seen) or 'none'}"
    )


def _uint8_call(sig: _Signature) -> Callable[[Any], dict] | None:
    """The signature as one graph that takes the uint8 image (None: call the signature as it is).

    A float model then converts the image inside the graph, instead of numpy building (and TF
    copying) a float array four times the size first: about 2 ms less per 640x427 photo.
    """
    import tensorflow as tf

    fn, key = sig.fn, sig.input_key
    if not sig.input_is_float or not sig.any_size:
        return None  # uint8 models take the array as it is; fixed-size inputs keep their own checks

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
    def call(batch):
        # Not `/ 255.0`: Grappler rewrites that into a multiply by 1/255, which is off by one ulp for
        # half the levels. divide_no_nan divides, so the model gets bit for bit what it got before.
        return fn(**{key: tf.math.divide_no_nan(tf.cast(batch, tf.float32), tf.constant(255.0))})

    return call


class DetectionModel:
    """A loaded detector of either TF Hub family, called on one uint8 RGB array."""

    def __init__(self, handle: str, obj: Any, load_seconds: float = 0.0):
        self.handle = handle
        self.load_seconds = load_seconds
        self.warmup_seconds = 0.0  # set by warm_up()
        self._obj = obj  # keeps the variables the signature closes over alive
        self._sig = _find_signature(obj)
        self._call = _uint8_call(self._sig)
        self.family = FAMILY_OPENIMAGES if self._sig.entities else FAMILY_ZOO
        self._labels = None if self._sig.entities else load_coco_labels()

    @property
    def signature_name(self) -> str:
        """Name of the serving signature in use."""
        return self._sig.name

    @property
    def label_count(self) -> int | None:
        """Number of classes in the label map; None when the model names its own classes."""
        return None if self._labels is None else len(self._labels)

    def predict(self, rgb: np.ndarray) -> list[Detection]:
        """Run the model on a uint8 [H, W, 3] array; all detections, sorted by score, descending."""
        import tensorflow as tf

        batch = rgb[np.newaxis, ...]
        if self._call is not None:
            out = self._call(tf.constant(batch))
        else:
            if self._sig.input_is_float:
                batch = np.divide(batch, np.float32(255.0), dtype=np.float32)
            out = self._sig.fn(**{self._sig.input_key: tf.constant(batch)})
        return self._parse(out)

    def _parse(self, out: dict) -> list[Detection]:
        def take(key: str) -> np.ndarray:
            value = out[key].numpy()
            return value[0] if self._sig.batched else value

        boxes = take("detection_boxes")
        scores = take("detection_scores")
        if self._sig.entities:
            names = [n.decode("utf-8", "replace") for n in take("detection_class_entities")]
        else:
            labels = self._labels or {}  # set for every model without class names of its own
            ids = np.rint(take("detection_classes")).astype(int)
            names = [labels.get(int(i), f"Class {int(i)}") for i in ids]
        count = len(scores)
        if "num_detections" in out:  # rows past it are padding (score 0, class 1)
            count = min(count, int(np.ravel(out["num_detections"].numpy())[0]))
        # Whole arrays at once: per-row numpy calls cost more than the model's post-processing here.
        score_list = scores[:count].tolist()
        box_list = np.clip(boxes[:count], 0.0, 1.0).tolist()
        detections = [Detection(label=names[i], score=score_list[i], box=tuple(box_list[i])) for i in range(count)]
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections

    def warm_up(self) -> float:
        """Run one inference on a small synthetic image (traces the graph); return its seconds."""
        t0 = time.perf_counter()
        gradient = np.linspace(0, 255, 64 * 64 * 3, dtype=np.float32).reshape(64, 64, 3)
        self.predict(gradient.astype(np.uint8))
        self.warmup_seconds = time.perf_counter() - t0
        return self.warmup_seconds
