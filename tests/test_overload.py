"""A node under slow uplinks and overload, through the real gunicorn command: slow bodies never hold a
thread or an inference slot, probes answer while everything is busy, stalled bodies get 408, a full
queue answers 503 + Retry-After at once, and the sender and the load test treat that as back-pressure."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from client.http import DetectClient
from client.link import Link
from client.open_loop import run_open_loop
from harness.nodes import Node, address
from tests.helpers import read_log

SLEEP_APP = "harness.sleep_app:app"
PROBES = ("/api/health", "/api/ready", "/metrics")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small images root every node of this module reads."""
    root = tmp_path_factory.mktemp("overload-images")
    for i in range(24):
        Image.new("RGB", (96, 64), (10 * i, 100, 200)).save(root / f"img-{i:02d}.jpg", quality=90)
    return root


def start(tmp_path: Path, images: Path, env: dict[str, str], app: str | None = None) -> Node:
    """A node with `env` on top of the basics, ready to serve."""
    name = f"node-{time.monotonic_ns()}"
    node = Node(
        {"IMAGES_DIR": str(images), "OUTPUT_DIR": str(tmp_path / name), **env}, tmp_path / f"{name}.log", app=app
    )
    node.output_dir = tmp_path / name
    node.start()
    try:
        return node.wait_ready(120)
    except Exception:
        node.stop()
        raise


@pytest.fixture
def sleep_node(tmp_path: Path, images: Path) -> Iterator:
    """Factory of nodes whose model sleeps SLEEP_SECONDS per image (a known service time)."""
    started: list[Node] = []

    def make(seconds: float, **env: str) -> Node:
        node = start(tmp_path, images, {"SLEEP_SECONDS": str(seconds), **env}, app=SLEEP_APP)
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


