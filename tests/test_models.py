"""Several models per node (MODELS), chosen per request: settings, the API, real gunicorn with both shared
detector families in one node, a model that fails to load, and the sender's --model-name."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

from app import create_app
from app.config import ConfigError, ModelSpec, Settings
from detector import Detector, DetectorOptions
from harness.nodes import Node, address, start_node
from scripts.sender import main as sender_main
from tests.helpers import make_images, read_log

# --- settings ---------------------------------------------------------------------------------------


def test_models_are_name_handle_pairs_and_the_first_is_the_default():
    s = Settings.from_env({"MODELS": " small=/models/a , big=https://tfhub.dev/x/1 ", "MODEL_HANDLE": "/ignored"})
    assert s.model_specs() == [ModelSpec("small", "/models/a"), ModelSpec("big", "https://tfhub.dev/x/1")]


def test_model_handle_alone_is_the_model_named_default():
    assert Settings.from_env({"MODEL_HANDLE": "/m"}).model_specs() == [ModelSpec("default", "/m")]


@pytest.mark.parametrize(
    "models, text",
    [
        ("a=/x,a=/y", "names 'a' twice"),
        ("a", "not name=handle"),
        ("a=", "not name=handle"),
        ("-a=/x", "is not valid"),
        ("a b=/x", "is not valid"),
        ("a=/x,,b=/y", "not name=handle"),
    ],
)
def test_bad_models_stop_the_node_at_start_with_a_clear_message(models, text):
    with pytest.raises(ConfigError, match=text):
        Settings.from_env({"MODELS": models})


# --- the API, on the two tiny families ---------------------------------------------------------------


@pytest.fixture
def two_model_app(tiny_models, images_dir, tmp_path):
    """An app with the tiny OpenImages-style model as `oi` (the default) and the tiny zoo model as `zoo`."""
    detectors = {
        name: Detector(tiny_models[family], DetectorOptions(), model_name=name)
        for name, family in (("oi", "openimages"), ("zoo", "zoo"))
    }
    return create_app(
        {"TESTING": True, "IMAGES_DIR": str(images_dir), "OUTPUT_DIR": str(tmp_path / "out"), "DETECTORS": detectors}
    )


def test_a_request_picks_its_model_by_name_in_form_query_or_json(two_model_app):
    client = two_model_app.test_client()
    default = client.post("/api/detect", data={"input": "red.jpg"}).get_json()
    by_form = client.post("/api/detect", data={"input": "red.jpg", "model": "zoo"}).get_json()
    by_query = client.post("/api/detect?model=zoo", data={"input": "red.jpg"}).get_json()
    by_json = client.post("/api/detect", json={"input": "red.jpg", "model": "zoo"}).get_json()
    assert default["model"]["name"] == "oi" and default["model"]["family"] == "openimages"
    for answer in (by_form, by_query, by_json):
        assert answer["model"]["name"] == "zoo" and answer["model"]["family"] == "tf2-detection-zoo"
    # The zoo model names its classes through the COCO map: id 90 is "Toothbrush" where OpenImages says "Portrait".
    assert "Portrait" in default["detection_class_entities"] and "Toothbrush" in by_form["detection_class_entities"]


def test_an_unknown_model_is_a_400_that_lists_the_known_ones(two_model_app):
    r = two_model_app.test_client().post("/api/detect", data={"input": "red.jpg", "model": "huge"})
    assert r.status_code == 400
    message = r.get_json()["error"]["message"]
    assert "'huge'" in message and "oi, zoo" in message


def test_with_several_models_results_never_overwrite_each_other(two_model_app, tmp_path):
    client = two_model_app.test_client()
    for model in ("oi", "zoo"):
        assert (
            client.post("/api/detect", data={"input": "a/same.jpg", "output": "1", "model": model}).status_code == 200
        )
    out = tmp_path / "out"
    for model in ("oi", "zoo"):
        saved = json.loads((out / model / "a" / "same.jpg.json").read_text())
        assert saved["model"]["name"] == model and (out / model / "a" / "same.jpg").is_file()
        assert saved["file"] == "a/same.jpg"  # still the input's path under IMAGES_DIR


def test_one_model_keeps_todays_layout(client, tmp_path):
    answer = client.post("/api/detect", data={"input": "red.jpg"}).get_json()
    assert answer["model"]["name"] == "default"
    assert Path(answer["result_path"]) == tmp_path / "output" / "red.jpg.json"


def test_models_endpoint_and_info_describe_every_model(two_model_app):
    client = two_model_app.test_client()
    models = client.get("/api/models").get_json()["models"]
    assert [(m["name"], m["default"], m["family"], m["state"]) for m in models] == [
        ("oi", True, "openimages", "ready"),
        ("zoo", False, "tf2-detection-zoo", "ready"),
    ]
    assert models[0]["label_count"] is None and models[1]["label_count"] == 80  # the COCO map's names
    info = client.get("/api/info").get_json()
    assert info["model"] == models[0] and info["models"] == models


# --- real gunicorn ------------------------------------------------------------------------------------


def test_one_node_serves_both_shared_detector_families_at_once(shared_dirs, tmp_path):
    models, images = shared_dirs
    env = {
        "MODELS": f"oi={models / 'openimages-style'},coco={models / 'coco-style'}",
        "IMAGES_DIR": str(images),
        "OUTPUT_DIR": str(tmp_path / "out"),
    }
    node = start_node(env, tmp_path / "node.log", timeout=240)
    try:
        ready = node.get("/api/ready").json()
        assert ready["models"] == ["oi", "coco"]
        listed = {m["name"]: m for m in node.get("/api/models").json()["models"]}
        assert listed["oi"]["signature"] == "default" and listed["coco"]["signature"] == "serving_default"
        assert all(m["load_seconds"] > 0 and m["warmup_seconds"] > 0 for m in listed.values())
        answers = {
            name: node.post("/api/detect", data={"input": "chelsea.jpg", "model": name}).json() for name in listed
        }
        for name, answer in answers.items():
            assert answer["model"]["name"] == name and answer["detection_class_entities"][0] == "Cat", answer
        assert answers["oi"]["model"]["family"] == "openimages"
        assert answers["coco"]["model"]["family"] == "tf2-detection-zoo"
        metrics = node.get("/metrics").text
        for name in ("oi", "coco"):
            assert f'detector_images_processed_total{{mode="path",model="{name}"}} 1.0' in metrics
            assert re.search(rf'^detector_model_load_seconds\{{[^}}]*model="{name}"', metrics, re.MULTILINE)
    finally:
        node.stop()


def test_a_model_that_fails_to_load_is_named_and_the_node_never_becomes_ready(tiny_model_dirs, images_dir, tmp_path):
    env = {
        "MODELS": f"good={tiny_model_dirs['openimages']},broken={tmp_path / 'no-such-model'}",
        "IMAGES_DIR": str(images_dir),
        "OUTPUT_DIR": str(tmp_path / "out"),
    }
    node = Node(env, tmp_path / "node.log").start()
    try:
        code = node.process.wait(120)
    finally:
        node.stop()
    assert code != 0  # gunicorn stops: a node that cannot serve every model never reports ready
    assert "model 'broken'" in node.log() and "no such local directory" in node.log()


def test_without_exiting_the_failure_is_in_ready_and_models(tiny_model_dirs, images_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELS", f"good={tiny_model_dirs['openimages']},broken={tmp_path / 'none'}")
    app = create_app(
        {
            "TESTING": True,
            "IMAGES_DIR": str(images_dir),
            "OUTPUT_DIR": str(tmp_path / "o"),
            "EXIT_ON_LOAD_FAILURE": False,
        }
    )
    service = app.extensions["model_service"]
    service.wait(120)
    client = app.test_client()
    ready = client.get("/api/ready")
    assert ready.status_code == 503 and "model 'broken'" in ready.get_json()["error"]["message"]
    states = {m["name"]: m["state"] for m in client.get("/api/models").get_json()["models"]}
    assert states == {"good": "ready", "broken": "failed"}


# --- the sender ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_model_node(tiny_model_dirs, tmp_path_factory):
    """A real node with both tiny families: `oi` (default) and `zoo`."""
    base = tmp_path_factory.mktemp("two-models")
    make_images(base / "images", 6)
    env = {
        "MODELS": f"oi={tiny_model_dirs['openimages']},zoo={tiny_model_dirs['zoo']}",
        "IMAGES_DIR": str(base / "images"),
        "OUTPUT_DIR": str(base / "out"),
    }
    node = start_node(env, base / "node.log")
    node.images_dir = base / "images"
    yield node
    node.stop()


@pytest.mark.parametrize("mode", ["path", "upload"])
def test_the_sender_picks_the_model_by_name_and_records_it(two_model_node, tmp_path, mode):
    log = tmp_path / "run.jsonl"
    assert two_model_node.images_dir is not None
    argv = [str(two_model_node.images_dir), "--nodes", address(two_model_node), "--mode", mode, "--model-name", "zoo"]
    assert sender_main([*argv, "--log", str(log), "--no-progress"]) == 0
    records = read_log(log)
    assert len(records) == 6 and all(r["model"] == "zoo" and r["ok"] for r in records)
    assert all("Toothbrush" in r["labels"] for r in records)  # the zoo model's label set
    assert {r["label"] for r in records} == {f"{mode} 1 node [zoo]"}


def test_the_sender_without_a_model_name_gets_the_default_and_a_wrong_name_fails_clearly(two_model_node, tmp_path):
    assert two_model_node.images_dir is not None
    folder = str(two_model_node.images_dir)
    log = tmp_path / "default.jsonl"
    assert sender_main([folder, "--nodes", address(two_model_node), "--log", str(log), "--no-progress"]) == 0
    assert {r["model"] for r in read_log(log)} == {"oi"}
    wrong = tmp_path / "wrong.jsonl"
    rc = sender_main([folder, "--nodes", address(two_model_node), "--model-name", "nope", "--log", str(wrong)])
    records = read_log(wrong)
    assert rc == 1 and all(r["status"] == 400 and "oi, zoo" in r["error"] for r in records)


def test_a_local_run_names_its_model(tiny_model_dirs, tmp_path):
    folder = tmp_path / "images"
    make_images(folder, 2)
    log = tmp_path / "local.jsonl"
    argv = [str(folder), "--local", "--model", str(tiny_model_dirs["zoo"]), "--model-name", "small"]
    assert sender_main([*argv, "--log", str(log), "--output-dir", str(tmp_path / "o"), "--no-progress"]) == 0
    records = read_log(log)
    assert {(r["model"], r["model_handle"], r["label"]) for r in records} == {
        ("small", str(tiny_model_dirs["zoo"]), "local [small]")
    }


def test_probes_stay_quick_while_two_models_load(tiny_model_dirs, images_dir, tmp_path):
    env = {
        "MODELS": f"a={tiny_model_dirs['openimages']},b={tiny_model_dirs['zoo']}",
        "IMAGES_DIR": str(images_dir),
        "OUTPUT_DIR": str(tmp_path / "out"),
    }
    node = Node(env, tmp_path / "node.log").start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(node.url + "/api/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        node.wait_ready(120)
        assert [m["state"] for m in node.get("/api/models").json()["models"]] == ["ready", "ready"]
    finally:
        node.stop()


# --- the report: models side by side ------------------------------------------------------------------


def test_the_report_puts_a_small_local_model_beside_a_large_remote_one(shared_dirs, tmp_path):
    from scripts.report import main as report_main

    models, images = shared_dirs
    env = {
        "MODELS": f"big={models / 'openimages-style'},small={models / 'coco-style'}",
        "IMAGES_DIR": str(images),
        "OUTPUT_DIR": str(tmp_path / "node-out"),
    }
    node = start_node(env, tmp_path / "node.log", timeout=240)
    try:
        remote = tmp_path / "big.jsonl"
        argv = [str(images), "--nodes", address(node), "--mode", "upload", "--model-name", "big", "--no-progress"]
        assert sender_main([*argv, "--log", str(remote)]) == 0
    finally:
        node.stop()
    local = tmp_path / "small.jsonl"
    argv = [str(images), "--local", "--model", str(models / "coco-style"), "--model-name", "small", "--no-progress"]
    assert sender_main([*argv, "--log", str(local), "--output-dir", str(tmp_path / "local-out")]) == 0
    out = tmp_path / "report"
    reference = "upload 1 node [big]"
    assert report_main([str(local), str(remote), "--out", str(out), "--reference", reference]) == 0
    runs = {r["label"]: r for r in json.loads((out / "summary.json").read_text())["runs"]}
    assert set(runs) == {"local [small]", reference}
    small, big = runs["local [small]"], runs[reference]
    assert small["model"]["name"] == "small" and big["model"]["name"] == "big"
    assert big["accuracy"]["map50"] == pytest.approx(1.0)  # the reference scored against itself
    assert small["accuracy"]["reference"] == reference and 0 < small["accuracy"]["map50"] <= 1
    assert small["per_image_ms"]["mean"] > 0 and big["bytes_sent_mean"] > 0 and small["bytes_sent_mean"] == 0
    # One row each in the report's accuracy table: time, bytes and accuracy of each model's run.
    report = (out / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and ("[small]" in line or "[big]" in line)]
    assert any("local at full size [small]" in line for line in rows)
    assert any("upload at full size [big]" in line for line in rows)
