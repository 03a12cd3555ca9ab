"""Faults on real gunicorn nodes: kill -9 during writes, SIGTERM with requests in flight, a node killed
again and again under the sender (with the sender itself killed and resumed)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from harness.nodes import REPO, Node, start_node

TMP_NAME = re.compile(r"^\..+\.tmp$")  # detector.outputs' temp files: ".<name>.<random>.tmp"
SENDER = REPO / "scripts" / "sender.py"


def noise_image(path: Path, size: tuple[int, int], seed: int, **params) -> None:
    """An image of random pixels (incompressible: big files, slow writes)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **params)


def fully_decodes(path: Path) -> tuple[int, int]:
    """Decode every pixel of `path` (a truncated file raises); return its size."""
    with Image.open(path) as im:
        im.load()
        return im.size


def base_env(model_dir: Path, images: Path, out: Path, **extra: str) -> dict[str, str]:
    """Environment of a test node."""
    return {"MODEL_HANDLE": str(model_dir), "IMAGES_DIR": str(images), "OUTPUT_DIR": str(out), "API_KEY": "", **extra}


# --- (1) kill -9 of the worker while results are being written ---------------------------------


@pytest.fixture(scope="module")
def big_images(tmp_path_factory) -> Path:
    """Three 2400x1800 noise PNGs (13 MB each: the annotated copy takes ~0.5 s to write) and a JPEG."""
    root = tmp_path_factory.mktemp("big-images")
    for i in range(3):
        noise_image(root / f"p{i}.png", (2400, 1800), i, compress_level=1)
    for i in range(1):
        noise_image(root / "j" / f"j{i}.jpg", (2400, 1800), 10 + i, quality=90)
    return root


