"""scripts/find_corrupt.py: full decode with the nodes' code; agrees with a real node's 422s."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from tests import images as corpus
from tests.helpers import FIND_CORRUPT, make_images, noise_jpeg, run_script


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Good images plus a truncated JPEG, a zero-byte file and a text file named like images."""
    folder = tmp_path / "photos"
    make_images(folder, 4)
    noise_jpeg(folder / "whole.jpg")
    data = (folder / "whole.jpg").read_bytes()
    (folder / "sub").mkdir()
    (folder / "sub" / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])  # the header is intact
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.JPG").write_text("shopping list\n" * 10)
    (folder / "readme.txt").write_text("not an image name: not checked")
    return folder


def problems(stdout: str) -> dict[str, str]:
    """{path: reason} from the output lines `path: reason`."""
    found = {}
    for line in stdout.splitlines():
        path, _, reason = line.partition(": ")
        found[path] = reason
    return found


def test_flags_truncated_empty_and_text_files_and_prints_only_them(mixed, tmp_path):
    proc = run_script(FIND_CORRUPT, [str(mixed)], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == ""
    found = problems(proc.stdout)
    assert sorted(found) == sorted(str(mixed / n) for n in ("sub/truncated.jpg", "empty.png", "notes.JPG"))
    assert "truncated" in found[str(mixed / "sub" / "truncated.jpg")]
    assert "empty file: 0 bytes" in found[str(mixed / "empty.png")]
    assert "not a recognised image format" in found[str(mixed / "notes.JPG")]


def test_truncated_file_is_caught_although_its_header_reads(mixed):
    # What the old header-only check saw: a valid JPEG header with the right size.
    with Image.open(mixed / "sub" / "truncated.jpg") as im:
        assert im.size == (320, 240)


def test_clean_folder_prints_nothing_and_exits_0(tmp_path):
    make_images(tmp_path / "ok", 5)
    proc = run_script(FIND_CORRUPT, [str(tmp_path / "ok")], cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_quarantine_moves_them_keeping_their_paths(mixed, tmp_path):
    before = (mixed / "sub" / "truncated.jpg").read_bytes()
    dest = mixed / "quarantine"  # inside the folder: it must not be scanned again
    proc = run_script(FIND_CORRUPT, [str(mixed), "--quarantine", str(dest)], cwd=tmp_path)
    assert proc.returncode == 1 and len(proc.stdout.splitlines()) == 3
    assert (dest / "sub" / "truncated.jpg").read_bytes() == before
    assert (dest / "empty.png").is_file() and (dest / "notes.JPG").is_file()
    assert not (mixed / "empty.png").exists()
    again = run_script(FIND_CORRUPT, [str(mixed), "--quarantine", str(dest)], cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, "")


def test_missing_folder_is_a_usage_error(tmp_path):
    proc = run_script(FIND_CORRUPT, [str(tmp_path / "nope")], cwd=tmp_path)
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_flags_exactly_what_a_real_node_answers_422_for(node, tmp_path):
    env = {**os.environ, "MAX_IMAGE_PIXELS": node.env["MAX_IMAGE_PIXELS"]}  # the node's limit, read the same way
    proc = run_script(FIND_CORRUPT, [str(node.images_dir)], cwd=tmp_path, env=env)
    assert proc.returncode == 1
    names = corpus.GOOD + corpus.BAD  # other test modules may add links to the shared folder for a while
    flagged = {os.path.relpath(p, node.images_dir) for p in problems(proc.stdout)} & set(names)
    assert flagged == set(corpus.BAD)
    for name in names:
        r = node.post("/api/detect", data={"input": name})
        assert r.status_code == (422 if name in flagged else 200), (name, r.text)
        with open(node.images_dir / name, "rb") as fh:  # and an upload of the same bytes agrees too
            up = node.post("/api/detect", files={"image": (os.path.basename(name), fh)})
        assert up.status_code == r.status_code, (name, up.text)
