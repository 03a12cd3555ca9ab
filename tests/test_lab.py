"""The offloading lab end to end on real gunicorn nodes: edge preprocessing and --rtt through the real
sender, records with every box, run-info lines with the machines from /api/info, and scripts/sweep.py
on the shared detector and photos, whose summary.json says what the lab must: a run scored against
itself gives 1.0, full-size uploads match the full-size local run, strongly downscaled uploads send
fewer bytes and score lower, and every emulated run has its what-if error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from client.preprocess import Preprocess, prepare
from client.records import read_records, read_run_infos
from harness.nodes import start_node
from reporting.accuracy import score, truth_from_records
from scripts.report import main as report_main
from scripts.sender import main as sender_main
from scripts.sweep import main as sweep_main
from tests.helpers import make_images, noise_jpeg, read_log


def send(folder: Path, log: Path, *options: str) -> int:
    """One sender run, no progress bar."""
    return sender_main([str(folder), "--log", str(log), "--no-progress", *options])


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few generated photos of different sizes (tiny-model runs)."""
    folder = tmp_path_factory.mktemp("lab-photos")
    make_images(folder, 4, size=(320, 240))
    for i in range(2):
        noise_jpeg(folder / f"noise-{i}.jpg", size=(400, 300), seed=i)
    return folder


# --- on the session's tiny node -----------------------------------------------------------------------


