"""Real nodes for the benchmark: the production gunicorn command (harness/nodes.py), plus timing and memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from harness.nodes import Node
from measure.proc import memory

MIB = 1024 * 1024


def rss_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of one process in MiB."""
    mem = memory(pid)
    return mem.rss / MIB, mem.pss / MIB


class BenchNode(Node):
    """A node that knows when it was started and when it became ready."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, app: str | None = None):
        super().__init__(env, log_path, app=app)
        self.name = name
        self.started_at = 0.0
        self.ready_after: float | None = None

    def start(self) -> BenchNode:
        """Launch the production command (plus `app`, if set); the start-up clock starts just before."""
        self.started_at = time.perf_counter()
        super().start()
        return self

    def wait_ready(
        self, timeout: float = 300.0, headers: dict[str, str] | None = None, poll: float = 0.05
    ) -> BenchNode:
        """Poll /api/ready every `poll` s until 200; record the seconds since start."""
        deadline = time.monotonic() + timeout
        session = requests.Session()
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"node {self.name} exited with {self.process.returncode}:\n{self.log()}")
                try:
                    if session.get(self.url + "/api/ready", headers=headers, timeout=2).status_code == 200:
                        self.ready_after = time.perf_counter() - self.started_at
                        return self
                except requests.RequestException:
                    pass
                time.sleep(poll)
        finally:
            session.close()
        raise RuntimeError(f"node {self.name} not ready after {timeout}s:\n{self.log()}")

    def memory(self) -> dict[str, Any]:
        """RSS and PSS (MiB) of the master and of each worker."""
        master = rss_mib(self.master_pid())
        workers = [rss_mib(pid) for pid in self.worker_pids()]
        return {
            "master_rss": master[0],
            "worker_rss": [w[0] for w in workers],
            "worker_pss": [w[1] for w in workers],
            "total_rss": master[0] + sum(w[0] for w in workers),
            "total_pss": master[1] + sum(w[1] for w in workers),
        }

    def info(self) -> dict[str, Any]:
        """The node's /api/info."""
        return self.get("/api/info").json()


class NodeSet:
    """Every node the benchmark started; `stop_all` ends them by their own PIDs (never by name)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.nodes: list[BenchNode] = []

    def start(self, name: str, env: dict[str, str], app: str | None = None) -> BenchNode:
        """Start a node (without waiting)."""
        node = BenchNode(name, env, self.log_dir / f"{name}.log", app)
        self.nodes.append(node)
        return node.start()

    def pids(self) -> list[int]:
        """Masters and workers of the running nodes."""
        pids = []
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                pids += [node.master_pid(), *node.worker_pids()]
        return pids

    def stop(self, node: BenchNode) -> None:
        """Stop one node."""
        node.stop()
        if node in self.nodes:
            self.nodes.remove(node)

    def stop_all(self) -> None:
        """Stop every node still running."""
        for node in list(self.nodes):
            try:
                node.stop()
            finally:
                self.nodes.remove(node)
