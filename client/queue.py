"""The shared work queue: every node pulls its next image when it has a free slot."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from client.files import ImageFile


@dataclass
class Job:
    """One image and its history of attempts."""

    image: ImageFile
    attempts: int = 0
    tried: list[str] = field(default_factory=list)  # nodes that were asked, in order
    avoid: set[str] = field(default_factory=set)  # nodes that failed it: another node goes first
    ready_at: float = 0.0  # monotonic time before which it is not handed out (retry backoff)
    shed: int = 0  # times a busy node answered 503 overloaded (back-pressure, not a failure)


class WorkQueue:
    """Jobs waiting for a node; knows how many jobs still lack a final record."""

    def __init__(self, images: Iterable[ImageFile]):
        self._cond = threading.Condition()
        self._pending: deque[Job] = deque(Job(image) for image in images)
        self._open = len(self._pending)  # jobs without a final record (pending + in flight)
        self._closed = False

    @property
    def finished(self) -> bool:
        """True once every job has its final record, or the queue was closed and drained."""
        with self._cond:
            return self._open == 0

    @property
    def closed(self) -> bool:
        """True once close() was called: no more jobs are handed out."""
        with self._cond:
            return self._closed

    def take(self, node: str, live_nodes: Callable[[], set[str]], timeout: float) -> Job | None:
        """The next job for `node`, or None after `timeout` seconds (or when nothing is left).

        A job that failed on `node` waits for another live node, unless every live node failed it.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._open == 0 or self._closed:
                    return None
                now = time.monotonic()
                wake = deadline
                live = None
                for job in self._pending:
                    if job.ready_at > now:
                        wake = min(wake, job.ready_at)
                        continue
                    if node in job.avoid:
                        live = live_nodes() if live is None else live
                        if not live <= job.avoid:
                            continue
                    self._pending.remove(job)
                    return job
                if now >= deadline:
                    return None
                self._cond.wait(max(0.0, wake - now))

    def retry(self, job: Job, delay: float, front: bool = False) -> bool:
        """Put a job back after `delay` seconds (at the front: next in line); False if the queue is closed."""
        with self._cond:
            if self._closed:
                return False
            job.ready_at = time.monotonic() + delay
            if front:
                self._pending.appendleft(job)
            else:
                self._pending.append(job)
            self._cond.notify_all()
            return True

    def done(self) -> None:
        """A job got its final record."""
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def wait_finished(self, timeout: float) -> bool:
        """Block until every job has its final record (or `timeout`); return whether they have."""
        with self._cond:
            return self._cond.wait_for(lambda: self._open == 0, timeout)

    def close(self) -> list[Job]:
        """Stop handing out jobs; return those still waiting (the caller gives them a final record)."""
        with self._cond:
            self._closed = True
            left = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
            return left
