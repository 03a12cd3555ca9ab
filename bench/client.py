"""HTTP clients for the benchmark: one request at a time, or K in flight from a shared list."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from bench.corpus import Placed

TIMEOUT = (5.0, 300.0)  # connect, read: a heavy model under load can take a while


@dataclass
class Answer:
    """One request: client round trip and the node's own timings."""

    round_trip: float
    timings: dict


class Client:
    """Keep-alive requests to one node, path or upload mode, like the sender sends them."""

    def __init__(self, base_url: str, slots: int = 1):
        self.url = base_url + "/api/detect"
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, slots), max_retries=0)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        """Close the connections."""
        self.session.close()

    def detect(self, item: Placed, mode: str, output: bool) -> Answer:
        """Send one image in `mode` ("path" or "upload"); raise if the answer is not a result."""
        flag = "1" if output else "0"
        t0 = time.perf_counter()
        if mode == "path":
            response = self.session.post(self.url, data={"input": item.rel, "output": flag}, timeout=TIMEOUT)
        else:
            files = {"image": (item.path.name, item.data, "image/jpeg")}
            response = self.session.post(self.url, data={"output": flag}, files=files, timeout=TIMEOUT)
        body = response.content
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"{item.rel}: HTTP {response.status_code}: {body[:300]!r}")
        return Answer(elapsed, response.json()["timings"])

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