def _wait_for_temp_file(out: Path, stale: set[str], timeout: float) -> list[str]:
    """Names of the temp files being written now (ignoring `stale` ones left by earlier kills)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p.name for p in out.rglob(".*.tmp") if p.name not in stale]
        if found:
            return found
        time.sleep(0.002)
    raise AssertionError(f"no write in progress within {timeout} s")


def _wait_for_new_workers(node: Node, old: set[int], timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = node.worker_pids()
        if pids and not set(pids) & old:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not replace workers {old}:\n{node.log()}")


def test_kill_9_during_writes_leaves_no_partial_output_and_the_node_serves_again(tiny_model_dirs, big_images, tmp_path):
    out = tmp_path / "output"
    env = base_env(tiny_model_dirs["openimages"], big_images, out, MAX_UPLOAD_MB="50", THREADS="4")
    node = start_node(env, tmp_path / "node.log")
    names = sorted(p.relative_to(big_images).as_posix() for p in big_images.rglob("*.*"))
    stop = threading.Event()
    lock = threading.Lock()
    answers: Counter[str] = Counter()

    def client(offset: int) -> None:
        with requests.Session() as session:
            n = offset
            while not stop.is_set():
                try:
                    r = session.post(
                        node.url + "/api/detect", data={"input": names[n % len(names)], "output": "1"}, timeout=60
                    )
                    key = str(r.status_code)
                except requests.RequestException:
                    key = "connection error"  # the request the kill cut off
                with lock:
                    answers[key] += 1
                n += 1

    clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(6)]
    try:
        for thread in clients:
            thread.start()
        writing_at_kill = []
        for _ in range(2):
            stale = {p.name for p in out.rglob(".*.tmp")}
            writing_at_kill.append(_wait_for_temp_file(out, stale, 60))
            old = set(node.worker_pids())
            for pid in old:
                os.kill(pid, signal.SIGKILL)
            _wait_for_new_workers(node, old)
            node.wait_ready(60)
        stop.set()
        for thread in clients:
            thread.join(120)
        # The restarted worker serves again.
        r = node.post("/api/detect", data={"input": "j/j0.jpg", "output": "1"})
        assert r.status_code == 200 and r.json()["image"] == {"width": 2400, "height": 1800}
    finally:
        stop.set()
        node.stop()

    assert answers["200"] > 0 and answers["connection error"] > 0, answers
    assert set(answers) <= {"200", "connection error"}, answers  # nothing but results and cut connections
    leftovers, results, images = [], 0, 0
    for path in sorted(out.rglob("*")):
        if path.is_dir():
            continue
        if TMP_NAME.match(path.name):
            leftovers.append(path.name)  # a write the kill interrupted: never under a final name
        elif path.name.endswith(".json"):
            record = json.loads(path.read_bytes())  # complete JSON, or this raises
            assert record["result_path"] == str(path) and record["objects_found"] == len(record["detections"])
            annotated = Path(record["annotated_image_path"])
            assert fully_decodes(annotated) == (2400, 1800)  # the JSON is written last: its image is whole
            results += 1
        else:
            assert fully_decodes(path) == (2400, 1800), path
            images += 1
    print(
        f"\nkill -9 x2 during writes: {dict(answers)}; {results} results, {images} annotated images, "
        f"{len(leftovers)} temp files of cut writes left: {leftovers}; writing at each kill: {writing_at_kill}"
    )
    assert results > 0 and images >= results
    # A kill hit while a temp file was being written, and that write was cut: its temp file is all it left.
    assert set(leftovers) & {name for names in writing_at_kill for name in names}, "no kill cut a write"


# --- (2) graceful shutdown ----------------------------------------------------------------------


def slow_body(data: bytes, pieces: int, pause: float, started: threading.Event):
    """Yield `data` in `pieces` with `pause` between them (a chunked upload that takes a while)."""
    step = -(-len(data) // pieces)
    for i in range(pieces):
        yield data[i * step : (i + 1) * step]
        if i == 1:
            started.set()  # two pieces are out: the server is reading this request
        time.sleep(pause)


def _slow_upload(node: Node, data: bytes, pieces: int, pause: float, started: threading.Event, results: list) -> None:
    try:
        r = requests.post(
            node.url + "/api/detect",
            data=slow_body(data, pieces, pause, started),
            headers={"Content-Type": "image/jpeg"},
            timeout=(5, 120),
        )
        results.append(r)
    except requests.RequestException as exc:
        results.append(exc)


def _red_jpeg(tmp_path: Path) -> bytes:
    noise_image(tmp_path / "slow.jpg", (640, 480), 3, quality=90)
    return (tmp_path / "slow.jpg").read_bytes()


def test_sigterm_lets_in_flight_requests_finish_within_the_graceful_timeout(tiny_model_dirs, tmp_path):
    """SIGTERM with four uploads in flight: the three that end within GRACEFUL_TIMEOUT (5 s) get their 200,
    the one that would take a minute is cut at the timeout, nothing new is served, the master exits 0."""
    node = start_node(
        base_env(tiny_model_dirs["openimages"], tmp_path, tmp_path / "output", THREADS="4", GRACEFUL_TIMEOUT="5"),
        tmp_path / "node.log",
    )
    data = _red_jpeg(tmp_path)
    short: list = []
    long: list = []
    events = [threading.Event() for _ in range(4)]
    uploads = [
        threading.Thread(target=_slow_upload, args=(node, data, 16, 0.2, e, short), daemon=True) for e in events[:3]
    ]  # ~3 s each
    uploads.append(
        threading.Thread(target=_slow_upload, args=(node, data, 120, 0.5, events[3], long), daemon=True)
    )  # ~60 s
    try:
        for thread in uploads:
            thread.start()
        for event in events:
            assert event.wait(30)
        node.process.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # the worker notices within its 1 s poll; from then on it accepts nothing
        with pytest.raises(requests.RequestException):
            requests.get(node.url + "/api/health", timeout=(3, 30))  # sits in the backlog, never answered
        code = node.process.wait(60)  # bounded by GRACEFUL_TIMEOUT, not by the 60 s upload
        for thread in uploads:
            thread.join(90)
    finally:
        node.stop()
    assert code == 0, node.log()
    assert len(short) == 3
    for r in short:
        assert isinstance(r, requests.Response), r
        assert r.status_code == 200 and "timings" in r.json()
        assert Path(r.json()["result_path"]).is_file()
    assert len(long) == 1 and isinstance(long[0], requests.RequestException), long
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", node.port), timeout=5).close()


# --- (3) the sender's failover and resume under a node killed repeatedly -------------------------


class Killer(threading.Thread):
    """Kills a node (master and workers, SIGKILL to its own process group) each time it has served a while,
    and starts it again on the same port."""

    def __init__(self, node: Node, serve_for: float):
        super().__init__(daemon=True)
        self.node = node
        self.serve_for = serve_for
        self.kills = 0
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                self.node.wait_ready(120)
                if self.halt.wait(self.serve_for):
                    return
                os.killpg(self.node.process.pid, signal.SIGKILL)  # start_new_session: the group is this node's
                self.node.process.wait(30)
                self.kills += 1
                self.node.stop()  # closes the log handle
                self.node = Node(self.node.env, self.node.log_path, port=self.node.port).start()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def finish(self) -> Node:
        """Stop killing; return the node as it is now."""
        self.halt.set()
        self.join(150)
        return self.node


def _records(log: Path) -> list[dict]:
    records = []
    for line in log.read_bytes().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a torn last line of the killed sender (--resume cuts it anyway)
    return records


def _ok_counts(log: Path) -> tuple[Counter, int]:
    ok: Counter[str] = Counter()
    failed = 0
    for record in _records(log):
        if record.get("ok") is True:
            ok[record["file"]] += 1
        else:
            failed += 1
    return ok, failed


@pytest.mark.skipif(not SENDER.is_file(), reason="scripts/sender.py is not there yet")
def test_sender_failover_and_resume_with_a_node_killed_repeatedly(tiny_model_dirs, tmp_path):
    images = tmp_path / "images"
    names = []
    for i in range(200):
        rel = f"{'abcd'[i % 4]}/img-{i:03d}.jpg"
        noise_image(images / rel, (160, 120), i, quality=95)  # ~15 kB each
        names.append(rel)
    env_a = base_env(tiny_model_dirs["openimages"], images, tmp_path / "out-a")
    env_b = base_env(tiny_model_dirs["openimages"], images, tmp_path / "out-b")
    node_a = Node(env_a, tmp_path / "a.log").start()
    node_b = Node(env_b, tmp_path / "b.log").start()
    node_a.wait_ready()
    node_b.wait_ready()
    log = tmp_path / "run.jsonl"
    # Uploads throttled to 0.25 MB/s (one link shared by both nodes): ~12 s of sending, so node A dies
    # several times mid-run; the sender is killed once and resumed.
    command = [
        sys.executable,
        str(SENDER),
        str(images),
        "--nodes",
        f"127.0.0.1:{node_a.port}",
        f"127.0.0.1:{node_b.port}",
        "--log",
        str(log),
        "--per-node",
        "2",
        "--mode",
        "upload",
        "--bandwidth",
        "0.25",
        "--timeout",
        "30",
        "--give-up",
        "60",
        "--no-progress",
    ]
    killer = Killer(node_a, serve_for=0.5)
    killer.start()
    try:
        first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if log.exists() and log.read_bytes().count(b"\n") >= 70:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before it could be killed"
        first.kill()  # SIGKILL: no chance to flush anything but what is already written
        first.wait(10)
        second = subprocess.run([*command, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    finally:
        node_a = killer.finish()
        node_a.stop()
        node_b.stop()
    assert killer.error is None, killer.error
    ok, failed = _ok_counts(log)
    print(f"\nnode A killed {killer.kills} times; {sum(ok.values())} ok records, {failed} failure records")
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert killer.kills >= 2, "node A was not killed during the run: the test did not test anything"
    assert sorted(ok) == sorted(names)
    assert set(ok.values()) == {1}, [f for f, n in ok.items() if n > 1]  # every image ok exactly once
    for record in _records(log):
        if record.get("ok"):  # the node wrote the result before answering: it survived the kills
            assert json.loads(Path(record["result_path"]).read_bytes())["file"].endswith(Path(record["file"]).name)
