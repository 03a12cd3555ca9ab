"""Helpers for the sender, report and find_corrupt tests: image folders, running the scripts, reading logs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.nodes import REPO

SENDER = REPO / "scripts" / "sender.py"
REPORT = REPO / "scripts" / "report.py"
FIND_CORRUPT = REPO / "scripts" / "find_corrupt.py"


def make_images(folder: Path, count: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[str]:
    """`count` distinct small JPEGs in two subfolders (some with upper-case extensions); their relative paths."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        rel = f"{'ab'[i % 2]}/img-{i:04d}.{'JPG' if i % 5 == 0 else 'jpg'}"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        Image.new("RGB", size, colour).save(path, quality=90)
        names.append(rel)
    return sorted(names)


def noise_jpeg(path: Path, size: tuple[int, int] = (320, 240), seed: int = 1) -> int:
    """A JPEG of random pixels (hard to compress: tens of kB); returns its size in bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)
    return path.stat().st_size


def run_script(
    script: Path, args: list[str], cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of the scripts as a user would: `python scripts/X.py ...`."""
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def start_sender(args: list[str], cwd: Path, stderr_path: Path) -> subprocess.Popen[bytes]:
    """The sender as a background process (so a test can kill it or a node under it)."""
    with open(stderr_path, "wb") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(SENDER), *args, "--no-progress"], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err
        )


def read_log(path: Path, run_info: bool = False) -> list[dict[str, Any]]:
    """Every complete record of a log (a torn last line is left out); with `run_info`, the sender's
    run-info lines too, in their place."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if run_info or not (isinstance(data, dict) and "run_info" in data):
            records.append(data)
    return records


def wait_for_records(
    path: Path, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Poll the log until `condition(records)` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = read_log(path) if path.exists() else []
        if condition(records):
            return records
        time.sleep(0.02)
    raise AssertionError(f"log {path} never reached the expected state")


def write_report_html(dest: Path) -> Path:
    """A real self-contained report.html (reporting.render's HTML: inline style, a PNG as a data: URI) at `dest`."""
    from reporting.render import Doc, to_html

    doc = Doc()
    doc.h(1, "Offloading report")
    doc.p("A **small** report with one plot, made by `reporting.render.to_html`.")
    doc.table(["run", "images", "ms/img"], [["local", "5", "95.8"], ["upload 1 node", "5", "113.8"]])
    doc.img(REPO / "docs" / "example-report" / "stages.png", "time per stage")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(to_html(doc, "Offloading report"), encoding="utf-8")
    return dest
