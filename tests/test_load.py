"""Load test on a real gunicorn node with the tiny model: 16 clients, 500 requests, no errors, no leak."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from client.load import format_report, run_load
from harness.nodes import REPO, start_node
from measure.proc import find_master_pid


def write_load_images(folder) -> None:
    """A few images of the usual formats and sizes (noise, so JPEG and PNG work for their bytes)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    sizes = [(640, 480), (320, 240), (1024, 768), (200, 300)]
    for i, (fmt, ext) in enumerate(
        [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("JPEG", "jpeg"), ("GIF", "gif"), ("BMP", "bmp")]
    ):
        w, h = sizes[i % len(sizes)]
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.{ext}", format=fmt)
    (folder / "sub").mkdir()
    Image.new("RGB", (800, 600), (250, 10, 10)).save(folder / "sub" / "red.jpg", quality=90)


@pytest.fixture(scope="module")
def load_node(tiny_model_dirs, tmp_path_factory):
    """A node (1 worker, otherwise the defaults but an unbounded queue) whose IMAGES_DIR is the load-test folder."""
    base = tmp_path_factory.mktemp("load")
    images = base / "images"
    write_load_images(images)
    env = {
        "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
        "IMAGES_DIR": str(images),
        "OUTPUT_DIR": str(base / "output"),
        "MAX_UPLOAD_MB": "5",
        "API_KEY": "",
        "MAX_QUEUE": "-1",  # every request of the 16 clients is processed: this is about errors and leaks
    }
    node = start_node(env, base / "node.log")
    node.images_dir = images
    yield node
    node.stop()


def test_16_clients_500_requests_no_errors_no_memory_growth(load_node, record_property):
    assert find_master_pid(load_node.port) == load_node.master_pid()
    report = run_load(load_node.url, load_node.images_dir, clients=16, requests_count=500, warmup=300)
    print("\n" + format_report(report))
    for key in ("requests", "errors", "p50", "p95", "p99", "throughput", "rss_before", "rss_after", "rss_growth_pct"):
        record_property(f"load_{key}", getattr(report, key))
    assert report.requests == 500 and report.errors == 0 and report.shed == 0, report.error_samples
    assert report.by_kind["path"] > 100 and report.by_kind["upload"] > 100
    # Master and worker, both measured; the same processes before and after (no worker restarted).
    assert report.master_pid == load_node.master_pid()
    assert len(report.pids_after) >= 2 and report.pids_before == report.pids_after
    assert report.rss_growth_pct is not None and report.rss_growth_pct < 5.0, format_report(
        report
    )  # a leak per request would show here
    assert load_node.get("/api/ready").status_code == 200


def test_cli_exits_1_on_errors_and_0_without(load_node, tmp_path):
    script = [
        sys.executable,
        str(REPO / "scripts" / "load_test.py"),
        "--url",
        load_node.url,
        "--clients",
        "4",
        "--requests",
        "20",
        "--warmup",
        "0",
    ]
    good = subprocess.run(
        [*script, "--images", str(load_node.images_dir), "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "errors      0" in good.stdout and (tmp_path / "r.json").is_file()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "not-an-image.jpg").write_text("no pixels here\n")  # path requests: 404 (not in IMAGES_DIR)
    bad = subprocess.run([*script, "--images", str(broken)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "errors      20" in bad.stdout
