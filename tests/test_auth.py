"""Optional API key, on a real gunicorn node started with API_KEY."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.nodes import address, start_node
from scripts.sender import main as sender_main

KEY = "s3cret-key-for-tests"


@pytest.fixture(scope="module")
def locked_node(tiny_model_dirs, session_images, tmp_path_factory):
    node = start_node(
        {
            "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
            "IMAGES_DIR": str(session_images),
            "OUTPUT_DIR": str(tmp_path_factory.mktemp("auth-out")),
            "API_KEY": KEY,
        },
        tmp_path_factory.mktemp("auth-logs") / "node.log",
        ready_headers={"X-API-Key": KEY},
    )
    yield node
    node.stop()


def test_health_is_open(locked_node):
    assert locked_node.get("/api/health").status_code == 200


@pytest.mark.parametrize(
    "path, method",
    [
        ("/api/ready", "get"),
        ("/api/info", "get"),
        ("/metrics", "get"),
        ("/api/openapi.json", "get"),
        ("/api/detect", "post"),
        ("/api/results/red.jpg.json", "get"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": KEY[:-1]},
        {"Authorization": "Basic " + KEY},
    ],
)
def test_everything_else_needs_the_key(locked_node, path, method, headers):
    r = getattr(locked_node, method)(path, headers=headers, data={"input": "red.jpg"} if method == "post" else None)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_right_key_in_either_header(locked_node, headers):
    r = locked_node.post("/api/detect", data={"input": "red.jpg"}, headers=headers)
    assert r.status_code == 200 and r.json()["detection_class_entities"][0] == "Person"
    assert locked_node.get("/metrics", headers=headers).status_code == 200


def test_result_files_need_the_key_and_the_senders_fetch_sends_it(locked_node, tmp_path, monkeypatch):
    answer = locked_node.post("/api/detect", data={"input": "red.jpg", "output": "1"}, headers={"X-API-Key": KEY})
    urls = answer.json()["annotated_image_url"], answer.json()["result_url"]
    for url in urls:
        assert locked_node.get(url).status_code == 401
        assert locked_node.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200

    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "red.jpg").write_bytes(Path(answer.json()["annotated_image_path"]).read_bytes())
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    monkeypatch.setenv("API_KEY", KEY)
    args = [str(folder), "--nodes", address(locked_node), "--mode", "upload", "--output", "--fetch"]
    assert sender_main([*args, "--output-dir", str(out), "--log", str(log), "--no-progress"]) == 0
    assert (out / "red.jpg").is_file() and (out / "red.jpg.json").is_file()
