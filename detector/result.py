"""Plain data types shared by the detector, the service and the scripts."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

STAGES = ("decode", "inference", "annotate", "write", "total")


@dataclass(frozen=True)
class Detection:
    """One detected object: class label, score in [0, 1], box (ymin, xmin, ymax, xmax) in [0, 1]."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict:
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