def test_info_tells_the_machine_and_the_device_tensorflow_runs_on(node) -> None:
    info = node.get("/api/info").json()
    machine = info["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["memory_gib"] > 0
    assert set(machine) == {"cpu", "cores", "cores_usable", "memory_gib", "kernel", "os", "arch"}
    tf = info["tensorflow"]  # read in the worker once its model loaded
    assert tf["device"] in ("CPU:0", "GPU:0") and tf["version"] == info["versions"]["tensorflow"]
    assert isinstance(tf["gpus"], list) and (tf["device"] == "GPU:0") == bool(tf["gpus"])


def test_upload_preprocessing_sends_what_it_says_and_local_sees_the_same_pixels(
    node, tiny_model_dirs, photos, tmp_path
):
    options = ["--resize", "100", "--quality", "60"]
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    assert send(photos, remote, "--mode", "upload", "--nodes", node.url, *options) == 0
    model = str(tiny_model_dirs["openimages"])
    assert send(photos, local, "--local", "--model", model, "--output-dir", str(tmp_path / "out"), *options) == 0
    pre = Preprocess(resize=100, quality=60)
    records = {r.file: r for r in read_records(remote)}
    for name, r in records.items():
        expected = prepare(photos / name, pre)
        assert r.bytes_sent == len(expected.data) < r.size  # what was sent: the preprocessed JPEG
        assert r.image == {"width": expected.width, "height": expected.height}
        assert max(r.image.values()) == 100
        assert (r.resize, r.quality) == (100, 60) and r.encode > 0
        assert r.per_image == pytest.approx(r.encode + (r.round_trip or 0))
        assert r.detections is not None and [d["label"] for d in r.detections] == r.labels
        assert all(len(d["box"]) == 4 for d in r.detections)
    local_records = read_records(local)
    for r in local_records:  # the tiny model's answer is a function of the pixels: the same pixels, the same boxes
        assert r.detections == records[r.file].detections and r.encode > 0 and r.bytes_sent == 0
    truth = truth_from_records("local", local_records, min_score=0.0)
    acc = score(records.values(), truth)
    assert acc is not None and (acc.map50, acc.map) == (1.0, 1.0)


def test_rtt_adds_its_round_trip_to_every_request_in_upload_and_path_mode(node, photos, tmp_path):
    upload = tmp_path / "upload.jsonl"
    assert send(photos, upload, "--mode", "upload", "--rtt", "120", "--bandwidth", "50", "--nodes", node.url) == 0
    for r in read_records(upload):
        assert r.rtt_ms == 120 and r.bandwidth_mbps == 50
        assert r.transfer is not None and r.transfer >= 0.120  # both halves are slept inside the round trip
        assert r.label == "upload 1 node @50MB/s +120ms"
    folder = node.images_dir / "lab-rtt"  # path mode: the node reads the file from its own folder
    make_images(folder, 2)
    path_log = tmp_path / "path.jsonl"
    assert send(folder, path_log, "--rtt", "80", "--nodes", node.url) == 0
    assert all(r.transfer is not None and r.transfer >= 0.080 and r.bytes_sent == 0 for r in read_records(path_log))


def test_path_mode_with_preprocessing_is_a_usage_error(node, photos, tmp_path):
    with pytest.raises(SystemExit) as exc:
        send(photos, tmp_path / "x.jsonl", "--resize", "100", "--nodes", node.url)
    assert exc.value.code == 2
    assert not (tmp_path / "x.jsonl").exists()


def test_each_run_starts_with_a_run_info_line_the_report_reads(node, tiny_model_dirs, photos, tmp_path, capsys):
    log = tmp_path / "run.jsonl"
    assert send(photos, log, "--mode", "upload", "--nodes", node.url, "--label", "first") == 0
    assert send(photos, log, "--mode", "upload", "--nodes", node.url, "--label", "second") == 0  # appended
    lines = read_log(log, run_info=True)
    infos = [line for line in lines if "run_info" in line]
    assert len(infos) == 2 and lines[0] is infos[0] and "file" not in infos[0]
    capsys.readouterr()
    records = read_records(log)
    assert len(records) == 2 * 6 and "skipped" not in capsys.readouterr().err  # info lines are no torn records
    runs = read_run_infos(log)
    assert set(runs) == {r.run for r in records}
    info = runs[records[0].run]
    node_info = info.machine_of(node.url)
    assert node_info["machine"]["cpu"] and node_info["tensorflow"]["device"]
    assert info.sender["machine"]["cores"] >= 1 and info.link == {"bandwidth_mbps": None, "rtt_ms": None}
    local = tmp_path / "local.jsonl"
    model = str(tiny_model_dirs["openimages"])
    assert send(photos, local, "--local", "--model", model, "--output-dir", str(tmp_path / "out")) == 0
    local_info = next(iter(read_run_infos(local).values()))
    assert local_info.machine_of("local")["tensorflow"]["device"] in ("CPU:0", "GPU:0")
    out = tmp_path / "report"
    assert report_main([str(local), str(log), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    setup = md.split("## Experimental setup", 1)[1].split("\n## ", 1)[0]
    assert node_info["machine"]["cpu"] in setup and f"{node.url} (" in setup and "(in the sender)" in setup


# --- the sweep on the shared detector and photos ---------------------------------------------------------


@pytest.fixture(scope="module")
def shared_sweep(shared_dirs, tmp_path_factory) -> Path:
    """scripts/sweep.py on a real node of the shared detector: full size and 96 px, two links, the local reference."""
    models, images = shared_dirs
    work = tmp_path_factory.mktemp("lab-sweep")
    photos = work / "photos"
    photos.mkdir()
    for photo in sorted(images.glob("*.jpg")):
        shutil.copy(photo, photos / photo.name)
    node = start_node(
        {"MODEL_HANDLE": str(models / "openimages-style"), "IMAGES_DIR": str(photos), "OUTPUT_DIR": str(work / "o")},
        work / "node.log",
    )
    try:
        argv = [str(photos), "--nodes", node.url, "--model", str(models / "openimages-style"), "--out", str(work / "r")]
        argv += ["--sizes", "full", "96", "--qualities", "none", "--bandwidths", "none", "2", "--rtts", "0", "30"]
        argv += ["--warmup", "2", "--device-slowdown", "4"]
        assert sweep_main(argv) == 0
    finally:
        node.stop()
    return work / "r"


@pytest.mark.shared
def test_sweep_scores_every_run_and_reports_the_what_if_error(shared_sweep: Path) -> None:
    summary = json.loads((shared_sweep / "summary.json").read_text())
    runs = {r["label"]: r for r in summary["runs"]}
    assert len(runs) == 1 + 2 * 4 and summary["reference"] == "local"
    for run in runs.values():
        assert run["images"] == run["ok"] == 8 and run["failed"] == 0
        assert run["per_image_ms"]["p50"] <= run["per_image_ms"]["p95"] and run["images_per_s"] > 0
        assert run["accuracy"] is not None and set(run["accuracy"]) >= {"reference", "map50", "map", "recall"}
    local = runs["local"]
    assert (local["accuracy"]["map50"], local["accuracy"]["map"], local["accuracy"]["recall"]) == (1.0, 1.0, 1.0)
    full = [r for r in runs.values() if r["mode"] == "upload" and r["resize"] is None]
    small = [r for r in runs.values() if r["resize"] == 96]
    assert len(full) == len(small) == 4
    for r in full:
        assert r["accuracy"]["map50"] >= 0.95 and r["accuracy"]["map"] >= 0.95
        assert r["bytes_sent_mean"] == pytest.approx(101_000, rel=0.01)  # the 8 photos as they are on disk
    for r in small:
        assert r["bytes_sent_mean"] < min(f["bytes_sent_mean"] for f in full) / 5
        assert r["accuracy"]["map50"] < min(f["accuracy"]["map50"] for f in full)
    for r in runs.values():
        emulated = bool(r["bandwidth_mbps"] or r["rtt_ms"])
        assert (r["whatif_error"] is not None) == emulated, r["label"]
        if emulated:
            assert (
                isinstance(r["whatif_error"], float) and r["whatif"]["calibrated_from"] == "3 other runs of its setting"
            )
    # Every run names the machine that ran its model.
    assert all(r["machines"] and all(m.get("machine") for m in r["machines"].values()) for r in runs.values())


@pytest.mark.shared
def test_sweep_report_has_the_maps_the_pareto_view_and_both_sided_verdicts(shared_sweep: Path) -> None:
    md = (shared_sweep / "report.md").read_text()
    for plot in ("accuracy.png", "breakeven.png", "breakeven-slowdown.png"):
        assert f"]({plot})" in md
        with Image.open(shared_sweep / plot) as im:
            assert im.format == "PNG" and im.size[0] > 600
    assert "### What-if: a device 4x slower" in md
    lines = re.findall(r"^- \*\*upload at 96 px, q90 over 2 MB/s with a 30 ms round trip\*\*: .*$", md, re.MULTILINE)
    assert len(lines) == 1
    assert re.search(r"ms (faster|slower) per image than local|level with local", lines[0])
    assert re.search(r"mAP@0\.5 0\.\d\d of the reference", lines[0])
    assert "**Validation.**" in md and "error, own node times" in md
    sweep = json.loads((shared_sweep / "sweep.json").read_text())
    assert len(sweep["runs"]) == 9 and sweep["runs_seconds"] > 0
    assert sweep["settings"]["sizes"] == [None, 96]


# --- the sweep's plan, without nodes -------------------------------------------------------------------


def test_sweep_plan_is_the_grid_setting_by_setting_the_unemulated_run_first(tmp_path: Path) -> None:
    from client.sweep import Cell, parse

    plan, _ = parse(
        [str(tmp_path), "--nodes", "n:1", "--out", str(tmp_path / "o")]
        + ["--sizes", "full", "320", "--qualities", "none", "--bandwidths", "1", "none", "--rtts", "50", "0"]
    )
    cells = plan.cells()
    assert len(cells) == 2 * 1 * 2 * 2
    assert cells[:4] == [
        Cell(None, None, None, None),
        Cell(None, None, None, 50),
        Cell(None, None, 1, None),
        Cell(None, None, 1, 50),
    ]
    assert cells[4].options() == ["--resize", "320"] and cells[7].options() == [
        "--resize",
        "320",
        "--bandwidth",
        "1",
        "--rtt",
        "50",
    ]
    defaults, _ = parse([str(tmp_path), "--nodes", "n:1", "--out", str(tmp_path / "o")])
    assert len(defaults.cells()) == 3 * 2 * 3 * 2 and defaults.local  # the default small sweep: 36 upload runs
    for bad in (["--sizes", "0"], ["--qualities", "100"], ["--bandwidths", "-1"], ["--rtts", "-5"]):
        with pytest.raises(SystemExit) as exc:
            parse([str(tmp_path), "--nodes", "n:1", "--out", str(tmp_path / "o"), *bad])
        assert exc.value.code == 2
