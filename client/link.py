"""A slow uplink on one machine: request bodies that share one byte rate (--bandwidth)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from client.records import MB

__all__ = ["MB", "Link", "ThrottledBody"]


class Link:
    """One uplink of `rate` bytes/s shared by every upload of a run (concurrent uploads split it)."""

    def __init__(self, rate: float):
        if rate <= 0:
            raise ValueError("rate must be > 0 bytes/s")
        self.rate = rate
        # ~50 slices per second keeps the pacing smooth without a wake-up per byte.
        self.slice_bytes = max(1024, int(rate / 50))
        self._lock = threading.Lock()
        self._free_at = 0.0  # perf_counter time at which the link has sent everything reserved so far

    def send(self, n: int) -> None:
        """Block until `n` more bytes have had their turn on the link."""
        with self._lock:
            now = time.perf_counter()
            done = max(now, self._free_at) + n / self.rate
            self._free_at = done
        delay = done - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


class ThrottledBody:
    """File-like request body with a known length (so Content-Length is sent) whose reads are paced.

    Each slice is handed to the socket only once the link has had time to carry it, so sending
    N bytes over an idle link takes at least N / rate seconds.
    """

    def __init__(self, data: bytes, link: Link):
        self._data = memoryview(data)
        self._link = link
        self._pos = 0

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        """The next slice (at most `size` bytes), after waiting for its turn; b"" at the end."""
        remaining = len(self._data) - self._pos
        if remaining <= 0:
            return b""
        n = min(remaining, self._link.slice_bytes, size if size and size > 0 else remaining)
        self._link.send(n)
        piece = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return piece

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self.read()
            if not piece:
                return
            yield piece
