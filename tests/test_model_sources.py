"""The default model's second source: a TF Hub handle that answers 403/404 is loaded from Kaggle Models
through kagglehub. Real nodes, the real fetch_model.py, real tensorflow_hub and kagglehub, against
loopback stand-ins for both sources (tests/model_sources.py); nothing of the code under test is mocked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from detector import fetch
from detector.sources import TFHUB_TO_KAGGLE, download_progress, kaggle_handle_for, parse_hosts
from harness.nodes import REPO, Node
from tests.model_sources import KaggleStandIn, RefusingHub

DEFAULT_PATH = "google/faster_rcnn/openimages_v4/inception_resnet_v2/1"
DEFAULT_KAGGLE = TFHUB_TO_KAGGLE[DEFAULT_PATH]


def sources_env(hub: RefusingHub, kaggle: KaggleStandIn, cache: Path) -> dict[str, str]:
    """The environment that makes the loopback hub count as TF Hub and the stand-in answer for Kaggle."""
    return {
        "TFHUB_HOSTS": hub.host,
        "KAGGLE_API_ENDPOINT": kaggle.url,
        "TFHUB_CACHE_DIR": str(cache),
        "KAGGLE_USERNAME": "",
        "KAGGLE_KEY": "",
        "KAGGLE_CONFIG_DIR": str(cache / "no-credentials"),
    }


@pytest.fixture
def hub():
    """A TF Hub stand-in that answers 403 to every download."""
    server = RefusingHub(403).start()
    yield server
    server.stop()


@pytest.fixture
def kaggle(tiny_model_dirs):
    """The Kaggle Models API with the tiny OpenImages-style model as the default model's Kaggle copy."""
    server = KaggleStandIn({DEFAULT_KAGGLE: tiny_model_dirs["openimages"]}).start()
    yield server
    server.stop()


def test_the_map_covers_the_documented_handles_and_only_tfhub_hosts():
    assert kaggle_handle_for(f"https://tfhub.dev/{DEFAULT_PATH}") == (
        "google/faster-rcnn-inception-resnet-v2/tensorFlow1/faster-rcnn-openimages-v4-inception-resnet-v2/1"
    )
    assert kaggle_handle_for("https://tfhub.dev/tensorflow/faster_rcnn/inception_resnet_v2_640x640/1") == (
        "tensorflow/faster-rcnn-inception-resnet-v2/tensorFlow2/640x640/1"
    )
    assert kaggle_handle_for(f"https://example.org/{DEFAULT_PATH}") is None  # not a TF Hub host
    assert kaggle_handle_for("https://tfhub.dev/someone/else/1") is None  # not in the map
    assert kaggle_handle_for(f"http://127.0.0.1:9/{DEFAULT_PATH}", parse_hosts(" 127.0.0.1:9 , x ")) == DEFAULT_KAGGLE
    # Every Kaggle handle has kagglehub's versioned form: owner/model/framework/variation/version.
    assert all(re.fullmatch(r"[\w-]+/[\w-]+/tensorFlow[12]/[\w-]+/\d+", k) for k in TFHUB_TO_KAGGLE.values())
    # The documented default handle is in the map.
    from detector.handles import DEFAULT_HANDLE

    assert kaggle_handle_for(DEFAULT_HANDLE) == DEFAULT_KAGGLE


def start_node(env: dict[str, str], tmp_path: Path, images: Path) -> Node:
    """A real node with `env`; not waited for."""
    out = tmp_path / "out"
    return Node({"IMAGES_DIR": str(images), "OUTPUT_DIR": str(out), **env}, tmp_path / "node.log").start()


def test_a_node_whose_tfhub_handle_is_refused_loads_it_from_kaggle(hub, kaggle, session_images, tmp_path):
    handle = f"{hub.url}/{DEFAULT_PATH}"
    env = {"MODEL_HANDLE": handle, **sources_env(hub, kaggle, tmp_path / "cache")}
    node = start_node(env, tmp_path, session_images)
    try:
        node.wait_ready(120)
        assert node.get("/api/info").json()["model"]["handle"] == handle
        answer = node.post("/api/detect", data={"input": "red.jpg"}).json()
        assert answer["detection_class_entities"][0] == "Person"
    finally:
        node.stop()
    log = node.log()
    assert hub.requests == [f"/{DEFAULT_PATH}?tf-hub-format=compressed"]
    listing = f"/api/v1/models/{DEFAULT_KAGGLE}/files?page_size=25"
    assert (
        kaggle.requests[0] == listing and f"/api/v1/models/{DEFAULT_KAGGLE}/download/saved_model.pb" in kaggle.requests
    )
    assert "HTTP 403" in log and f"loading the same model from Kaggle Models: {DEFAULT_KAGGLE}" in log
    assert f"model {handle} served by Kaggle Models ({DEFAULT_KAGGLE})" in log
    assert re.search(
        rf"downloaded {re.escape(DEFAULT_KAGGLE)} from Kaggle Models \({re.escape(kaggle.url)}\): \d+ kB", log
    )
    # The Kaggle copy went under TFHUB_CACHE_DIR, beside tensorflow_hub's own cache.
    assert (tmp_path / "cache" / "kagglehub" / "models").is_dir()


