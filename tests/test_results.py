"""Result files and the listing over real HTTP: GET /api/results/<path> serves regular files under OUTPUT_DIR
and nothing else, GET /api/results lists results and reports newest first, the result JSON links to both
files, the API key guards the data but not the pages, and every answer carries the security headers."""

from __future__ import annotations

import http.client
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.nodes import REPO, Node, start_node
from tests.fs_snapshot import snapshot
from tests.helpers import write_report_html

KEY = "results-key-7"
AUTH = {"X-API-Key": KEY}
ODD_NAME = "odd name #1 %41 ☕.jpg"  # a space, a fragment mark, a percent sign and a non-ASCII character


@pytest.fixture(scope="module")
def rnode(tiny_model_dirs, tmp_path_factory) -> Iterator[Node]:
    """A node with an API key and its own images and output folders, with files planted around them."""
    base = tmp_path_factory.mktemp("results")
    images, out = base / "images", base / "output"
    images.mkdir()
    out.mkdir()
    shutil.copy(REPO / "docs" / "example-report" / "stages.png", images / "plot.png")
    shutil.copy(images / "plot.png", images / ODD_NAME.replace(".jpg", ".png"))
    (base / "secret.txt").write_text("outside the results folder\n")
    os.mkfifo(out / "fifo.json")
    (out / "sub").mkdir()
    (out / "sub" / "inside.json").write_text('{"inside": true}\n')
    (out / "link-inside.json").symlink_to(out / "sub" / "inside.json")
    (out / "link-out.json").symlink_to(base / "secret.txt")
    (out / "dir-out").symlink_to(base)
    (out / ".partial.json.abc.tmp").write_text("{")
    node = start_node(
        {
            "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
            "IMAGES_DIR": str(images),
            "OUTPUT_DIR": str(out),
            "API_KEY": KEY,
        },
        tmp_path_factory.mktemp("results-logs") / "node.log",
        ready_headers=AUTH,
    )
    node.images_dir, node.output_dir = images, out
    yield node
    node.stop()


class RawAnswer:
    """An answer read with http.client, which sends the path exactly as given (no dot-segment removal)."""

    def __init__(self, node: Node, path: str, headers: dict[str, str]):
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            self.status_code = answer.status
            self.headers = answer.headers
            self.content = answer.read()
        finally:
            conn.close()
        self.text = self.content.decode("utf-8", "replace")

    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.content)


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    error = response.json()["error"]
    assert error["code"] == code
    return error["message"]


def test_result_json_links_both_files_and_they_are_served_byte_for_byte(rnode):
    r = rnode.post("/api/detect", data={"input": "plot.png", "output": "1"}, headers=AUTH)
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["annotated_image_url"] == "/api/results/plot.png"
    assert record["result_url"] == "/api/results/plot.png.json"
    image = rnode.get(record["annotated_image_url"], headers=AUTH)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content == Path(record["annotated_image_path"]).read_bytes()
    result = rnode.get(record["result_url"], headers=AUTH)
    assert result.headers["Content-Type"] == "application/json" and result.content == r.content
    for answer in (image, result):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in answer.headers["Content-Security-Policy"]
        assert "script-src" not in answer.headers["Content-Security-Policy"]  # default-src 'none': no script


def test_no_image_saved_means_an_empty_image_url(rnode):
    record = rnode.post("/api/detect", data={"input": "plot.png", "output": "0"}, headers=AUTH).json()
    assert record["annotated_image_url"] == "" and record["annotated_image_path"] == ""
    assert rnode.get(record["result_url"], headers=AUTH).json() == record


def test_urls_of_odd_names_are_percent_encoded_and_resolve(rnode):
    name = ODD_NAME.replace(".jpg", ".png")
    record = rnode.post("/api/detect", data={"input": name, "output": "1"}, headers=AUTH).json()
    assert record["result_url"] == "/api/results/" + quote(name + ".json")
    assert "#" not in record["result_url"] and " " not in record["result_url"]
    assert rnode.get(record["result_url"], headers=AUTH).json()["file"] == name
    assert rnode.get(record["annotated_image_url"], headers=AUTH).status_code == 200


