"""Metrics (merged over gunicorn workers), request ids and structured request logs, on real gunicorn."""

from __future__ import annotations

import json
import re
import time

import pytest

from harness.nodes import start_node


@pytest.fixture(scope="module")
def two_worker_node(tiny_model_dirs, session_images, tmp_path_factory):
    """A node with 2 workers, so metrics must be merged across processes."""
    out = tmp_path_factory.mktemp("obs-out")
    node = start_node(
        {
            "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
            "IMAGES_DIR": str(session_images),
            "OUTPUT_DIR": str(out),
            "WORKERS": "2",
            "THREADS": "2",
        },
        tmp_path_factory.mktemp("obs-logs") / "node.log",
    )
    node.output_dir = out
    yield node
    node.stop()


def _samples(text: str, name: str) -> dict[str, float]:
    """{label string: value} for every sample of metric `name` in the exposition text."""
    found = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            found[m.group(1) or ""] = float(m.group(2))
    return found


def test_metrics_count_every_request_across_workers(two_worker_node):
    node = two_worker_node
    for _ in range(40):  # both workers must be warm before counts mean anything
        if sum(_samples(node.get("/metrics").text, "detector_model_ready").values()) == 2:
            break
        time.sleep(0.25)
    before = node.get("/metrics").text
    n = 12
    for _ in range(n):
        assert node.post("/api/detect", data={"input": "red.jpg", "output": "1"}).status_code == 200
    assert node.post("/api/detect", data={"input": "missing.jpg"}).status_code == 404
    after = node.get("/metrics")
    assert after.headers["Content-Type"].startswith("text/plain")
    text = after.text

    def count(metric, labels_pattern, body):
        return sum(v for k, v in _samples(body, metric).items() if re.search(labels_pattern, k))

    ok = 'endpoint="/api/detect",method="POST",status="200"'
    assert count("detector_http_requests_total", ok, text) - count("detector_http_requests_total", ok, before) == n
    assert count("detector_http_requests_total", 'status="404"', text) >= 1
    assert (
        count("detector_images_processed_total", 'mode="path"', text)
        - count("detector_images_processed_total", 'mode="path"', before)
        == n
    )
    for stage in ("decode", "inference", "annotate", "write", "total"):
        assert count("detector_stage_seconds_count", f'stage="{stage}"', text) >= n
    assert sum(_samples(text, "detector_model_ready").values()) == 2
    assert len(_samples(text, "detector_model_load_seconds")) == 2  # one per worker
    assert sum(_samples(text, "detector_in_flight_requests").values()) == 1  # this /metrics request


def test_request_id_is_echoed_and_recorded(two_worker_node):
    node = two_worker_node
    r = node.post("/api/detect", data={"input": "green.png"}, headers={"X-Request-ID": "run42-img7"})
    assert r.headers["X-Request-ID"] == "run42-img7"
    record = r.json()
    assert record["request_id"] == "run42-img7"
    on_disk = json.loads((node.output_dir / "green.png.json").read_text())
    assert on_disk["request_id"] == "run42-img7"


def test_missing_or_unsafe_request_id_is_replaced(two_worker_node):
    generated = two_worker_node.get("/api/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    hostile = two_worker_node.get("/api/health", headers={"X-Request-ID": 'a b"c<script>'}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", hostile)


def test_one_json_log_line_per_request_with_its_id(two_worker_node):
    node = two_worker_node
    node.post("/api/detect", data={"input": "blue.webp"}, headers={"X-Request-ID": "log-check-1"})
    node.post("/api/detect", data={"input": "nope.jpg"}, headers={"X-Request-ID": "log-check-2"})
    time.sleep(0.3)  # let the log line reach the file
    lines = [json.loads(line.split("app.access: ", 1)[1]) for line in node.log().splitlines() if "app.access: " in line]
    by_id = {entry["request_id"]: entry for entry in lines}
    assert by_id["log-check-1"]["status"] == 200 and by_id["log-check-1"]["file"] == "blue.webp"
    assert by_id["log-check-1"]["timings"]["inference"] > 0
    assert by_id["log-check-2"]["status"] == 404 and by_id["log-check-2"]["path"] == "/api/detect"
