"""Results back to the client: the result JSON's URLs, GET /api/results/... on a real node (content types,
path mode's refusals), and the sender's --fetch in path and upload mode."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.nodes import address
from reporting.data import load_series
from reporting.verdict import compare
from scripts.sender import main as sender_main
from tests.helpers import read_log


def raw_get(node, path: str) -> tuple[int, str, bytes]:
    """GET exactly `path` (no client-side clean-up of `..`): status, content type, body."""
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def test_every_answer_names_its_files_by_url_and_the_node_serves_them(node):
    answer = node.post("/api/detect", data={"input": "a/same.jpg", "output": "1"}).json()
    assert answer["annotated_image_url"] == "/api/results/a/same.jpg"
    assert answer["result_url"] == "/api/results/a/same.jpg.json"

    image = node.get(answer["annotated_image_url"])
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    assert image.content == (node.output_dir / "a" / "same.jpg").read_bytes()
    result = node.get(answer["result_url"])
    assert result.status_code == 200 and result.headers["Content-Type"] == "application/json"
    assert result.json() == answer and result.content == (node.output_dir / "a" / "same.jpg.json").read_bytes()


def test_without_output_the_image_url_is_empty_and_other_formats_keep_their_type(node):
    answer = node.post("/api/detect", data={"input": "green.png"}).json()
    assert answer["annotated_image_url"] == "" and answer["annotated_image_path"] == ""
    assert node.get(answer["result_url"]).status_code == 200
    gif = node.post("/api/detect", data={"input": "palette.gif", "output": "1"}).json()
    assert gif["annotated_image_url"] == "/api/results/palette.gif.png"
    assert node.get(gif["annotated_image_url"]).headers["Content-Type"] == "image/png"


def test_names_that_need_quoting_round_trip(node):
    answer = node.post("/api/detect", data={"input": "café ☕.jpg", "output": "1"}).json()
    assert answer["result_url"] == "/api/results/" + quote("café ☕.jpg.json")
    assert node.get(answer["result_url"]).json()["file"] == "café ☕.jpg"
    assert node.get(answer["annotated_image_url"]).headers["Content-Type"] == "image/jpeg"


def test_uploads_are_served_from_their_uploads_folder(node):
    data = (node.images_dir / "red.jpg").read_bytes()
    answer = node.post("/api/detect", files={"image": ("mine.jpg", data, "image/jpeg")}, data={"output": "1"}).json()
    assert answer["result_url"].startswith("/api/results/uploads/") and answer["result_url"].endswith("-mine.jpg.json")
    image = node.get(answer["annotated_image_url"])
    assert image.status_code == 200 and image.content == Path(answer["annotated_image_path"]).read_bytes()


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/results/../../../etc/passwd", 403),
        ("/api/results/%2e%2e/%2e%2e/etc/passwd", 403),
        ("/api/results//etc/passwd", 404),  # the route never matches an absolute name
        ("/api/results/no-such.jpg.json", 404),
        ("/api/results/a", 400),  # a folder
        ("/api/results/bad%00name.json", 400),
    ],
)
def test_refusals_are_json_like_path_mode(node, path, status):
    node.post("/api/detect", data={"input": "a/same.jpg"})  # OUTPUT_DIR/a exists
    got, content_type, body = raw_get(node, path)
    assert got == status, body[:300]
    assert content_type == "application/json"
    assert set(json.loads(body)["error"]) == {"code", "message"}


def test_links_out_of_the_output_folder_fifos_and_temp_files_are_refused(node, tmp_path):
    out = node.output_dir
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": 1}')
    node.post("/api/detect", data={"input": "red.jpg"})
    planted = [out / "out-link.json", out / "in-link.json", out / "pipe.json", out / ".red.jpg.x1y2.tmp"]
    planted[0].symlink_to(secret)
    planted[1].symlink_to(out / "red.jpg.json")
    os.mkfifo(planted[2])
    planted[3].write_bytes(b"half-written")
    try:
        assert node.get("/api/results/out-link.json").status_code == 403
        assert node.get("/api/results/in-link.json").json()["file"] == "red.jpg"  # a link inside is followed
        fifo = node.get("/api/results/pipe.json", timeout=10)  # must not block on the FIFO
        assert fifo.status_code == 400 and fifo.json()["error"]["code"] == "bad_request"
        assert node.get("/api/results/.red.jpg.x1y2.tmp").status_code == 404
    finally:
        for path in planted:
            path.unlink()


def copy_images(node, rels: list[str], folder: Path) -> Path:
    """Copies of some of the node's images, at the same relative paths (so --remote-root maps them)."""
    for rel in rels:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes((node.images_dir / rel).read_bytes())
    return folder


