"""Starting real nodes: the exact command the container runs, on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
# The command the Dockerfile's CMD runs, from the repository root.
GUNICORN_CMD = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One gunicorn node started with `gunicorn -c gunicorn.conf.py` and its own environment."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None, app: str | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "info", **env}
        self.app = app  # a WSGI app to serve instead of gunicorn.conf.py's (benchmark-only nodes)
        self.proc: subprocess.Popen[bytes] | None = None
        self.output_dir: Path | None = None  # set by whoever started it, when it has one
        self.images_dir: Path | None = None

    def start(self) -> Node:
        """Launch the process (does not wait for readiness)."""
        self._log = open(self.log_path, "ab")  # the child writes to it until stop()
        self.proc = subprocess.Popen(
            GUNICORN_CMD + ([self.app] if self.app else []),
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running gunicorn master (start() must have been called)."""
        if self.proc is None:
            raise RuntimeError("the node was not started")
        return self.proc

    def wait_ready(self, timeout: float = 120.0, headers: dict[str, str] | None = None) -> Node:
        """Poll /api/ready until 200; fail with the node's log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/api/ready", headers=headers, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"node not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the node printed so far."""
        return self.log_path.read_text(errors="replace")[-20000:]

    def master_pid(self) -> int:
        """PID of the gunicorn master."""
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """PIDs of the master's children (the workers)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the master, wait; SIGKILL the group if it hangs. Returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def get(self, path: str, **kw: Any) -> requests.Response:
        """GET on the node."""
        return requests.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        """POST on the node."""
        return requests.post(self.url + path, timeout=kw.pop("timeout", 60), **kw)


def start_node(
    env: dict[str, str], log_path: Path, timeout: float = 120.0, ready_headers: dict[str, str] | None = None
) -> Node:
    """Start a node and wait until it is ready."""
    node = Node(env, log_path).start()
    try:
        return node.wait_ready(timeout, headers=ready_headers)
    except Exception:
        node.stop()
        raise


def start_nodes(
    count: int, model_dir: Path, images_root: Path, work: Path, extra_env: dict[str, str] | None = None
) -> list[Node]:
    """`count` real nodes on one images root, started in parallel; each has its own OUTPUT_DIR."""
    work.mkdir(parents=True, exist_ok=True)
    nodes = []
    for i in range(count):
        out = work / f"node{i}-output"
        env = {
            "MODEL_HANDLE": str(model_dir),
            "IMAGES_DIR": str(images_root),
            "OUTPUT_DIR": str(out),
            "THREADS": "2",
            **(extra_env or {}),
        }
        node = Node(env, work / f"node{i}.log").start()
        node.output_dir = out
        nodes.append(node)
    try:
        for node in nodes:
            node.wait_ready(180)
    except Exception:
        for node in nodes:
            node.stop()
        raise
    return nodes


def address(node: Node) -> str:
    """`127.0.0.1:PORT`, the form the seed's command line uses."""
    return f"127.0.0.1:{node.port}"