def test_upload_urls_point_into_uploads(rnode):
    with open(rnode.images_dir / "plot.png", "rb") as fh:
        record = rnode.post("/api/detect", files={"image": ("up.png", fh)}, data={"output": "1"}, headers=AUTH).json()
    assert record["result_url"].startswith("/api/results/uploads/") and record["result_url"].endswith("-up.png.json")
    assert rnode.get(record["annotated_image_url"], headers=AUTH).content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("../secret.txt", 403, "forbidden"),
        ("sub/../../secret.txt", 403, "forbidden"),
        ("%2e%2e/secret.txt", 403, "forbidden"),  # decoded once by the server: a real ..
        ("link-out.json", 403, "forbidden"),  # a link to a file outside
        ("dir-out/secret.txt", 403, "forbidden"),  # through a linked folder outside
        ("missing.json", 404, "not_found"),
        ("sub", 400, "bad_request"),  # a folder: as in path mode
        ("sub/", 400, "bad_request"),
        ("fifo.json", 400, "bad_request"),  # answered at once, never opened
        (".partial.json.abc.tmp", 404, "not_found"),  # a write in progress
        ("sub/inside.json/x", 400, "bad_request"),  # a file used as a folder
        ("a%00b.json", 400, "bad_request"),
        ("x" * 5000, 400, "bad_request"),
    ],
)
def test_refusals(rnode, path, status, code):
    before = snapshot(rnode.output_dir.parent, skip=[rnode.output_dir / "uploads"])
    r = RawAnswer(rnode, "/api/results/" + path, AUTH)
    message = _error(r, status, code)
    assert "outside the output folder" in message if status == 403 else True
    assert "outside the results folder\n" not in r.text  # the secret's content never appears
    assert str(rnode.output_dir) not in message  # no server path in the answer
    assert snapshot(rnode.output_dir.parent, skip=[rnode.output_dir / "uploads"]) == before


def test_a_double_slash_never_reaches_outside(rnode):
    # A name that starts with `/` matches no route (no redirect that merges the slashes either): a JSON 404.
    _error(RawAnswer(rnode, "/api/results/%2Fetc%2Fpasswd", AUTH), 404, "not_found")
    _error(RawAnswer(rnode, "/api/results//etc/passwd", AUTH), 404, "not_found")
    _error(RawAnswer(rnode, "/api/results/etc/passwd", AUTH), 404, "not_found")


def test_an_absolute_path_is_checked_like_any_other(tmp_path):
    from app.errors import ApiError
    from app.inputs import resolve_result_path

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.json").write_text("{}")
    found = resolve_result_path(str(tmp_path / "out"), str(tmp_path / "out" / "a.json"))
    assert found == (tmp_path / "out" / "a.json", "a.json")
    with pytest.raises(ApiError) as refused:
        resolve_result_path(str(tmp_path / "out"), "/etc/passwd")
    assert refused.value.status == 403


def test_a_link_that_stays_inside_is_followed(rnode):
    r = rnode.get("/api/results/link-inside.json", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"inside": True}


