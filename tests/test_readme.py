"""The README's examples work as written on a fresh clone: the sample photos ship in ./images with their
manifest, and the README's non-Docker commands (`make serve`'s node, its curl line, its sender line) run
unchanged against a real node. The Docker main job itself runs in ci/container_smoke.sh."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from harness.nodes import REPO, start_node
from tests.helpers import read_log
from tests.test_docs import code_blocks, commands

IMAGES = REPO / "images"
MANIFEST = IMAGES / "MANIFEST.md"
MAX_SAMPLE_BYTES = 2_000_000


def samples() -> list[Path]:
    """The sample photos in ./images."""
    return sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def readme_block_after(marker: str) -> list[str]:
    """The commands of the first code block after the line containing `marker`."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return commands(code_blocks(text[text.index(marker) :])[0])


def test_the_samples_are_small_real_photos_each_in_the_manifest_with_source_and_licence():
    photos = samples()
    assert len(photos) >= 3 and "chelsea.jpg" in {p.name for p in photos}
    assert sum(p.stat().st_size for p in photos) <= MAX_SAMPLE_BYTES
    manifest = MANIFEST.read_text(encoding="utf-8")
    assert "scikit-image 0.26.0" in manifest and "BSD-3-Clause" in manifest
    rows = {line.split("|")[1].strip().strip("`"): line for line in manifest.splitlines() if line.startswith("| `")}
    assert sorted(rows) == [p.name for p in photos]
    for photo in photos:
        with Image.open(photo) as image:
            width, height = image.size
            assert image.mode == "RGB" and min(width, height) >= 200
        row = rows[photo.name]
        assert f"{width} x {height}" in row and str(photo.stat().st_size) in row and "skimage/data/" in row
    for photo in photos:
        assert f"{hashlib.sha256(photo.read_bytes()).hexdigest()}  {photo.name}" in manifest


def test_git_tracks_the_samples_and_ignores_the_output_folder():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "images"], cwd=REPO, capture_output=True, text=True, check=True)
    assert sorted(tracked.stdout.split()) == sorted(f"images/{p.name}" for p in [*samples(), MANIFEST])
    ignored = subprocess.run(["git", "check-ignore", "-q", "output/x.json"], cwd=REPO, check=False)
    assert ignored.returncode == 0


@pytest.fixture(scope="module")
def readme_node(tiny_model_dirs, tmp_path_factory):
    """A node as `make serve` starts it (IMAGES_DIR=./images of the repository), on a free port."""
    out = tmp_path_factory.mktemp("readme-output")
    node = start_node(
        {"MODEL_HANDLE": str(tiny_model_dirs["openimages"]), "IMAGES_DIR": str(IMAGES), "OUTPUT_DIR": str(out)},
        tmp_path_factory.mktemp("readme-logs") / "node.log",
    )
    node.output_dir = out
    yield node
    node.stop()


def on_port(command: str, node) -> str:
    """The README's command aimed at this node instead of port 5000 (which may be taken on this machine)."""
    assert "127.0.0.1:5000" in command, command
    return command.replace("127.0.0.1:5000", f"127.0.0.1:{node.port}")


def test_make_serve_uses_the_sample_folder():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^IMAGES_DIR \?= \$\(CURDIR\)/images$", makefile, re.MULTILINE)


def test_the_readmes_curl_line_works_as_written(readme_node):
    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    (curl,) = [c for c in readme_block_after("Without Docker") if c.startswith("curl ")]
    assert curl == 'curl http://127.0.0.1:5000/api/detect -d "input=chelsea.jpg&output=1"'
    argv = shlex.split(on_port(curl, readme_node))
    argv.insert(1, "-sS")  # no progress meter; errors still shown
    answer = json.loads(subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert answer["file"] == "chelsea.jpg" and answer["objects_found"] >= 1
    assert (readme_node.output_dir / "chelsea.jpg").is_file() and (
        readme_node.output_dir / "chelsea.jpg.json"
    ).is_file()


def test_the_readmes_sender_line_works_as_written(readme_node, tmp_path):
    (sender,) = [c for c in readme_block_after("Without Docker") if c.startswith("python scripts/sender.py")]
    assert sender == "python scripts/sender.py images/ --output --nodes 127.0.0.1:5000"
    # The command runs from the repository root; a folder with the same names keeps ./output out of the clone.
    (tmp_path / "images").symlink_to(IMAGES)
    (tmp_path / "scripts").symlink_to(REPO / "scripts")
    argv = shlex.split(on_port(sender, readme_node))
    argv[0] = sys.executable
    run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].split()[:4] == ["node", "images", "ok", "failed"]
    (log,) = (tmp_path / "output").glob("sender-*.jsonl")
    records = read_log(log)  # the records, not the run-info line
    assert sorted(r["file"] for r in records) == [p.name for p in samples()] and all(r["ok"] for r in records)
    assert all((readme_node.output_dir / p.name).is_file() for p in samples())


@pytest.mark.shared
def test_the_real_small_detector_finds_the_cat_in_the_readmes_chelsea(shared_dirs, tmp_path):
    models, _ = shared_dirs
    node = start_node(
        {"MODEL_HANDLE": str(models / "openimages-style"), "IMAGES_DIR": str(IMAGES), "OUTPUT_DIR": str(tmp_path)},
        tmp_path / "node.log",
    )
    try:
        answer = node.post("/api/detect", data={"input": "chelsea.jpg", "output": "1"}).json()
    finally:
        node.stop()
    assert answer["detection_class_entities"][0] == "Cat" and answer["detection_scores"][0] > 0.3
