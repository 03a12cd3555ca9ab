"""The nodes of a run: their addresses, clients and health (taken out after failures, probed back in)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from client.http import DEFAULT_READ_TIMEOUT, DetectClient

DEFAULT_PORT = 5000  # a node's default PORT


def node_url(address: str) -> str:
    """Base URL of a node given as `host:port`, `host` or a full URL (`http://host:port/prefix`)."""
    text = address.strip()
    if not text:
        raise ValueError("empty node address")
    has_scheme = "://" in text
    parts = urlsplit(text if has_scheme else f"http://{text}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"node {address!r}: give host:port or an http(s) URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"node {address!r}: the port is not a number") from None
    if port is None and not has_scheme:
        return f"http://{parts.netloc}:{DEFAULT_PORT}{parts.path.rstrip('/')}"
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class Node:
    """One node: its session, and whether it is in service.

    `failures_to_remove` consecutive failures (connection error, timeout, 5xx) take it out of
    service; a probe thread then polls /api/health with growing pauses until it answers 200.
    """

    def __init__(
        self,
        address: str,
        slots: int,
        failures_to_remove: int = 2,
        probe_interval: float = 0.5,
        probe_max_interval: float = 5.0,
        probe_timeout: float = 3.0,
        notify: Callable[[str], None] = lambda message: None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ):
        self.address = address  # as given on the command line: the `node` of its records
        self.url = node_url(address)
        self.client = DetectClient(self.url, pool_size=slots, read_timeout=read_timeout, connect_timeout=probe_timeout)
        self.failures_to_remove = failures_to_remove
        self.probe_interval = probe_interval
        self.probe_max_interval = probe_max_interval
        self.probe_timeout = probe_timeout
        self.notify = notify
        self.removals = 0
        self.probes = 0
        self.pauses = 0
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._failures = 0
        self._available = threading.Event()
        self._available.set()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None

    @property
    def available(self) -> bool:
        """True while the node is in service (a paused node still is: it is busy, not broken)."""
        return self._available.is_set()

    def pause(self, seconds: float) -> None:
        """The node said it is busy (503 + Retry-After): send it nothing for `seconds`."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            self.pauses += 1

    def paused_for(self) -> float:
        """Seconds left of the node's pause (0 when it takes work)."""
        return max(0.0, self._paused_until - time.monotonic())

    def wait_available(self, timeout: float) -> bool:
        """Block until the node is in service (or `timeout` seconds pass)."""
        return self._available.wait(timeout)

    def succeeded(self) -> None:
        """The node answered (200 or 4xx): its failure streak ends."""
        with self._lock:
            self._failures = 0

    def failed(self, reason: str) -> None:
        """Count a failure; the one that completes the streak takes the node out and starts probing."""
        with self._lock:
            self._failures += 1
            if not self._available.is_set() or self._failures < self.failures_to_remove:
                return
            self._available.clear()
            self.removals += 1
            self._prober = threading.Thread(target=self._probe, name=f"probe {self.address}", daemon=True)
            self._prober.start()
        self.notify(f"node {self.address} taken out after {self._failures} failures ({reason}); probing /api/health")

    def _probe(self) -> None:
        pause = self.probe_interval
        while not self._stop.wait(pause):
            self.probes += 1
            if self.client.health(self.probe_timeout):
                with self._lock:
                    self._failures = 0
                    self._available.set()
                self.notify(f"node {self.address} is back (/api/health answered 200)")
                return
            pause = min(pause * 2, self.probe_max_interval)

    def close(self) -> None:
        """Stop probing and close the connections."""
        self._stop.set()
        if self._prober is not None:
            self._prober.join(timeout=self.probe_timeout + 1)
        self.client.close()
