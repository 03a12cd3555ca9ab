"""The benchmark's way of sending: one request at a time, or K in flight from a shared list, through
the project's one HTTP client (client.http.DetectClient)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bench.corpus import Placed
from client.http import DetectClient

READ_TIMEOUT = 300.0  # a heavy model under load can take a while


@dataclass
class Answer:
    """One request: client round trip and the node's own timings."""

    round_trip: float
    timings: dict


class Client:
    """Keep-alive requests to one node, path or upload mode, like the sender sends them."""

    def __init__(self, base_url: str, slots: int = 1):
        self.client = DetectClient(base_url, pool_size=slots, read_timeout=READ_TIMEOUT)

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def detect(self, item: Placed, mode: str, output: bool) -> Answer:
        """Send one image in `mode` ("path" or "upload"); raise if the answer is not a result."""
        if mode == "path":
            attempt = self.client.detect_path(item.rel, output)
        else:
            attempt = self.client.detect_upload(item.data, item.path.name, output)
        if attempt.timings is None:
            raise RuntimeError(f"{item.rel}: {attempt.error}")
        return Answer(attempt.round_trip, attempt.timings)

    def sequential(self, items: list[Placed], mode: str, output: bool) -> list[Answer]:
        """One request after another."""
        return [self.detect(item, mode, output) for item in items]

    def in_flight(self, items: list[Placed], mode: str, output: bool, k: int) -> tuple[float, list[Answer]]:
        """K requests in flight until the list is done: (wall seconds, answers)."""
        todo = list(reversed(items))
        lock = threading.Lock()
        answers: list[Answer] = []
        errors: list[BaseException] = []

        def slot() -> None:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    item = todo.pop()
                try:
                    answer = self.detect(item, mode, output)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    answers.append(answer)

        threads = [threading.Thread(target=slot, daemon=True) for _ in range(k)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return wall, answers
