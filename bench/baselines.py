"""What a user would run without the service, in this process: the model alone, and plain scripts.

(a) the model alone: the signature called on images decoded beforehand exactly as the service
    decodes them (same pixels, so the same model work), outputs fetched with .numpy().
(b) a plain script that reads, decodes and runs the model per file, as the shared models' README
    shows: Pillow decode, tf.image.convert_image_dtype, the signature, .numpy(). It decodes with the
    same library as the service, so on images the service does not downscale the model gets the
    same pixels and does the same work. (Decoding with tf.image.decode_jpeg, as the TF Hub tutorial
    does, gives slightly different pixels, and this detector's post-processing time depends on them.)
    It gives the model the whole image, however large: what a user writes without the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


class RawModel:
    """A SavedModel loaded the way the TF Hub examples do: hub.load(handle).signatures["default"]."""

    def __init__(self, handle: str):
        import tensorflow_hub as hub

        self._obj = hub.load(handle)
        self.fn = self._obj.signatures["default"]

    def call(self, x) -> dict:
        """Run the model and fetch every output as numpy (what a script does with the result)."""
        return {k: v.numpy() for k, v in self.fn(images=x).items()}

    def warm_up(self, paths: list[Path]) -> None:
        """Trace and run once so no condition pays a first-call cost in the timings."""
        self.script([paths[0]])

    def prepare(self, paths: list[Path], max_side: int) -> list:
        """Float [1, H, W, 3] tensors decoded like the service decodes (not timed)."""
        import tensorflow as tf

        from detector import decode_image

        out = []
        for path in paths:
            array = decode_image(path.read_bytes(), max_side=max_side).array
            out.append(tf.constant(np.divide(array[np.newaxis], np.float32(255.0), dtype=np.float32)))
        return out

    def model_alone(self, tensors: list) -> list[float]:
        """(a): seconds per image, model call and output fetch only."""
        return _each(tensors, self.call)

    def script(self, paths: list[Path]) -> list[float]:
        """(b): seconds per file for read + decode + convert + model."""
        import tensorflow as tf
        from PIL import Image

        def one(path: Path) -> dict:
            img = np.asarray(Image.open(path).convert("RGB"))
            return self.call(tf.image.convert_image_dtype(img, tf.float32)[tf.newaxis, ...])

        return _each(paths, one)


def _each(items: list, fn: Callable) -> list[float]:
    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - t0)
    return times