def test_when_both_sources_fail_the_node_stops_and_says_both_and_what_to_do(
    hub, tiny_model_dirs, session_images, tmp_path
):
    kaggle = KaggleStandIn({}, refuse=403).start()
    try:
        env = {"MODEL_HANDLE": f"{hub.url}/{DEFAULT_PATH}", **sources_env(hub, kaggle, tmp_path / "cache")}
        node = start_node(env, tmp_path, session_images)
        try:
            node.process.wait(120)
        finally:
            node.stop()
    finally:
        kaggle.stop()
    assert node.process.returncode != 0
    log = node.log()
    assert f"TF Hub answered HTTP 403 Forbidden for {hub.url}/{DEFAULT_PATH}" in log
    assert f"Kaggle Models ({DEFAULT_KAGGLE} via kagglehub from {kaggle.url}), failed too: HTTP 403" in log
    assert "What to do:" in log and "fetch_model.py HANDLE --dest DIR" in log and "KAGGLE_USERNAME" in log


def run_fetch(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """scripts/fetch_model.py as a user runs it."""
    return subprocess.run(
        [sys.executable, "scripts/fetch_model.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("status", [403, 404])
def test_fetch_model_falls_back_to_kaggle_into_dest(status, kaggle, tmp_path):
    hub = RefusingHub(status).start()
    try:
        handle = f"{hub.url}/{DEFAULT_PATH}"
        result = run_fetch([handle, "--dest", str(tmp_path / "m")], sources_env(hub, kaggle, tmp_path / "cache"))
    finally:
        hub.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {tmp_path / 'm'} (openimages family") and result.stdout.count("\n") == 1
    assert (tmp_path / "m" / "saved_model.pb").is_file()
    assert f"served by Kaggle Models ({DEFAULT_KAGGLE})" in result.stderr and f"HTTP {status}" in result.stderr
    assert "downloaded " in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # the download went to a scratch cache, now gone


def test_fetch_model_fills_the_cache_and_a_node_then_loads_offline(hub, tiny_model_dirs, session_images, tmp_path):
    """--cache-dir: the Kaggle copy lands in CACHE/kagglehub; a node with the same cache and the URL as
    MODEL_HANDLE starts with both sources gone (connection refused), from the cache alone."""
    kaggle = KaggleStandIn({DEFAULT_KAGGLE: tiny_model_dirs["openimages"]}, archive=True).start()
    cache = tmp_path / "cache"
    handle = f"{hub.url}/{DEFAULT_PATH}"
    env = sources_env(hub, kaggle, cache)
    try:
        result = run_fetch([handle, "--cache-dir", str(cache)], env)
    finally:
        kaggle.stop()
    assert result.returncode == 0, result.stderr
    assert f"/api/v1/models/{DEFAULT_KAGGLE}/download" in kaggle.requests  # the one-archive path of kagglehub
    assert list((cache / "kagglehub").rglob("saved_model.pb"))
    hub.stop()

    node = start_node({"MODEL_HANDLE": handle, **env}, tmp_path, session_images)
    try:
        node.wait_ready(120)
        assert node.post("/api/detect", data={"input": "red.jpg"}).json()["detection_class_entities"][0] == "Person"
    finally:
        node.stop()
    assert f"served by Kaggle Models ({DEFAULT_KAGGLE})" in node.log()


def test_a_handle_without_a_kaggle_copy_fails_as_before_and_kaggle_is_never_asked(hub, kaggle, tmp_path):
    env = sources_env(hub, kaggle, tmp_path / "cache")
    result = run_fetch([f"{hub.url}/someone/else/1", "--dest", str(tmp_path / "m")], env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("fetch_model: error: HTTP 403")
    assert kaggle.requests == []


def test_download_progress_logs_while_bytes_arrive_and_the_total_at_the_end(tmp_path, caplog):
    folder = tmp_path / "incoming"

    def write_slowly() -> None:
        for i in range(4):
            (folder / f"part{i}").write_bytes(b"x" * 300_000)
            time.sleep(0.15)

    caplog.set_level("INFO", logger="detector.sources")
    with download_progress("model X", folder, interval=0.1):
        writer = threading.Thread(target=write_slowly)
        writer.start()
        writer.join()
    lines = [r.getMessage() for r in caplog.records]
    assert any(re.fullmatch(r"downloading model X: \d+(\.\d)? (kB|MB) so far \(\d+ s\)", line) for line in lines), lines
    assert re.fullmatch(r"downloaded model X: 1\.2 MB in \d+\.\d s", lines[-1]), lines

    caplog.clear()
    with download_progress("cached model", folder, interval=0.1):
        time.sleep(0.3)  # nothing arrives: nothing is said
    assert caplog.records == []


def test_fetch_run_in_process_uses_the_same_fallback(hub, kaggle, tmp_path, monkeypatch):
    for name, value in sources_env(hub, kaggle, tmp_path / "cache").items():
        monkeypatch.setenv(name, value)
    result = fetch.run(f"{hub.url}/{DEFAULT_PATH}", dest=tmp_path / "m", tfhub_hosts=(hub.host,))
    assert result.family == "openimages" and (tmp_path / "m" / "saved_model.pb").is_file()