def slow_upload(port: int, length: int = 100_000) -> socket.socket:
    """A connection that sent an upload's headers and the first bytes of its body, and then trickles."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST /api/detect HTTP/1.1\r\nHost: node\r\nContent-Type: image/jpeg\r\nContent-Length: {length}\r\n\r\n"
    sock.sendall(head.encode() + b"\xff\xd8")
    return sock


def timed_get(node: Node, path: str) -> tuple[int, float]:
    """(status, seconds) of one GET."""
    t0 = time.perf_counter()
    status = requests.get(node.url + path, timeout=10).status_code
    return status, time.perf_counter() - t0


def parallel_detects(node: Node, count: int, **data: str) -> list[requests.Response]:
    """`count` detect requests sent at once (path mode)."""
    with ThreadPoolExecutor(count) as pool:
        url = node.url + "/api/detect"
        futures = [
            pool.submit(requests.post, url, data={"input": f"img-{i % 24:02d}.jpg", **data}, timeout=60)
            for i in range(count)
        ]
        return [f.result() for f in futures]


def test_64_slow_uploads_hold_no_thread_and_a_fast_request_is_served_at_once(tiny_model_dirs, images, tmp_path):
    node = start(tmp_path, images, {"MODEL_HANDLE": str(tiny_model_dirs["openimages"]), "THREADS": "2"})
    slow = [slow_upload(node.port) for _ in range(80)]
    try:
        for _ in range(3):  # they keep trickling, as an edge device on a bad uplink does
            for sock in slow:
                sock.send(b"\x00")
            time.sleep(0.3)
        t0 = time.perf_counter()
        r = requests.post(node.url + "/api/detect", data={"input": "img-00.jpg"}, timeout=20)
        fast = time.perf_counter() - t0
        assert r.status_code == 200 and fast < 2.0, (r.status_code, fast)  # it used to time out after 20 s
        for path in PROBES:
            status, seconds = timed_get(node, path)
            assert status == 200 and seconds < 1.0, (path, status, seconds)  # probe timeouts are 4-5 s
    finally:
        for sock in slow:
            sock.close()
        node.stop()


def test_a_stalled_or_trickling_body_gets_a_json_408_and_the_connection_closes(tiny_model_dirs, images, tmp_path):
    env = {"MODEL_HANDLE": str(tiny_model_dirs["openimages"]), "BODY_STALL_SECONDS": "1", "BODY_MIN_RATE": "1000"}
    node = start(tmp_path, images, env)
    try:
        stalled, trickling = slow_upload(node.port), slow_upload(node.port)
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # a byte every 0.3 s: never stalled, far below 1000 bytes/s
            try:
                trickling.send(b"\x00")
            except OSError:  # cut off: the answer is waiting to be read
                break
            time.sleep(0.3)
        for sock, reason in ((stalled, "stalled"), (trickling, "bytes/s")):
            sock.settimeout(10)
            answer = b""
            while chunk := sock.recv(65536):  # the node closes the connection after its answer
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 ") and b"application/json" in head, head
            error = json.loads(body)["error"]
            assert error["code"] == "request_timeout" and reason in error["message"], error
            sock.close()
        assert requests.get(node.url + "/api/ready", timeout=10).status_code == 200
        metrics = requests.get(node.url + "/metrics", timeout=10).text
        assert "detector_request_timeouts_total 2.0" in metrics
    finally:
        node.stop()


def test_the_default_limits_let_a_20_mb_upload_at_1_1_mb_per_s_through(tiny_model_dirs, images, tmp_path):
    node = start(tmp_path, images, {"MODEL_HANDLE": str(tiny_model_dirs["openimages"])})
    noise = np.random.default_rng(0).integers(0, 256, (2580, 2580, 3), dtype=np.uint8)
    photo = tmp_path / "big.png"
    Image.fromarray(noise).save(photo, compress_level=0)
    data = photo.read_bytes()
    assert 19_500_000 < len(data) < 20_000_000
    client = DetectClient(node.url, read_timeout=120)
    try:
        attempt = client.detect_upload(data, "big.png", link=Link(1.1e6))  # the seed's uplink
    finally:
        client.close()
        node.stop()
    assert attempt.ok, attempt.error
    assert attempt.round_trip > len(data) / 1.1e6 * 0.95  # it really arrived at that rate
    assert attempt.body["image"] == {"width": 2580, "height": 2580}


def test_probes_answer_while_every_slot_is_busy_and_requests_queue(sleep_node):
    node = sleep_node(0.5, INFERENCE_CONCURRENCY="1", MAX_QUEUE="8", THREADS="16")
    with ThreadPoolExecutor(1) as pool:
        burst = pool.submit(parallel_detects, node, 8)
        time.sleep(0.7)  # one image in the model, seven queued behind it
        probes = [timed_get(node, path) for _ in range(10) for path in PROBES]
        answers = burst.result()
    assert all(status == 200 and seconds < 1.0 for status, seconds in probes), probes
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    queues = sorted(r.json()["timings"]["queue"] for r in answers)
    # One at a time: each image waited about one service time longer than the one before it.
    assert queues[0] < 0.1 and queues[-1] == pytest.approx(3.5, abs=0.4), queues


@pytest.mark.parametrize("concurrency, expected", [("1", [0.0, 0.5, 1.0, 1.5]), ("2", [0.0, 0.0, 0.5, 0.5])])
def test_inference_concurrency_is_its_own_setting(sleep_node, concurrency, expected):
    node = sleep_node(0.5, INFERENCE_CONCURRENCY=concurrency, MAX_QUEUE="8", THREADS="16")
    answers = parallel_detects(node, 4)
    queues = sorted(r.json()["timings"]["queue"] for r in answers)
    assert queues == pytest.approx(expected, abs=0.2), queues
    assert node.get("/api/info").json()["limits"]["inference_concurrency"] == int(concurrency)


def test_a_full_queue_answers_503_with_retry_after_at_once(sleep_node):
    node = sleep_node(1.0, INFERENCE_CONCURRENCY="1", MAX_QUEUE="1", THREADS="8")
    with ThreadPoolExecutor(1) as pool:
        admitted = pool.submit(parallel_detects, node, 2)
        time.sleep(0.4)  # both admitted: one in the model, one waiting
        ready = requests.get(node.url + "/api/ready", timeout=10)
        refused = []
        for i in range(3):
            t0 = time.perf_counter()
            r = requests.post(node.url + "/api/detect", data={"input": f"img-{10 + i:02d}.jpg"}, timeout=30)
            refused.append((r, time.perf_counter() - t0))
        ok = admitted.result()
    assert [r.status_code for r in ok] == [200, 200]
    for r, seconds in refused:
        assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded", r.text
        assert int(r.headers["Retry-After"]) >= 1 and seconds < 0.5, (r.headers, seconds)
    # Readiness fails while saturated (a load balancer stops sending), health never does.
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "overloaded"
    assert requests.get(node.url + "/api/ready", timeout=10).status_code == 200  # caught up
    assert "detector_shed_requests_total 3.0" in requests.get(node.url + "/metrics", timeout=10).text


def test_max_queue_wait_refuses_what_would_wait_too_long(sleep_node):
    node = sleep_node(1.0, INFERENCE_CONCURRENCY="1", MAX_QUEUE="-1", MAX_QUEUE_WAIT="1.5", THREADS="8")
    assert parallel_detects(node, 1)[0].status_code == 200  # the node learns its service time
    statuses = Counter(r.status_code for r in parallel_detects(node, 5))
    # Admitted: the one in the model and the one 1 s behind it; the rest would wait 2 s or more.
    assert statuses == Counter({200: 2, 503: 3}), statuses


def test_the_sender_treats_503_as_back_pressure_and_loses_nothing(sleep_node, images, tmp_path):
    busy = sleep_node(0.3, INFERENCE_CONCURRENCY="1", MAX_QUEUE="0", THREADS="8")  # refuses whenever it works
    other = sleep_node(0.3, INFERENCE_CONCURRENCY="1", MAX_QUEUE="0", THREADS="8")
    log = tmp_path / "run.jsonl"
    from scripts.sender import main as sender_main

    rc = sender_main(
        [str(images), "--nodes", address(busy), address(other), "--per-node", "3", "--log", str(log), "--no-progress"]
    )
    records = read_log(log)
    assert rc == 0
    assert sorted(r["file"] for r in records) == sorted(p.name for p in images.glob("*.jpg"))
    assert all(r["ok"] for r in records)
    assert sum(r["shed"] for r in records) > 0  # the nodes did push back...
    assert all(r["attempts"] == r["shed"] + 1 for r in records)  # ...and no push-back was taken for a failure
    written = Counter(p.name for n in (busy, other) if n.output_dir for p in n.output_dir.rglob("*.json"))
    assert len(written) == len(records)
    assert set(written.values()) == {1}  # never sent twice to success


def test_open_loop_load_reports_latency_shedding_and_health(sleep_node, images):
    node = sleep_node(0.2, INFERENCE_CONCURRENCY="1", MAX_QUEUE="2", THREADS="8")
    calm = run_open_loop(node.url, images, rate=2.0, duration=3.0, seed=1)
    assert calm.errors == 0 and calm.shed == 0 and calm.ok == calm.sent > 0
    assert calm.p50 == pytest.approx(0.2, abs=0.15)
    flood = run_open_loop(node.url, images, rate=25.0, duration=3.0, seed=2)  # 5x what the node can do
    assert flood.errors == 0 and flood.shed > flood.ok > 0
    assert flood.shed_p95 < 0.5  # refusals come at once, not after queueing
    assert flood.health_p99 is not None and flood.health_p99 < 1.0
    assert flood.throughput == pytest.approx(1 / 0.2, rel=0.35)  # the node kept working at full speed


def test_load_test_command_runs_open_loop(sleep_node, images, tmp_path):
    from scripts.load_test import main as load_main

    node = sleep_node(0.05)
    out = tmp_path / "loop.json"
    rc = load_main(["--url", node.url, "--images", str(images), "--rate", "5", "--duration", "2", "--json", str(out)])
    summary = json.loads(out.read_text())
    assert rc == 0 and summary["ok"] == summary["sent"] > 0 and summary["shed"] == 0
    assert {"p50", "p95", "p99", "throughput", "shed_p95", "health_p99"} <= set(summary)


def test_health_threads_are_not_the_request_threads(sleep_node):
    # THREADS=1 and that thread busy for 2 s: probes still answer, from their own threads.
    node = sleep_node(2.0, THREADS="1", MAX_QUEUE="4")
    worker = threading.Thread(target=parallel_detects, args=(node, 1), daemon=True)
    worker.start()
    time.sleep(0.5)
    for path in PROBES:
        status, seconds = timed_get(node, path)
        assert status == 200 and seconds < 1.0, (path, status, seconds)
    worker.join(30)
