"""A slower link on one machine: request bodies that share one byte rate (--bandwidth) and a fixed round
trip added to every request (--rtt).

What this emulates: one bottleneck uplink of a fixed rate that every upload of the run shares (the
request bodies are paced through it), plus a fixed round-trip time (half before the request goes
out, half after the answer is in). What it does not: packet loss and retransmission, jitter (every
request gets the same delay), TCP slow start and congestion windows (a real upload needs several
round trips to reach the link's rate), the downlink (answers come back at loopback speed), and
connection set-up (the sessions are keep-alive). docs/offloading.md says the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from client.records import MB

__all__ = ["MB", "Link", "ThrottledBody"]


class Link:
    """One uplink of `rate` bytes/s (None: unlimited) shared by every upload of a run (concurrent uploads
    split it), and `rtt` seconds of round trip added to every request."""

    def __init__(self, rate: float | None, rtt: float = 0.0):
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0 bytes/s")
        if rtt < 0:
            raise ValueError("rtt must be >= 0 seconds")
        self.rate = rate
        self.rtt = rtt
        # ~50 slices per second keeps the pacing smooth without a wake-up per byte.
        self.slice_bytes = max(1024, int(rate / 50)) if rate else 1 << 20
        self._lock = threading.Lock()
        self._free_at = 0.0  # perf_counter time at which the link has sent everything reserved so far

    def half_round_trip(self) -> None:
        """Sleep half the round trip: once before a request goes out, once after its answer is in."""
        if self.rtt > 0:
            time.sleep(self.rtt / 2)

    def send(self, n: int) -> None:
        """Block until `n` more bytes have had their turn on the link (at once when the rate is unlimited)."""
        if self.rate is None:
            return
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
