"""Real gunicorn nodes (the container's exact command): the seed's curl, bad input, start-up behaviour."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from harness.nodes import Node


def curl(*args: str) -> tuple[int, dict]:
    """Run curl, return (HTTP status, parsed JSON body)."""
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    body, status = out.rsplit("\n", 1)
    return int(status), json.loads(body)


def test_seed_curl_command(node):
    """The exact form existing users send: curl URL -d "input=/app/images/...&output=1"."""
    status, record = curl(f"{node.url}/api/detect", "-d", f"input={node.images_dir}/red.jpg&output=1")
    assert status == 200
    assert record["objects_found"] == len(record["detections"]) == 2
    assert record["detection_class_entities"][0] == "Person" and record["detection_scores"][0] > 0.99
    assert record["annotated_image_path"] == str(node.output_dir / "red.jpg")
    assert json.loads((node.output_dir / "red.jpg.json").read_text()) == record
    with open(node.output_dir / "red.jpg", "rb") as fh:
        assert fh.read(2) == b"\xff\xd8"  # a JPEG
    for key in (
        "inference_time",
        "total_det_loop_time",
        "input",
        "file",
        "image",
        "model",
        "timings",
        "result_path",
        "node",
        "created_at",
    ):
        assert key in record


def test_curl_upload(node):
    status, record = curl(f"{node.url}/api/detect", "-F", f"image=@{node.images_dir}/green.png", "-F", "output=1")
    assert status == 200 and record["detection_class_entities"][0] == "Cat"
    assert Path(record["annotated_image_path"]).parent == node.output_dir / "uploads"


@pytest.fixture(scope="module")
def escapes(node):
    """Links inside the images root that point outside it."""
    root = node.images_dir
    (root / "escape.jpg").symlink_to("/etc/passwd")
    (root / "escape_dir").symlink_to("/etc")
    (root / "inside_link.jpg").symlink_to(root / "red.jpg")
    os.mkfifo(root / "fifo.jpg")
    yield root
    for name in ("escape.jpg", "escape_dir", "inside_link.jpg", "fifo.jpg"):
        (root / name).unlink()


BAD_INPUTS = [
    # (form body, status, error code)
    ("input=../../../../etc/passwd", 403, "forbidden"),
    ("input=/etc/passwd", 403, "forbidden"),
    ("input=escape.jpg", 403, "forbidden"),
    ("input=escape_dir/passwd", 403, "forbidden"),
    ("input=%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", 403, "forbidden"),
    ("input=%252e%252e%252fetc%252fpasswd", 404, "not_found"),
    ("input=a/../../etc/passwd", 403, "forbidden"),
    ("input=red.jpg%00.png", 400, "bad_request"),
    ("input=missing.jpg", 404, "not_found"),
    ("input=a", 400, "bad_request"),
    ("input=fifo.jpg", 400, "bad_request"),
    ("input=empty.jpg", 422, "undecodable_image"),
    ("input=truncated.jpg", 422, "undecodable_image"),
    ("input=text.jpg", 422, "undecodable_image"),
    ("input=bomb.png", 422, "image_too_large"),
    ("input=bomb_moderate.png", 422, "image_too_large"),
    ("input=bomb.gif", 422, "image_too_large"),
    ("input=bomb.jpg", 422, "image_too_large"),
    ("input=red.jpg&output=maybe", 400, "bad_request"),
    ("input=red.jpg&input=green.png", 400, "bad_request"),
    ("", 400, "bad_request"),
]


@pytest.mark.parametrize("body, status, code", BAD_INPUTS)
def test_bad_input_gets_json_4xx_and_the_node_keeps_serving(node, escapes, body, status, code):
    r = requests.post(
        node.url + "/api/detect", data=body, timeout=30, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    error = r.json()["error"]
    assert error["code"] == code
    assert "Traceback" not in r.text and str(node.images_dir) not in error["message"]
    assert "root:" not in r.text  # nothing of /etc/passwd
    assert node.get("/api/ready").status_code == 200
    ok = node.post("/api/detect", data={"input": "green.png"})
    assert ok.status_code == 200 and ok.json()["detection_class_entities"][0] == "Cat"


@pytest.mark.parametrize(
    "name",
    [
        "rgba.png",
        "grey.png",
        "animated.gif",
        "cmyk.jpg",
        "gray16.png",
        "café ☕.jpg",
        "exif_rotated.jpg",
        "wide.bmp",
        "palette.gif",
        "blue.webp",
    ],
)
def test_unusual_but_valid_images_are_answered(node, name):
    r = node.post("/api/detect", data={"input": name, "output": "1"})
    assert r.status_code == 200, r.text
    record = r.json()
    from PIL import Image

    with Image.open(record["annotated_image_path"]) as annotated, Image.open(node.images_dir / name) as original:
        from PIL import ImageOps

        assert annotated.size == ImageOps.exif_transpose(original).size


def test_link_inside_the_root_is_followed(node, escapes):
    r = node.post("/api/detect", data={"input": "inside_link.jpg"})
    assert r.status_code == 200 and r.json()["file"] == "red.jpg"


def test_upload_over_the_limit_is_413_and_not_read(node):
    r = requests.post(
        node.url + "/api/detect", data=b"\0" * (2 * 1024 * 1024), timeout=30, headers={"Content-Type": "image/jpeg"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert node.get("/api/ready").status_code == 200


@pytest.mark.parametrize("content_type, status", [("text/plain", 415), ("application/pdf", 415)])
def test_wrong_content_type(node, content_type, status):
    r = requests.post(node.url + "/api/detect", data=b"%PDF-1.4", headers={"Content-Type": content_type}, timeout=30)
    assert r.status_code == status and r.json()["error"]["code"] == "unsupported_media_type"


def test_health_ready_info(node):
    assert node.get("/api/health").json()["status"] == "ok"
    assert node.get("/api/ready").json()["status"] == "ready"
    info = node.get("/api/info").json()
    assert info["model"]["family"] == "openimages" and info["model"]["warmup_seconds"] > 0
    assert info["versions"]["gunicorn"] == "27.0.1"


def _mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_tensorflow_never_runs_in_the_gunicorn_master(node):
    assert "tensorflow" not in _mapped_libraries(node.master_pid())
    workers = node.worker_pids()
    assert workers and all("tensorflow" in _mapped_libraries(pid) for pid in workers)


def test_model_load_failure_stops_gunicorn_with_one_clear_message(tmp_path, session_images):
    handle = str(tmp_path / "no-such-model")
    node = Node(
        {"MODEL_HANDLE": handle, "IMAGES_DIR": str(session_images), "OUTPUT_DIR": str(tmp_path / "o")},
        tmp_path / "fail.log",
    ).start()
    try:
        code = node.process.wait(timeout=120)
    finally:
        node.stop()
    log = node.log()
    assert code != 0
    assert f"Could not load model {handle!r}" in log and "MODEL_HANDLE" in log
    assert "Traceback" not in log


def test_two_workers_each_load_the_model_and_answer(tiny_model_dirs, session_images, tmp_path):
    from harness.nodes import start_node

    node = start_node(
        {
            "MODEL_HANDLE": str(tiny_model_dirs["zoo"]),
            "IMAGES_DIR": str(session_images),
            "OUTPUT_DIR": str(tmp_path / "o"),
            "WORKERS": "2",
            "THREADS": "1",
        },
        tmp_path / "w2.log",
    )
    try:
        assert len(node.worker_pids()) == 2
        for _ in range(6):
            r = node.post("/api/detect", data={"input": "blue.webp"})
            assert r.status_code == 200 and r.json()["detection_class_entities"][0] == "Dog"
            assert r.json()["model"]["family"] == "tf2-detection-zoo"
    finally:
        assert node.stop() == 0