def test_results_need_the_key_and_pages_do_not(rnode):
    for path in ("/api/results", "/api/results/sub/inside.json", "/api/results/missing.json"):
        assert _error(rnode.get(path), 401, "unauthorized")
        assert _error(rnode.get(path, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert rnode.get("/api/results/sub/inside.json", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    for page in ("/", "/results", "/results/view", "/docs"):
        r = rnode.get(page)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), page
        assert KEY not in r.text and str(rnode.output_dir) not in r.text and "plot.png" not in r.text
    for asset in ("/static/common.js", "/static/style.css", "/docs/static/swagger-ui-bundle.js"):
        assert rnode.get(asset).status_code == 200, asset
    assert _error(rnode.get("/docs/static/index.html"), 404, "not_found")  # only the files the page loads


def test_security_headers_on_pages_api_answers_and_errors(rnode):
    answers = {
        "page": rnode.get("/"),
        "viewer": rnode.get("/results/view"),
        "api": rnode.get("/api/info", headers=AUTH),
        "error": rnode.get("/api/info"),
        "unknown": rnode.get("/nowhere", headers=AUTH),
        "script": rnode.get("/static/detect.js"),
        "metrics": rnode.get("/metrics", headers=AUTH),
    }
    for name, r in answers.items():
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline';" not in csp.split("script-src")[1].split(";")[0], name
        assert "'unsafe-eval'" not in csp and "frame-ancestors 'none'" in csp, name
        assert r.headers["X-Content-Type-Options"] == "nosniff", name
    for name in ("page", "viewer", "api", "error", "unknown", "metrics"):
        assert answers[name].headers["Cache-Control"] == "no-store", name
    assert "style-src 'self';" in answers["page"].headers["Content-Security-Policy"]
    # Only the viewer allows inline styles (a report's <style>, shown in a frame where no script runs).
    assert "style-src 'self' 'unsafe-inline'" in answers["viewer"].headers["Content-Security-Policy"]
    assert "<iframe" in answers["viewer"].text and "sandbox" in answers["viewer"].text
    assert "<script>" not in answers["page"].text  # every script is a file: <script src=...>


def _listing(node: Node, **params) -> dict:
    r = node.get("/api/results", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    return r.json()


def test_listing_is_newest_first_and_paged(rnode):
    out = rnode.output_dir
    (out / "old").mkdir(exist_ok=True)
    for i in range(5):
        (out / "old" / f"r{i}.json").write_text(json.dumps({"objects_found": i, "detection_class_entities": ["x"] * i}))
        os.utime(out / "old" / f"r{i}.json", ns=(10**18 + i, 10**18 + i))  # 2001-09-09, one ns apart
    with open(rnode.images_dir / "plot.png", "rb") as fh:
        newest = rnode.post("/api/detect", files={"image": ("newest.png", fh)}, data={"output": "1"}, headers=AUTH)
    everything = _listing(rnode, limit=100)
    paths = [item["path"] for item in everything["items"]]
    assert paths[0] == newest.json()["result_url"].removeprefix("/api/results/")
    assert paths[-5:] == [f"old/r{i}.json" for i in (4, 3, 2, 1, 0)]
    assert everything["total"] == len(paths)
    stamps = [item["modified"] for item in everything["items"]]
    assert stamps == sorted(stamps, reverse=True)
    # Pages of 2 cover the same list once, in the same order.
    pages = [_listing(rnode, offset=offset, limit=2) for offset in range(0, everything["total"], 2)]
    assert [item["path"] for page in pages for item in page["items"]] == paths
    assert all(page["total"] == everything["total"] for page in pages)
    assert _listing(rnode, offset=everything["total"] + 10)["items"] == []
    first = everything["items"][0]
    assert first["kind"] == "result" and first["objects_found"] == newest.json()["objects_found"]
    assert first["annotated_image_url"] == newest.json()["annotated_image_url"]
    assert first["url"] == newest.json()["result_url"] and first["labels"] == newest.json()["detection_class_entities"]
    assert everything["items"][-1]["objects_found"] == 0 and everything["items"][-2]["labels"] == ["x"]


def test_listing_skips_hidden_links_fifos_and_other_files(rnode):
    paths = {item["path"] for item in _listing(rnode, limit=100)["items"]}
    assert "sub/inside.json" in paths
    assert not {"fifo.json", "link-inside.json", "link-out.json", ".partial.json.abc.tmp"} & paths
    assert not any(path.startswith("dir-out/") or path.endswith(".png") for path in paths)


def test_reports_are_listed_and_served_with_a_policy_they_work_under(rnode):
    report = rnode.output_dir / "report" / "report.html"
    report.parent.mkdir(exist_ok=True)
    write_report_html(report)
    (rnode.output_dir / "report" / "report.md").write_text("# not listed\n")
    listing = _listing(rnode, kind="report")
    assert [item["path"] for item in listing["items"]] == ["report/report.html"] and listing["total"] == 1
    assert "objects_found" not in listing["items"][0]
    r = rnode.get(listing["items"][0]["url"], headers=AUTH)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in csp and "img-src data:" in csp and "sandbox" in csp
    assert "<style>" in r.text and "data:image/png;base64," in r.text and "<script" not in r.text


def test_a_result_written_before_the_url_keys_gets_its_image_url_from_its_path(rnode):
    out = rnode.output_dir
    (out / "legacy").mkdir(exist_ok=True)
    shutil.copy(rnode.images_dir / "plot.png", out / "legacy" / "a.png")
    record = {"objects_found": 1, "annotated_image_path": str(out / "legacy" / "a.png")}
    (out / "legacy" / "a.png.json").write_text(json.dumps(record))
    item = next(i for i in _listing(rnode, limit=100)["items"] if i["path"] == "legacy/a.png.json")
    assert item["annotated_image_url"] == "/api/results/legacy/a.png"
    assert rnode.get(item["annotated_image_url"], headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "query",
    ["kind=all", "offset=-1", "offset=x", "limit=0", "limit=101", "limit=1.5", "page=2", "kind=result&kind=report"],
)
def test_listing_bad_parameters_are_400(rnode, query):
    message = _error(rnode.get("/api/results?" + query, headers=AUTH), 400, "bad_request")
    assert message
