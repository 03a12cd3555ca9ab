"""A node with a known service time, for the benchmarks and the overload tests: the real service
(app.create_app, the real pipeline: decode, slots, JSON, atomic writes) whose model only sleeps
SLEEP_SECONDS per image and loads no TensorFlow.

It is reachable only by naming it on the gunicorn command line
(`gunicorn -c gunicorn.conf.py harness.sleep_app:app`, as bench/distribution.py does); the production
command and configuration never refer to it.
"""

from __future__ import annotations

import os
import time

import numpy as np

from app import create_app
from detector import Detection, Detector


class SleepModel:
    """A stand-in model with a fixed, known service time."""

    family = "openimages"

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.handle = f"sleep-{seconds:g}s"

    def predict(self, rgb: np.ndarray) -> list[Detection]:
        """Sleep, then find one object."""
        time.sleep(self.seconds)
        return [Detection("Sleeper", 0.5, (0.1, 0.1, 0.9, 0.9))]


app = create_app({"DETECTOR": Detector(SleepModel(float(os.environ["SLEEP_SECONDS"])))})
