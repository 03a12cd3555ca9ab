"""scripts/report.py: built from real sender logs (a real node and a real local run), and its verdict
agrees with the numbers it shows and with the logs."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reporting.build import VERDICT_HEADERS
from reporting.verdict import TIE
from scripts.report import main as report_main
from scripts.sender import main as sender_main
from tests.helpers import REPORT, make_images, noise_jpeg, read_log, run_script

PLOTS = ["stages.png", "throughput.png", "local_vs_remote.png", "accuracy.png", "breakeven.png"]


@pytest.fixture(scope="module")
def real_logs(node, tiny_model_dirs, tmp_path_factory) -> dict[str, Path]:
    """A --local run and two upload runs (one throttled) of one folder, on the session's real node."""
    work = tmp_path_factory.mktemp("report-logs")
    folder = work / "photos"
    make_images(folder, 10, size=(160, 120))
    for i in range(3):  # a few larger, incompressible images, so sizes differ
        noise_jpeg(folder / f"noise-{i}.jpg", seed=i)
    logs = {name: work / f"{name}.jsonl" for name in ("local", "remote", "slow")}
    assert (
        sender_main(
            [
                str(folder),
                "--local",
                "--model",
                str(tiny_model_dirs["openimages"]),
                "--output-dir",
                str(work / "local-out"),
                "--log",
                str(logs["local"]),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        sender_main(
            [str(folder), "--mode", "upload", "--nodes", node.url, "--log", str(logs["remote"]), "--no-progress"]
        )
        == 0
    )
    assert (
        sender_main(
            [
                str(folder),
                "--mode",
                "upload",
                "--bandwidth",
                "2",
                "--nodes",
                node.url,
                "--log",
                str(logs["slow"]),
                "--no-progress",
            ]
        )
        == 0
    )
    return logs


def table_after(markdown: str, first_header: str) -> list[dict[str, str]]:
    """Rows (as {header: cell}) of the first Markdown table whose first header cell is `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    headers = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(headers, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def expected_winner(local: float, remote: float, lower_is_better: bool) -> str | None:
    """What the verdict must say for these shown numbers; None when rounding could tip it either way."""
    gap = abs(local - remote) / max(local, remote)
    if abs(gap - TIE) < 0.005:
        return None
    if gap < TIE:
        return "level"
    return "remote" if (remote < local) == lower_is_better else "local"


def words(winner: str) -> str:
    """How the verdict sentence names a winner."""
    return "local and remote are level" if winner == "level" else f"{winner} is faster"


def check_verdict_row(row: dict[str, str]) -> None:
    """Each verdict cell follows from the number cells of the same row (within display rounding)."""
    per_image = expected_winner(float(row["local ms/img"]), float(row["remote ms/img"]), lower_is_better=True)
    if per_image is not None:
        assert row["faster per image"] == per_image
    overall = expected_winner(float(row["local img/s"]), float(row["remote img/s"]), lower_is_better=False)
    if overall is not None:
        assert row["faster overall"] == overall
    margin_ms = float(row["local ms/img"]) - float(row["T_server ms"]) - float(row["L ms"])
    if row["break-even MB/s"] == "never":
        assert margin_ms <= 0.15
    else:
        assert margin_ms > -0.15
        if margin_ms > 1.0:  # far enough from 0 for the rounded cells to give B* to within 10 %
            expected = float(row["S kB"]) * 1000 / (margin_ms / 1000) / 1e6
            assert float(row["break-even MB/s"]) == pytest.approx(expected, rel=0.1)


def test_report_builds_from_real_logs(real_logs, tmp_path):
    out = tmp_path / "report"
    proc = run_script(
        REPORT,
        [str(real_logs["local"]), str(real_logs["remote"]), str(real_logs["slow"]), "--out", str(out)],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    md = (out / "report.md").read_text()
    for plot in PLOTS:
        assert f"]({plot})" in md
        with Image.open(out / plot) as im:
            assert im.format == "PNG" and im.size[0] > 400
    html = (out / "report.html").read_text()
    # Self-contained: every image is inline, nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(embedded) == len(PLOTS)
    for data in embedded:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.format == "PNG"
    assert "B* = S / (T_local - T_server - L)" in md
    runs = {r["run"]: r for r in table_after(md, "run")}
    assert set(runs) == {"local", "upload 1 node", "upload 1 node @2MB/s"}
    assert runs["local"]["images"] == "13" and runs["upload 1 node"]["ok"] == "13"


def test_verdict_matches_the_numbers_in_the_report_and_the_logs(real_logs, tmp_path):
    out = tmp_path / "report"
    assert (
        report_main([str(real_logs["local"]), str(real_logs["remote"]), str(real_logs["slow"]), "--out", str(out)]) == 0
    )
    md = (out / "report.md").read_text()
    rows = table_after(md, "remote run")
    assert [r["remote run"] for r in rows] == ["upload 1 node", "upload 1 node @2MB/s"]
    assert list(rows[0]) == VERDICT_HEADERS
    local = read_log(real_logs["local"])
    for row, name in zip(rows, ("remote", "slow"), strict=True):
        check_verdict_row(row)
        remote = read_log(real_logs[name])
        # The shown means are the logs' means (same images in both runs).
        assert float(row["local ms/img"]) == pytest.approx(np.mean([r["round_trip"] for r in local]) * 1000, abs=0.06)
        assert float(row["remote ms/img"]) == pytest.approx(np.mean([r["round_trip"] for r in remote]) * 1000, abs=0.06)
        assert float(row["T_server ms"]) == pytest.approx(
            np.mean([r["timings"]["total"] for r in remote]) * 1000, abs=0.06
        )
        assert float(row["S kB"]) == pytest.approx(np.mean([r["size"] for r in remote]) / 1000, abs=0.06)
        # The sentences say the same as the table.
        section = md.split(f"### {row['remote run']} vs local\n", 1)[1].split("\n### ", 1)[0]
        assert f"**Per image, {words(row['faster per image'])}" in section
        assert f"**Overall, {words(row['faster overall'])}" in section
        if row["break-even MB/s"] == "never":
            assert "**Break-even upload bandwidth: none.**" in section
        else:
            assert f"**Break-even upload bandwidth: {row['break-even MB/s'][:-1]}" in section
    # The throttled upload cannot be quicker than the upload of its bytes at 2 MB/s.
    slow = read_log(real_logs["slow"])
    assert float(rows[1]["remote ms/img"]) >= np.mean([r["request_bytes"] for r in slow]) / 2e6 * 1000


def record(
    file: str, node: str, start: float, round_trip: float, total: float, size: int, label: str, mode: str
) -> dict:
    """A record as the sender writes it (only the fields the report reads)."""
    return {
        "run": "r1",
        "label": label,
        "mode": mode,
        "per_node": 1,
        "bandwidth_mbps": None,
        "file": file,
        "size": size,
        "node": node,
        "host": "h",
        "ok": True,
        "status": 200 if node != "local" else None,
        "error": None,
        "attempts": 1,
        "tried": [node],
        "bytes_sent": 0,
        "request_bytes": 60,
        "round_trip": round_trip,
        "transfer": round_trip - total,
        "timings": {"decode": 0.001, "inference": total - 0.002, "annotate": 0.0, "write": 0.0, "total": total},
        "started_at": start,
        "finished_at": start + round_trip,
        "labels": ["Cat"],
        "scores": [0.5],
    }


def write_log(path: Path, records: list[dict]) -> Path:
    """A JSONL log."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    "local_s, expect_per_image, expect_even",
    [
        (0.200, "remote", "0.667"),  # 100 kB / (200 - 40 - 10 ms) = 0.667 MB/s
        (0.030, "local", "never"),  # the node's 40 ms alone exceed the local 30 ms
        (0.0505, "level", "200.000"),  # 1 % apart: level; 100 kB / 0.5 ms
    ],
)
def test_verdict_follows_the_numbers(tmp_path, local_s, expect_per_image, expect_even):
    files = [f"img-{i}.jpg" for i in range(10)]
    local = [
        record(f, "local", 1000 + i * local_s, local_s, local_s - 0.0005, 100_000, "local", "local")
        for i, f in enumerate(files)
    ]
    # Two nodes, each doing its five images back to back: 40 ms on the node + 10 ms transfer.
    remote = [
        record(f, f"n{i % 2}:5000", 2000 + (i // 2) * 0.05, 0.05, 0.04, 100_000, "path 2 nodes", "path")
        for i, f in enumerate(files)
    ]
    out = tmp_path / "report"
    assert (
        report_main(
            [
                str(write_log(tmp_path / "l.jsonl", local)),
                str(write_log(tmp_path / "r.jsonl", remote)),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    (row,) = table_after((out / "report.md").read_text(), "remote run")
    check_verdict_row(row)
    assert row["faster per image"] == expect_per_image
    assert row["break-even MB/s"] == expect_even
    assert (row["L ms"], row["T_server ms"], row["S kB"]) == ("10.0", "40.0", "100.0")
    assert float(row["remote img/s"]) == pytest.approx(10 / 0.25, rel=0.01)  # 10 images in 0.25 s
    assert float(row["local img/s"]) == pytest.approx(1 / local_s, rel=0.01)


def test_report_reads_a_log_with_a_torn_last_line(real_logs, tmp_path):
    torn = tmp_path / "torn.jsonl"
    torn.write_text(real_logs["remote"].read_text() + '{"file": "x.jpg", "ok": tr')
    out = tmp_path / "report"
    proc = run_script(REPORT, [str(real_logs["local"]), str(torn), "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0
    assert "torn.jsonl:15: skipped a line" in proc.stderr  # line 1 is the run-info line
    (row,) = table_after((out / "report.md").read_text(), "remote run")
    assert row["images"] == "13"


SUMMARY_KEYS = {"label", "images", "ok", "failed", "per_image_ms", "images_per_s", "bytes_sent_mean"}


def test_summary_json_has_every_run_scored_against_the_chosen_reference(real_logs, tmp_path):
    logs = [str(real_logs[name]) for name in ("local", "remote", "slow")]
    out = tmp_path / "report"
    assert report_main([*logs, "--out", str(out), "--truth-min-score", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    runs = {r["label"]: r for r in summary["runs"]}
    assert list(runs) == ["local", "upload 1 node", "upload 1 node @2MB/s"]
    assert summary["reference"] == "local" and summary["truth_min_score"] == 0
    local = read_log(real_logs["local"])
    for run in runs.values():
        assert SUMMARY_KEYS | {"accuracy", "whatif_error"} <= set(run)
        assert run["images"] == run["ok"] == 13 and run["failed"] == 0
        assert run["accuracy"]["map50"] == run["accuracy"]["map"] == 1.0  # the tiny model: same pixels, same boxes
    assert runs["local"]["per_image_ms"]["mean"] == pytest.approx(
        np.mean([r["round_trip"] for r in local]) * 1000, abs=1e-3
    )
    assert runs["local"]["whatif_error"] is None and runs["upload 1 node"]["whatif_error"] is None
    assert isinstance(runs["upload 1 node @2MB/s"]["whatif_error"], float)  # the emulated run is checked
    assert runs["upload 1 node @2MB/s"]["whatif"]["calibrated_from"] == "1 other run of its setting"
    remote = read_log(real_logs["remote"])
    assert runs["upload 1 node"]["bytes_sent_mean"] == pytest.approx(
        np.mean([r["bytes_sent"] for r in remote]), abs=0.1
    )

    # Another reference by label; a label that no run has is an error, not a silent default.
    assert report_main([*logs, "--out", str(out), "--reference", "upload 1 node", "--truth-min-score", "0"]) == 0
    assert json.loads((out / "summary.json").read_text())["reference"] == "upload 1 node"
    proc = run_script(REPORT, [*logs, "--out", str(tmp_path / "x"), "--reference", "nope"], cwd=tmp_path)
    assert proc.returncode == 1 and "--reference 'nope': no run has that label" in proc.stderr


def test_ground_truth_file_scores_every_run_and_unscored_runs_are_null(real_logs, tmp_path):
    local = [r for r in read_log(real_logs["local"]) if r["detections"]]
    assert local, "the tiny model finds something in these images"
    first = local[0]
    w, h = first["image"]["width"], first["image"]["height"]
    d = first["detections"][0]
    ymin, xmin, ymax, xmax = d["box"]
    coco = {
        "images": [{"id": 1, "file_name": Path(first["file"]).name, "width": w, "height": h}],
        "categories": [{"id": 5, "name": d["label"].lower()}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 5,
                "bbox": [xmin * w, ymin * h, (xmax - xmin) * w, (ymax - ymin) * h],
                "area": 1.0,
                "iscrowd": 0,
            }
        ],
    }
    gt = tmp_path / "instances.json"
    gt.write_text(json.dumps(coco))
    out = tmp_path / "report"
    assert (
        report_main([str(real_logs["local"]), str(real_logs["remote"]), "--out", str(out), "--ground-truth", str(gt)])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == "instances.json"
    for run in summary["runs"]:
        assert run["accuracy"]["images"] == 1 and run["accuracy"]["recall"] == 1.0
    # Without a full-size local run and without --reference, nothing is scored: accuracy is null.
    assert report_main([str(real_logs["remote"]), "--out", str(out)]) == 0
    (run,) = json.loads((out / "summary.json").read_text())["runs"]
    assert run["accuracy"] is None and run["whatif_error"] is None
    assert "No run is scored" in (out / "report.md").read_text()


def test_device_slowdown_adds_the_what_if_map(real_logs, tmp_path):
    logs = [str(real_logs[name]) for name in ("local", "remote", "slow")]
    out = tmp_path / "report"
    assert report_main([*logs, "--out", str(out), "--device-slowdown", "4"]) == 0
    md = (out / "report.md").read_text()
    assert "](breakeven-slowdown.png)" in md and "### What-if: a device 4x slower" in md
    with Image.open(out / "breakeven-slowdown.png") as im:
        assert im.format == "PNG"
    assert json.loads((out / "summary.json").read_text())["device_slowdown"] == 4
    proc = run_script(REPORT, [*logs, "--out", str(out), "--device-slowdown", "0"], cwd=tmp_path)
    assert proc.returncode == 2 and "--device-slowdown must be > 0" in proc.stderr
