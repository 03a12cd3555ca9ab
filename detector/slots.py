"""Inference slots: how many images a process runs through the model at once, and the queue in front.

A request reserves a place before any work (decode included), so a full queue is refused at once
instead of after decoding; it waits for a slot only when its image is ready for the model. The
time spent waiting is the `queue` stage of its timings. No HTTP in here: the service turns
SlotsFullError into 503 + Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

EWMA_WEIGHT = 0.2  # weight of the newest inference time in the running estimate of one image's model time


class SlotsFullError(RuntimeError):
    """The queue is at its bound, or the estimated wait is over the limit; retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SlotsSnapshot:
    """The slots right now (for /api/ready and the metrics)."""

    busy: int  # images in the model
    waiting: int  # reservations not yet in the model (decoding, or queued for a slot)
    concurrency: int
    max_queue: int
    service_seconds: float  # running estimate of one image's model time (0 before the first)

    @property
    def saturated(self) -> bool:
        """True when the next reservation would be refused for the queue bound."""
        return self.max_queue >= 0 and self.busy + self.waiting >= self.concurrency + self.max_queue


class InferenceSlots:
    """`concurrency` images in the model at once and at most `max_queue` more admitted behind them
    (-1: unbounded); none admitted whose estimated wait is over `max_wait` seconds (0: no limit)."""

    def __init__(
        self,
        concurrency: int = 1,
        max_queue: int = -1,
        max_wait: float = 0.0,
        on_change: Callable[[int, int], None] | None = None,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.on_change = on_change  # (busy, waiting) after every change, under the lock: keep it quick
        self._cond = threading.Condition()
        self._busy = 0
        self._waiting = 0
        self._service = 0.0  # EWMA of model seconds per image

    def snapshot(self) -> SlotsSnapshot:
        """Counts and estimate, consistent with each other."""
        with self._cond:
            return SlotsSnapshot(self._busy, self._waiting, self.concurrency, self.max_queue, self._service)

    def _estimated_wait(self) -> float:
        """Seconds a new reservation would wait for a slot, from the images admitted before it."""
        ahead = self._busy + self._waiting
        if ahead < self.concurrency:
            return 0.0
        return (ahead - self.concurrency + 1) / self.concurrency * self._service

    def _retry_after(self) -> float:
        """A client's pause before trying again: about the time the work ahead of it takes (>= 1 s)."""
        return float(max(1, math.ceil(self._estimated_wait())))

    @contextmanager
    def reserve(self) -> Iterator[Reservation]:
        """A place in the queue for one image, held for the block; raises SlotsFullError at once when full."""
        with self._cond:
            if self.max_queue >= 0 and self._busy + self._waiting >= self.concurrency + self.max_queue:
                raise SlotsFullError(
                    f"the node is busy: {self._busy} image(s) in the model and {self._waiting} waiting "
                    f"(INFERENCE_CONCURRENCY={self.concurrency}, MAX_QUEUE={self.max_queue})",
                    self._retry_after(),
                )
            wait = self._estimated_wait()
            if self.max_wait > 0 and wait > self.max_wait:
                raise SlotsFullError(
                    f"the node is busy: the estimated wait of {wait:.1f} s is over MAX_QUEUE_WAIT={self.max_wait:g} s",
                    self._retry_after(),
                )
            self._waiting += 1
            self._changed()
        reservation = Reservation(self)
        try:
            yield reservation
        finally:
            reservation.leave()

    def _enter(self) -> None:
        with self._cond:
            while self._busy >= self.concurrency:
                self._cond.wait()
            self._waiting -= 1
            self._busy += 1
            self._changed()

    def _exit(self, seconds: float) -> None:
        with self._cond:
            self._busy -= 1
            self._service = seconds if self._service == 0 else (1 - EWMA_WEIGHT) * self._service + EWMA_WEIGHT * seconds
            self._changed()
            self._cond.notify()

    def _cancel(self) -> None:
        with self._cond:
            self._waiting -= 1
            self._changed()
            self._cond.notify_all()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self._busy, self._waiting)


class Reservation:
    """One image's place in the queue: `slot()` waits for the model and holds it for the block."""

    def __init__(self, slots: InferenceSlots):
        self._slots = slots
        self._state = "waiting"  # waiting -> in model -> done

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Block until a slot is free, then hold it while the block runs the model."""
        if self._state != "waiting":
            raise RuntimeError("a reservation holds one slot, once")
        self._slots._enter()
        self._state = "in model"
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._slots._exit(time.perf_counter() - t0)
            self._state = "done"

    def leave(self) -> None:
        """Give the place back if the slot was never taken (the image failed to decode, say)."""
        if self._state == "waiting":
            self._slots._cancel()
            self._state = "done"