def sender_args(node, folder: Path, mode: str, out: Path, log: Path) -> list[str]:
    """A --fetch run of the sender against `node` in `mode`."""
    args = [str(folder), "--nodes", address(node), "--mode", mode, "--fetch"]
    args += ["--output-dir", str(out), "--log", str(log), "--no-progress"]
    return args + (["--remote-root", str(node.images_dir)] if mode == "path" else [])


@pytest.mark.parametrize("mode", ["path", "upload"])
def test_sender_fetch_mirrors_the_inputs_paths_in_its_output_folder(node, tmp_path, mode):
    rels = ["red.jpg", "a/same.jpg", "b/same.jpg", "palette.gif"]
    folder = copy_images(node, rels, tmp_path / "images")
    out, log = tmp_path / "fetched", tmp_path / "run.jsonl"
    assert sender_main([*sender_args(node, folder, mode, out, log), "--output"]) == 0

    records = {r["file"]: r for r in read_log(log)}
    assert sorted(records) == sorted(rels)
    annotated = {rel: rel + ".png" if rel.endswith(".gif") else rel for rel in rels}
    for rel, record in records.items():
        saved = json.loads((out / f"{rel}.json").read_text())
        assert record["ok"] is True and saved["result_path"] == record["result_path"]
        assert (out / annotated[rel]).read_bytes() == Path(saved["annotated_image_path"]).read_bytes()
        assert (out / f"{rel}.json").read_bytes() == Path(saved["result_path"]).read_bytes()
        fetched_bytes = (out / annotated[rel]).stat().st_size + (out / f"{rel}.json").stat().st_size
        assert record["bytes_received"] > fetched_bytes  # the answer's body, plus both files
        assert record["download"] > 0
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert on_disk == sorted([f"{r}.json" for r in rels] + list(annotated.values()))


def test_without_output_only_the_json_is_fetched_and_without_fetch_nothing(node, tmp_path):
    folder = copy_images(node, ["green.png"], tmp_path / "images")
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    assert sender_main(sender_args(node, folder, "upload", out, log)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["green.png.json"]
    (record,) = read_log(log)
    assert record["bytes_received"] > (out / "green.png.json").stat().st_size and record["download"] > 0

    plain = tmp_path / "plain.jsonl"
    args = [a for a in sender_args(node, folder, "upload", tmp_path / "none", plain) if a != "--fetch"]
    assert sender_main(args) == 0
    (record,) = read_log(plain)
    assert record["download"] is None and record["bytes_received"] > 0  # the answer's body alone
    assert not (tmp_path / "none").exists()


def test_a_download_that_cannot_be_written_fails_the_image_with_the_reason(node, tmp_path):
    folder = copy_images(node, ["red.jpg"], tmp_path / "images")
    out, log = tmp_path / "out", tmp_path / "run.jsonl"
    (out / "red.jpg.json").mkdir(parents=True)  # a folder where the result file must go
    assert sender_main(sender_args(node, folder, "path", out, log)) == 1
    (record,) = read_log(log)
    assert record["ok"] is False and record["status"] == 200
    assert record["error"].startswith("download: ") and "red.jpg.json" in record["error"]


def test_the_report_counts_the_download_on_the_transfer_side(node, tiny_model_dirs, tmp_path):
    folder = copy_images(node, ["red.jpg", "green.png"], tmp_path / "images")
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    assert sender_main([*sender_args(node, folder, "upload", tmp_path / "o", remote), "--output"]) == 0
    model = str(tiny_model_dirs["openimages"])
    local_args = ["--local", "--model", model, "--output-dir", str(tmp_path / "l"), "--log", str(local)]
    assert sender_main([str(folder), *local_args, "--no-progress"]) == 0
    local_series, remote_series = load_series([local, remote])
    comparison = compare(local_series, remote_series)
    records = remote_series.records
    assert all(r.download and r.download > 0 for r in records)
    round_trips = [(r.round_trip or 0.0) + (r.download or 0.0) for r in records]
    transfers = [(r.transfer or 0.0) + (r.download or 0.0) for r in records]
    assert comparison.remote_time == pytest.approx(sum(round_trips) / len(records))
    assert comparison.latency == pytest.approx(sum(transfers) / len(records))
