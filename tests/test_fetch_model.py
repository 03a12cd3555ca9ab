"""scripts/fetch_model.py against a loopback server that serves model archives the way TF Hub does."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import numpy as np
import pytest

from detector import fetch, hub_server, normalize_handle
from harness.nodes import REPO, free_port


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The script as a user runs it, from the repository root."""
    return subprocess.run(
        [sys.executable, "scripts/fetch_model.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def hub(tiny_model_dirs: dict[str, Path]):
    """A TF Hub-style server over the folder that holds the tiny models (openimages-tiny, zoo-tiny)."""
    roots = {p.parent for p in tiny_model_dirs.values()}
    assert len(roots) == 1
    server = hub_server.HubServer(roots.pop()).start()
    yield server
    server.stop()


class _RefusingHandler(BaseHTTPRequestHandler):
    """/forbidden/... answers 403 like Kaggle does for some tfhub.dev models; anything else, 200 with junk."""

    def do_GET(self) -> None:
        status, body = (403, b"Forbidden") if self.path.startswith("/forbidden") else (200, b"this is not a tarball")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def bad_hub():
    """Base URL of a server that refuses or sends garbage."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingHandler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _red_image() -> np.ndarray:
    image = np.zeros((32, 48, 3), np.uint8)
    image[..., 0] = 255
    return image


def test_dest_download_gives_a_plain_savedmodel_that_detects(hub, tmp_path):
    handle = f"{hub.url}/openimages-tiny/1"
    dest = tmp_path / "models" / "oi"
    before = len(hub.requests)

    result = run_cli(handle, "--dest", str(dest))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ") and f"MODEL_HANDLE={dest}" in result.stdout
    assert "openimages family" in result.stdout
    assert hub.requests[before:] == ["/openimages-tiny/1?tf-hub-format=compressed"]
    assert (dest / "saved_model.pb").is_file() and (dest / "variables").is_dir()
    assert (dest / fetch.PROVENANCE_FILE).read_text().splitlines()[0] == handle
    # Nothing is left beside DEST: no scratch cache, no staging folder.
    assert sorted(p.name for p in dest.parent.iterdir()) == ["oi"]

    from detector import load_model

    top = load_model(str(dest)).predict(_red_image())[0]
    assert top.label == "Person" and top.score == pytest.approx(1.0, abs=1e-3)


def test_cache_download_then_offline_start_from_the_cache(hub, tiny_model_dirs, tmp_path):
    """Filling TFHUB_CACHE_DIR once lets the next load work with the server gone, as nodes do."""
    dead = hub_server.HubServer(tiny_model_dirs["zoo"].parent).start()
    handle = f"{dead.url}/zoo-tiny/3"
    cache = tmp_path / "cache"

    first = run_cli(handle, env={"TFHUB_CACHE_DIR": str(cache)})
    dead.stop()

    assert first.returncode == 0, first.stderr
    assert "tf2-detection-zoo family" in first.stdout and f"TFHUB_CACHE_DIR={cache}" in first.stdout
    assert dead.requests == ["/zoo-tiny/3?tf-hub-format=compressed"]
    key = hashlib.sha1(handle.encode()).hexdigest()  # tensorflow_hub's cache layout
    assert (cache / key / "saved_model.pb").is_file()
    assert (cache / f"{key}.descriptor.txt").is_file()

    again = run_cli(handle, "--cache-dir", str(cache))  # server stopped: only the cache can answer
    assert again.returncode == 0, again.stderr


def test_403_is_one_clear_line_and_a_failure(bad_hub, tmp_path):
    result = run_cli(f"{bad_hub}/forbidden/model/1", "--dest", str(tmp_path / "m"))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fetch_model: error: HTTP 403")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "m").exists()
    assert list(tmp_path.iterdir()) == []  # the scratch cache was removed


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "HTTP 404"),
        ("offline", "cannot reach 127.0.0.1:"),
        ("garbage", "not a gzipped tar of a SavedModel"),
    ],
)
def test_download_failures_explain_themselves(hub, bad_hub, tmp_path, case, expected):
    handle = {
        "missing": f"{hub.url}/no-such-model/1",
        "offline": f"http://127.0.0.1:{free_port()}/model/1",
        "garbage": f"{bad_hub}/garbage/1",
    }[case]
    with pytest.raises(fetch.FetchError) as info:
        fetch.run(handle, dest=tmp_path / "m")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_detection_signature_is_refused(hub, tmp_path):
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return {"y": x * 2}

    root = tmp_path / "root"
    tf.saved_model.save(Doubler(), str(root / "doubler"))
    server = hub_server.HubServer(root).start()
    try:
        with pytest.raises(fetch.FetchError, match="no object-detection signature"):
            fetch.run(f"{server.url}/doubler/1", dest=tmp_path / "out")
    finally:
        server.stop()


def test_local_folder_is_copied_and_an_existing_dest_needs_force(tiny_model_dirs, tmp_path):
    dest = tmp_path / "copy"
    dest.mkdir()
    (dest / "keep.txt").write_text("x")

    with pytest.raises(fetch.FetchError, match="--force"):
        fetch.run(str(tiny_model_dirs["zoo"]), dest=dest, load_check=False)
    assert (dest / "keep.txt").is_file()

    result = fetch.run(str(tiny_model_dirs["zoo"]), dest=dest, force=True)
    assert result.family == "tf2-detection-zoo"
    assert (dest / "saved_model.pb").is_file() and not (dest / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]


def test_cache_mode_needs_a_cache_dir(hub):
    with pytest.raises(fetch.FetchError, match="--dest DIR, or --cache-dir"):
        fetch.run(f"{hub.url}/openimages-tiny/1")


def test_handles_are_normalised(tmp_path, monkeypatch):
    kaggle = "https://www.kaggle.com/models/google/frcnn/tensorFlow2/640x640/1"
    assert normalize_handle("google/frcnn/tensorFlow2/640x640/1") == kaggle
    assert normalize_handle(" https://tfhub.dev/a/b/1 ") == "https://tfhub.dev/a/b/1"
    assert normalize_handle(f"file://{tmp_path}") == str(tmp_path)
    (tmp_path / "google" / "frcnn" / "tensorFlow2" / "640x640" / "1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    # The same words naming a folder that exists stay a local path.
    assert normalize_handle("google/frcnn/tensorFlow2/640x640/1") == "google/frcnn/tensorFlow2/640x640/1"


def test_server_never_leaves_its_root(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "saved_model.pb").write_bytes(b"x")
    assert hub_server.find_model(tmp_path, "/m/7") == tmp_path / "m"
    assert hub_server.find_model(tmp_path / "m", "/../m/1") is None
    assert hub_server.find_model(tmp_path, "/%2e%2e/m") is None
    assert hub_server.find_model(tmp_path, "/nothing/1") is None


@pytest.mark.shared
def test_shared_model_through_the_hub_protocol(shared_dirs, tmp_path):
    """The real (small) detector from ../shared, downloaded the TF Hub way, finds the cat."""
    models, images = shared_dirs
    server = hub_server.HubServer(models).start()
    try:
        result = fetch.run(f"{server.url}/coco-style/1", dest=tmp_path / "coco")
    finally:
        server.stop()
    assert result.family == "tf2-detection-zoo"

    from detector import decode_image, load_model

    rgb = decode_image((images / "chelsea.jpg").read_bytes()).array
    top = load_model(str(tmp_path / "coco")).predict(rgb)[0]
    assert top.label.lower() == "cat" and top.score > 0.3
