"""Optional API key, on a real gunicorn node started with API_KEY."""

from __future__ import annotations

import pytest

from harness.nodes import start_node

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
