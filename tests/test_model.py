"""detector.model: both TF Hub families from real SavedModels, clear load errors, real HTTP download."""

from __future__ import annotations

import http.server
import io
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from detector import FAMILY_OPENIMAGES, FAMILY_ZOO, ModelLoadError, load_model
from detector.model import load_coco_labels

RED = np.zeros((60, 80, 3), np.uint8)
RED[..., 0] = 255


def test_coco_label_map_has_the_80_classes_of_the_91_id_scheme():
    labels = load_coco_labels()
    assert len(labels) == 80
    assert (
        labels[1] == "Person" and labels[17] == "Cat" and labels[10] == "Traffic light" and labels[90] == "Toothbrush"
    )
    assert not {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91} & set(labels)


@pytest.mark.parametrize("family, expected_family", [("openimages", FAMILY_OPENIMAGES), ("zoo", FAMILY_ZOO)])
def test_both_families_give_the_same_detections(tiny_models, family, expected_family):
    model = tiny_models[family]
    assert model.family == expected_family
    dets = model.predict(RED)
    assert [d.label for d in dets][:1] == ["Person"]
    assert dets[0].score == pytest.approx(1.0, abs=1e-3)
    assert dets[0].box == pytest.approx((0.1, 0.1, 0.9, 0.5))
    scores = [d.score for d in dets]
    assert scores == sorted(scores, reverse=True)


def test_zoo_padding_rows_are_dropped_and_ids_are_named(tiny_models):
    dets = tiny_models["zoo"].predict(RED)
    assert len(dets) == 5  # num_detections, not the 100 padded rows
    assert {d.label for d in dets} == {"Person", "Cat", "Dog", "Toothbrush", "Kite"}


def test_model_sees_the_whole_image(tiny_models):
    tall = np.zeros((300, 100, 3), np.uint8)
    portrait = {d.label: d.score for d in tiny_models["openimages"].predict(tall)}["Portrait"]
    assert portrait == pytest.approx(0.75)


def test_family_comes_from_the_signature_not_the_name(tiny_model_dirs, tmp_path):
    misleading = tmp_path / "faster_rcnn_openimages_v4"
    shutil.copytree(tiny_model_dirs["zoo"], misleading)
    assert load_model(str(misleading)).family == FAMILY_ZOO


def test_warm_up_runs_an_inference(tiny_models):
    assert tiny_models["zoo"].warm_up() > 0


def test_missing_directory_names_the_handle_and_the_fix(tmp_path):
    handle = str(tmp_path / "nope")
    with pytest.raises(ModelLoadError) as info:
        load_model(handle)
    message = str(info.value)
    assert handle in message and "MODEL_HANDLE" in message and "TFHUB_CACHE_DIR" in message
    assert "Traceback" not in message


def test_directory_without_saved_model(tmp_path):
    with pytest.raises(ModelLoadError, match="no saved_model.pb"):
        load_model(str(tmp_path))


def test_model_without_detection_signature(tmp_path):
    from harness.tiny_models import build_without_detection_signature

    path = build_without_detection_signature(tmp_path / "not-a-detector")
    with pytest.raises(ModelLoadError, match="no object-detection signature"):
        load_model(str(path))


class _ArchiveHandler(http.server.BaseHTTPRequestHandler):
    archive = b""
    requests_seen: list[str] = []

    def do_GET(self):
        self.requests_seen.append(self.path)
        if self.path.startswith("/forbidden"):
            self.send_error(403, "Forbidden")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("Content-Length", str(len(self.archive)))
        self.end_headers()
        self.wfile.write(self.archive)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_server(tiny_model_dirs):
    """A loopback server answering like TF Hub: a gzipped tar of the SavedModel folder's contents."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for item in Path(tiny_model_dirs["openimages"]).iterdir():
            tar.add(item, arcname=item.name)
    _ArchiveHandler.archive = buf.getvalue()
    _ArchiveHandler.requests_seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ArchiveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_handle_downloads_once_then_loads_from_cache(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    handle = hub_server + "/google/tiny-detector/1"
    model = load_model(handle)
    assert model.family == FAMILY_OPENIMAGES and model.predict(RED)[0].label == "Person"
    assert _ArchiveHandler.requests_seen == ["/google/tiny-detector/1?tf-hub-format=compressed"]
    assert load_model(handle).family == FAMILY_OPENIMAGES
    assert len(_ArchiveHandler.requests_seen) == 1  # second load came from TFHUB_CACHE_DIR


def test_http_403_gives_one_clear_message(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    handle = hub_server + "/forbidden/model/1"
    with pytest.raises(ModelLoadError) as info:
        load_model(handle)
    assert "HTTP 403" in str(info.value) and handle in str(info.value) and "fetch_model.py" in str(info.value)


def test_unreachable_host_gives_one_clear_message(tmp_path, monkeypatch):
    from harness.nodes import free_port

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    handle = f"http://127.0.0.1:{free_port()}/google/model/1"
    with pytest.raises(ModelLoadError) as info:
        load_model(handle)
    assert handle in str(info.value) and "offline" in str(info.value)
