"""app: /api/detect request forms, outputs and JSON errors, through Flask's test client (tiny real model)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app import create_app


def _json_error(response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    if code:
        assert error["code"] == code
    return error["message"]


def test_form_path_relative_and_absolute(client, app, images_dir):
    out = Path(app.config["OUTPUT_DIR"])
    for given in ("red.jpg", str(images_dir / "red.jpg")):
        r = client.post("/api/detect", data={"input": given, "output": "1"})
        assert r.status_code == 200, r.get_json()
        record = r.get_json()
        assert record["input"] == given and record["file"] == "red.jpg"
        assert record["detection_class_entities"][0] == "Person"
        assert record["annotated_image_path"] == str(out / "red.jpg")
        assert (out / "red.jpg.json").read_bytes() == r.get_data()


def test_query_string_and_json_body(client, app):
    r = client.post("/api/detect?input=green.png&output=0")
    assert r.status_code == 200 and r.get_json()["detection_class_entities"][0] == "Cat"
    r = client.post("/api/detect", json={"input": "blue.webp", "output": True})
    assert r.status_code == 200 and r.get_json()["detection_class_entities"][0] == "Dog"
    assert Path(r.get_json()["annotated_image_path"]).is_file()


@pytest.mark.parametrize(
    "value, saved",
    [
        (None, False),
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_output_flag(client, app, value, saved):
    data = {"input": "red.jpg"} if value is None else {"input": "red.jpg", "output": value}
    r = client.post("/api/detect", data=data)
    assert r.status_code == 200
    assert bool(r.get_json()["annotated_image_path"]) is saved
    assert (Path(app.config["OUTPUT_DIR"]) / "red.jpg").exists() is saved


@pytest.mark.parametrize("value", ["maybe", "2", "", "tru"])
def test_output_flag_other_values_are_400(client, value):
    assert "output must be one of" in _json_error(
        client.post("/api/detect", data={"input": "red.jpg", "output": value}), 400
    )


def test_same_name_in_two_folders_never_collides(client, app):
    out = Path(app.config["OUTPUT_DIR"])
    a = client.post("/api/detect", data={"input": "a/same.jpg", "output": "1"}).get_json()
    b = client.post("/api/detect", data={"input": "b/same.jpg", "output": "1"}).get_json()
    assert a["result_path"] == str(out / "a" / "same.jpg.json") and b["result_path"] == str(out / "b" / "same.jpg.json")
    assert json.loads((out / "a" / "same.jpg.json").read_text())["detection_class_entities"][0] == "Person"
    assert json.loads((out / "b" / "same.jpg.json").read_text())["detection_class_entities"][0] == "Dog"


def test_multipart_upload_is_never_written_into_images(client, app, images_dir):
    before = sorted(p for p in images_dir.rglob("*"))
    data = {"image": (io.BytesIO((images_dir / "green.png").read_bytes()), "../../evil name.png"), "output": "1"}
    r = client.post("/api/detect", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    record = r.get_json()
    assert record["detection_class_entities"][0] == "Cat" and record["input"] == "../../evil name.png"
    out = Path(app.config["OUTPUT_DIR"]).resolve()
    for key in ("result_path", "annotated_image_path"):
        written = Path(record[key]).resolve()
        assert written.is_file() and written.parent == out / "uploads"
        assert written.name.endswith("evil_name.png") or written.name.endswith("evil_name.png.json")
    assert sorted(p for p in images_dir.rglob("*")) == before


def test_raw_body_upload(client):
    png = Path(client.application.config["IMAGES_DIR"], "blue.webp").read_bytes()
    r = client.post("/api/detect", data=png, content_type="image/webp")
    assert r.status_code == 200 and r.get_json()["detection_class_entities"][0] == "Dog"


def test_two_uploads_get_distinct_names(client, images_dir):
    paths = set()
    for _ in range(3):
        data = {"image": (io.BytesIO((images_dir / "red.jpg").read_bytes()), "same.jpg")}
        paths.add(client.post("/api/detect", data=data, content_type="multipart/form-data").get_json()["result_path"])
    assert len(paths) == 3


def test_upload_too_large_is_413(client):
    r = client.post("/api/detect", data=b"\xff" * (1024 * 1024 + 1), content_type="image/jpeg")
    assert "limit is 1" in _json_error(r, 413, "too_large")


@pytest.mark.parametrize(
    "kwargs, status, text",
    [
        ({"data": "hello", "content_type": "text/plain"}, 415, "unsupported content type"),
        ({"data": {}}, 400, "missing image"),
        ({"data": {"output": "1"}}, 400, "missing image"),
        ({"data": {"input": ""}}, 400, "non-empty"),
        ({"data": {"input": "red.jpg", "ouptut": "1"}}, 400, "unknown parameter"),
        ({"query_string": "input=red.jpg", "data": {"input": "green.png"}}, 400, "more than once"),
        ({"data": "[1, 2]", "content_type": "application/json"}, 400, "JSON body must be an object"),
        ({"data": "{broken", "content_type": "application/json"}, 400, "JSON body must be an object"),
        ({"json": {"input": 5}}, 400, "non-empty path"),
    ],
)
def test_bad_parameters(client, kwargs, status, text):
    assert text in _json_error(client.post("/api/detect", **kwargs), status)


def test_path_and_upload_together_is_400(client, images_dir):
    data = {"input": "red.jpg", "image": (io.BytesIO(b"x"), "a.jpg")}
    assert "not both" in _json_error(client.post("/api/detect", data=data, content_type="multipart/form-data"), 400)


def test_wrong_method_and_unknown_route_are_json(client):
    _json_error(client.get("/api/detect"), 405, "method_not_allowed")
    _json_error(client.get("/nope"), 404, "not_found")


def test_not_ready_is_503_and_health_still_answers(tmp_path, images_dir):
    app = create_app(
        {
            "TESTING": True,
            "IMAGES_DIR": str(images_dir),
            "OUTPUT_DIR": str(tmp_path / "o"),
            "MODEL_HANDLE": str(tmp_path / "missing-model"),
            "EXIT_ON_LOAD_FAILURE": False,
        }
    )
    service = app.extensions["model_service"]
    client = app.test_client()
    assert client.get("/api/health").status_code == 200
    assert service.wait(timeout=60) is False and service.state == "failed"  # the load fails on its thread
    message = _json_error(client.get("/api/ready"), 503, "not_ready")
    assert "missing-model" in message
    _json_error(client.post("/api/detect", data={"input": "red.jpg"}), 503, "not_ready")
    assert client.get("/api/info").get_json()["model"]["state"] == "failed"


def test_info_describes_model_versions_and_limits(client):
    info = client.get("/api/info").get_json()
    assert info["model"]["family"] == "openimages" and info["model"]["state"] == "ready"
    assert info["versions"]["tensorflow"] and info["versions"]["pillow"]
    assert info["limits"]["max_upload_mb"] == 1 and info["limits"]["min_score"] == 0.1
