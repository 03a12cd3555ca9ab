"""The benchmark (bench/) runs end to end on the tiny model and writes a well-formed results file.

Only the machinery is checked here: with the tiny model and sizes the figures mean nothing, so no
timing is asserted. The real run is `python -m bench` (see bench/RESULTS.md).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess

from bench import overload
from bench import run as bench_run
from bench.distribution import SENDER
from bench.report import Section

SECTIONS = range(1, 9)


def _children() -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


def test_smoke_run_writes_every_section_and_figure(tiny_model_dirs, tmp_path):
    before = _children()
    out = tmp_path / "bench" / "RESULTS.md"
    status = bench_run.main(
        [
            "--smoke",
            "--out",
            str(out),
            "--tiny-model",
            str(tiny_model_dirs["openimages"]),
            "--cache",
            str(tmp_path / "cache"),
            "--shared",
            str(tmp_path / "no-shared"),
        ]
    )
    assert status == 0
    assert _children() <= before, "the benchmark left processes running"

    text = out.read_text(encoding="utf-8")
    for number in SECTIONS:
        assert re.search(rf"^## {number}\. ", text, re.MULTILINE), f"section {number} missing"
    assert re.search(r"^- CPU: .+, \d+ cores", text, re.MULTILINE)
    assert "tensorflow 2." in text and "python -m bench --smoke" in text

    data = json.loads(out.with_name("results.json").read_text(encoding="utf-8"))
    figures = {f["key"]: f for f in data["figures"]}
    expected = {
        f"overhead.tiny.{photo_set}.{ratio}"
        for photo_set in ("photos", "camera")
        for ratio in ("path0_vs_b", "path0_vs_a", "path1_vs_b", "upload_vs_b")
    } | {
        "pipelining.tiny.k2_out1_vs_b",
        "decode.draft_vs_naive",
        "startup.tiny.node_vs_load",
        "memory.tiny.w1",
        "memory.tiny.w2",
    }
    if SENDER.is_file():
        expected |= {"distribution.equal", "distribution.mixed", "distribution.equal_old", "distribution.mixed_old"}
    assert expected <= set(figures)
    for key, f in figures.items():
        if f["value"] is None:  # not measurable in this run (a few seconds on a busy machine): it must say why
            assert key not in expected and f["note"], key
            continue
        assert isinstance(f["value"], float) and math.isfinite(f["value"]) and f["value"] > 0, key
        if f["limit"] is not None:
            assert f["verdict"] == "met" or f["verdict"].startswith("**missed**"), key
            # Every figure with a target appears in the summary table next to that target.
            assert re.search(rf"\| {re.escape(f['target'])} \| {re.escape(f['verdict'])} \|", text), key
    assert figures["memory.tiny.w2"]["value"] > figures["memory.tiny.w1"]["value"]  # two models loaded, not one


def test_an_overload_search_where_no_rate_met_the_objective_reports_no_capacity_and_says_why():
    section = Section(8, "overload")
    overload.report(section, overload.OverloadResult(alone_s=0.01, saturated_rate=10.0, slo_s=0.04), "tiny", "tiny")
    (capacity,) = [f for f in section.figures if f.key == "overload.tiny.capacity"]
    assert capacity.value is None and capacity.verdict == "not measured"
    assert "no rate tried met the objective" in capacity.note
