"""The node's web page in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by
Selenium against real gunicorn nodes. Upload a photo and compare the page's tables with the API's JSON, see
a 422's message, browse results and a report, use the API docs, and work behind an API key.

Every test saves a screenshot under test-artifacts/browser/ (the path is printed at the end of the run).
WRITE_DOCS_SCREENSHOT=1 also writes the photo upload's screenshot to docs/page.png (the README's picture).
Skipped, with the reason, where Chromium, its driver or Selenium is missing (.ci/run installs them).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from PIL import Image

from harness.nodes import REPO, Node, start_node
from tests.conftest import ARTIFACTS, ARTIFACTS_USED
from tests.helpers import write_report_html

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless, and nothing that reaches out to the internet (updates, sync, background fetches).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1100",
]
WAIT_S = 60
KEY = "browser-key-3"
PHOTO = "coffee.jpg"  # Cup and Dining table at MIN_SCORE 0.3 (shared/models/README.md)
DOCS_SCREENSHOT = REPO / "docs" / "page.png"
MAX_DOCS_SCREENSHOT_BYTES = 200 * 1024

pytestmark = pytest.mark.timeout(600)


# ---------------------------------------------------------------- browser and nodes


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile; skipped when it cannot run here."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"no {' and no '.join(missing)}: apt-get install -y chromium chromium-driver (.ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium sends no usage statistics
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest) -> Path:
    """test-artifacts/browser/: one screenshot per test (ignored by git); conftest.py prints where."""
    folder = ARTIFACTS / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    request.config.stash[ARTIFACTS_USED] = True
    return folder


def _node(env: dict[str, str], tmp: Path, headers: dict[str, str] | None = None) -> Node:
    images, out = tmp / "images", tmp / "output"
    images.mkdir()
    node = start_node(
        {"IMAGES_DIR": str(images), "OUTPUT_DIR": str(out), **env}, tmp / "node.log", ready_headers=headers
    )
    node.images_dir, node.output_dir = images, out
    return node


@pytest.fixture(scope="module")
def tiny_node(tiny_model_dirs, tmp_path_factory) -> Iterator[Node]:
    """A node on the tiny OpenImages-style model, with its own output folder."""
    node = _node({"MODEL_HANDLE": str(tiny_model_dirs["openimages"])}, tmp_path_factory.mktemp("browser-tiny"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def photo_node(shared_dirs, tmp_path_factory) -> Iterator[Node]:
    """A node on the shared OpenImages-style detector (real photos give real detections)."""
    models, _ = shared_dirs
    env = {"MODEL_HANDLE": str(models / "openimages-style"), "MIN_SCORE": "0.3"}
    node = _node(env, tmp_path_factory.mktemp("browser-photo"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def two_model_node(tiny_model_dirs, tmp_path_factory) -> Iterator[Node]:
    """A node with two models: the tiny OpenImages-style one as `oi` (the default), the tiny zoo one as `zoo`."""
    env = {"MODELS": f"oi={tiny_model_dirs['openimages']},zoo={tiny_model_dirs['zoo']}"}
    node = _node(env, tmp_path_factory.mktemp("browser-two-models"))
    yield node
    node.stop()


@pytest.fixture(scope="module")
def locked_node(tiny_model_dirs, tmp_path_factory) -> Iterator[Node]:
    """A node with API_KEY set."""
    env = {"MODEL_HANDLE": str(tiny_model_dirs["openimages"]), "API_KEY": KEY}
    node = _node(env, tmp_path_factory.mktemp("browser-locked"), headers={"X-API-Key": KEY})
    yield node
    node.stop()


# ---------------------------------------------------------------- helpers


def wait(driver, condition, message: str, timeout: float = WAIT_S):
    """Wait until `condition(driver)` is truthy; fail with `message` and the page's text otherwise."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        raise AssertionError(f"{message}; the page shows:\n{driver.find_element('tag name', 'body').text}") from None


def by_id(driver, element_id: str):
    """The element with this id."""
    return driver.find_element("id", element_id)


def shown(driver, element_id: str) -> bool:
    """The element is displayed."""
    return by_id(driver, element_id).is_displayed()


def shot(driver, artifacts: Path, name: str) -> Path:
    """Save a screenshot of the window as an artefact."""
    path = artifacts / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def open_page(driver, node: Node, path: str) -> None:
    """Load a page and wait until its access check is done (content shown, key asked for, or an error)."""
    driver.get(node.url + path)
    wait(
        driver,
        lambda d: shown(d, "content") or shown(d, "key-panel") or shown(d, "page-error"),
        f"{path} never finished loading",
    )


def policy_violations(driver) -> list[str]:
    """Console messages about the Content-Security-Policy since the last call (the log is drained)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def foreign_requests(driver, node: Node) -> list[str]:
    """Resources the page loaded from anywhere but the node (or blob:/data: URLs it made itself)."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [n for n in names if not n.startswith((node.url + "/", "blob:", "data:"))]


def upload(driver, path: Path, save: bool = True) -> None:
    """Choose a file, set the output box, press Detect."""
    by_id(driver, "image-input").send_keys(str(path))
    box = by_id(driver, "output-input")
    if box.is_selected() != save:
        box.click()
    by_id(driver, "detect-button").click()


def wait_for_result(driver) -> None:
    """Wait until the result is shown with its picture (the node's annotated image, or the page's drawing)."""
    wait(
        driver,
        lambda d: (
            shown(d, "page-error")
            or shown(d, "detect-error")
            or d.execute_script(
                "const i = document.getElementById('annotated'), c = document.getElementById('drawn');"
                "return !document.getElementById('result').hidden &&"
                " ((!i.hidden && i.complete && i.naturalWidth > 0) || (!c.hidden && c.width > 0));"
            )
        ),
        "no result appeared",
    )
    assert not shown(driver, "detect-error"), by_id(driver, "detect-error").text
    assert not shown(driver, "page-error"), by_id(driver, "page-error").text


def table_rows(driver, table_id: str) -> list[list[str]]:
    """The text of every body cell of a table, row by row."""
    rows = driver.find_elements("css selector", f"#{table_id} tbody tr")
    return [[cell.text for cell in row.find_elements("tag name", "td")] for row in rows]


def detections_shown(driver) -> list[dict[str, Any]]:
    """The detection table parsed back into the result JSON's form."""
    found: list[dict[str, Any]] = []
    for number, label, score, box in table_rows(driver, "detections"):
        assert number == str(len(found) + 1)
        found.append({"label": label, "score": float(score), "box": [float(v) for v in box.strip("[]").split(",")]})
    return found


def timings_shown(driver) -> dict[str, float]:
    """The timings table, keyed by each row's stage."""
    rows = driver.find_elements("css selector", "#timings tbody tr")
    return {row.get_attribute("data-stage"): float(row.find_elements("tag name", "td")[1].text) for row in rows}


def write_docs_screenshot(source: Path) -> None:
    """docs/page.png from a screenshot: reduced to 256 colours, so the README's picture stays small."""
    with Image.open(source) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(DOCS_SCREENSHOT, optimize=True)
    assert DOCS_SCREENSHOT.stat().st_size <= MAX_DOCS_SCREENSHOT_BYTES


# ---------------------------------------------------------------- the tests


@pytest.mark.shared
def test_upload_a_photo_and_see_the_same_numbers_as_the_json(browser, photo_node, shared_dirs, artifacts):
    _, photos = shared_dirs
    open_page(browser, photo_node, "/")
    assert shown(browser, "content") and not shown(browser, "key-panel")
    assert not shown(browser, "model-field")  # one model on this node: no chooser
    upload(browser, photos / PHOTO)
    wait_for_result(browser)
    path = shot(browser, artifacts, "upload-photo")
    if os.environ.get("WRITE_DOCS_SCREENSHOT") == "1":
        write_docs_screenshot(path)

    # The answer the page got: the result JSON it links to, as the node wrote it.
    link = browser.find_element("css selector", "#result-links a").get_attribute("href")
    rel = unquote(link.split("path=", 1)[1])
    record = photo_node.get("/api/results/" + quote(rel)).json()
    assert record["input"] == PHOTO and record["annotated_image_url"]
    assert detections_shown(browser) == record["detections"]
    labels = [d["label"] for d in record["detections"]]
    assert labels[0] == "Cup" and "Dining table" in labels
    timings = timings_shown(browser)
    assert {k: timings[k] for k in record["timings"]} == record["timings"]
    assert timings["round_trip"] >= record["timings"]["total"] > 0
    assert timings["outside_node"] == pytest.approx(timings["round_trip"] - record["timings"]["total"], abs=2e-4)
    # The picture is the node's annotated copy, at the photo's full size.
    size = browser.execute_script(
        "const i = document.getElementById('annotated'); return [i.naturalWidth, i.naturalHeight]"
    )
    with Image.open(photos / PHOTO) as original:
        assert tuple(size) == original.size
    assert f"{record['image']['width']}×{record['image']['height']}" in by_id(browser, "result-summary").text
    # The same image sent straight to the API gives the same detections.
    with open(photos / PHOTO, "rb") as fh:
        direct = photo_node.post("/api/detect", files={"image": (PHOTO, fh, "image/jpeg")}).json()
    assert direct["detections"] == record["detections"]
    assert foreign_requests(browser, photo_node) == []
    assert policy_violations(browser) == []


@pytest.mark.shared
def test_the_results_page_lists_the_upload_first_and_opens_it(browser, photo_node, shared_dirs, artifacts):
    _, photos = shared_dirs
    open_page(browser, photo_node, "/")
    upload(browser, photos / PHOTO)
    wait_for_result(browser)
    newest = photo_node.get("/api/results?limit=1").json()["items"][0]  # the API's own answer, for comparison
    assert newest["path"].startswith("uploads/") and newest["path"].endswith(f"-{PHOTO}.json")
    open_page(browser, photo_node, "/results")
    wait(browser, lambda d: shown(d, "results"), "no results table")
    first = browser.find_elements("css selector", "#results tbody tr")[0]
    assert first.get_attribute("data-path") == newest["path"]
    assert "Cup" in first.text
    shot(browser, artifacts, "results-page")
    first.find_element("css selector", "td.path a").click()
    wait(
        browser,
        lambda d: (
            shown(d, "viewer-error")
            or (
                shown(d, "viewer-record")
                and d.execute_script("return document.getElementById('viewer-img').naturalWidth")
            )
        ),
        "the result did not open",
    )
    assert not shown(browser, "viewer-error"), by_id(browser, "viewer-error").text
    record = photo_node.get(newest["url"]).json()
    assert detections_shown(browser) == record["detections"]
    assert json.loads(by_id(browser, "viewer-json").text) == record
    shot(browser, artifacts, "result-viewer")
    assert policy_violations(browser) == []


def test_a_text_file_shows_the_422_message(browser, tiny_node, tmp_path, artifacts):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not an image\n" * 10)
    with open(notes, "rb") as fh:
        api = tiny_node.post("/api/detect", files={"image": ("notes.txt", fh, "text/plain")})
    assert api.status_code == 422
    error = api.json()["error"]
    open_page(browser, tiny_node, "/")
    upload(browser, notes)
    wait(browser, lambda d: shown(d, "detect-error"), "no error message")
    text = by_id(browser, "detect-error").text
    assert text == f"{error['message']} (HTTP 422, {error['code']})"
    assert "{" not in text and not shown(browser, "result")
    shot(browser, artifacts, "error-422")
    # Nothing chosen at all: a message, not a request.
    open_page(browser, tiny_node, "/")
    by_id(browser, "detect-button").click()
    assert by_id(browser, "detect-error").text == "Choose or drop an image first."


def test_with_several_models_the_page_lets_a_person_choose_one(browser, two_model_node, session_images, artifacts):
    from selenium.webdriver.support.ui import Select

    open_page(browser, two_model_node, "/")
    wait(browser, lambda d: shown(d, "model-field"), "no model chooser on a two-model node")
    choice = Select(by_id(browser, "model-select"))
    assert [o.get_attribute("value") for o in choice.options] == ["oi", "zoo"]
    choice.select_by_value("zoo")
    upload(browser, session_images / "red.jpg")
    wait_for_result(browser)
    labels = [d["label"] for d in detections_shown(browser)]
    # The zoo model names class 90 through the COCO map ("Toothbrush"); the default model says "Portrait".
    with open(session_images / "red.jpg", "rb") as fh:
        api = two_model_node.post("/api/detect", files={"image": ("red.jpg", fh, "image/jpeg")}, data={"model": "zoo"})
    assert labels == api.json()["detection_class_entities"] and "Toothbrush" in labels
    shot(browser, artifacts, "two-models")


def test_a_node_with_one_model_shows_no_chooser(browser, tiny_node, artifacts):
    open_page(browser, tiny_node, "/")  # its access check (GET /api/info) is done: the chooser is decided
    assert not shown(browser, "model-field")


def test_output_off_the_page_draws_the_boxes_itself(browser, tiny_node, session_images, artifacts):
    open_page(browser, tiny_node, "/")
    upload(browser, session_images / "red.jpg", save=False)
    wait_for_result(browser)
    assert shown(browser, "drawn") and not shown(browser, "annotated")
    assert "output was off" in by_id(browser, "figure-note").text
    size, not_red = browser.execute_script(
        "const c = document.getElementById('drawn'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) { if (!(d[i] > 200 && d[i+1] < 60 && d[i+2] < 60)) n++; }"
        "return [[c.width, c.height], n];"
    )
    assert size == [320, 240] and not_red > 500  # the red photo, with boxes and labels drawn on it
    assert detections_shown(browser)[0]["label"] == "Person"
    shot(browser, artifacts, "output-off-canvas")
    assert policy_violations(browser) == []


def test_a_dropped_image_is_detected(browser, tiny_node, session_images, artifacts):
    open_page(browser, tiny_node, "/")
    data = base64.b64encode((session_images / "green.png").read_bytes()).decode()
    browser.execute_script(
        "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));"
        "const t = new DataTransfer(); t.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));"
        "const zone = document.getElementById('drop-zone');"
        "zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: t, bubbles: true, cancelable: true}));"
        "zone.dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true, cancelable: true}));",
        data,
    )
    assert by_id(browser, "chosen").text.startswith("dropped.png")
    by_id(browser, "detect-button").click()
    wait_for_result(browser)
    assert detections_shown(browser)[0]["label"] == "Cat"  # the tiny model's answer for green
    shot(browser, artifacts, "dropped-image")


def test_results_are_paged_and_a_report_opens(browser, tiny_node, session_images, artifacts):
    for name in ("red.jpg", "green.png", "blue.webp"):
        with open(session_images / name, "rb") as fh:
            assert tiny_node.post("/api/detect", files={"image": (name, fh)}, data={"output": "1"}).status_code == 200
    report = tiny_node.output_dir / "report" / "report.html"
    report.parent.mkdir(exist_ok=True)
    write_report_html(report)
    listing = tiny_node.get("/api/results?limit=100").json()
    paths = [item["path"] for item in listing["items"]]
    open_page(browser, tiny_node, "/results?limit=2")
    wait(browser, lambda d: shown(d, "results"), "no results table")
    page1 = [row.get_attribute("data-path") for row in browser.find_elements("css selector", "#results tbody tr")]
    assert page1 == paths[:2] and not shown(browser, "newer")
    assert by_id(browser, "results-count").text == f"Results 1 to 2 of {listing['total']}, newest first."
    by_id(browser, "older").click()
    wait(browser, lambda d: shown(d, "newer"), "the second page did not load")
    page2 = [row.get_attribute("data-path") for row in browser.find_elements("css selector", "#results tbody tr")]
    assert page2 == paths[2:4]
    shot(browser, artifacts, "results-page-2")

    assert table_rows(browser, "reports")[0][1] == "report/report.html"
    browser.find_element("css selector", "#reports tbody a").click()
    wait(browser, lambda d: shown(d, "viewer-report") or shown(d, "viewer-error"), "the report did not open")
    assert not shown(browser, "viewer-error"), by_id(browser, "viewer-error").text
    browser.switch_to.frame(by_id(browser, "viewer-report"))
    try:
        wait(browser, lambda d: d.execute_script("return document.images.length > 0"), "the report is empty")
        heading = browser.find_element("tag name", "h1").text
        images = browser.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")
        collapse = browser.execute_script("return getComputedStyle(document.querySelector('table')).borderCollapse")
        scripts_ran = browser.execute_script("return typeof window.ui")  # the frame's own window
    finally:
        browser.switch_to.default_content()
    assert heading == "Offloading report"
    assert images and all(width > 0 for width in images)  # data: images shown
    assert collapse == "collapse"  # the report's inline <style> applies
    assert scripts_ran == "undefined"
    shot(browser, artifacts, "report-viewer")
    assert policy_violations(browser) == []


def test_the_api_docs_page_shows_every_endpoint_offline(browser, tiny_node, artifacts):
    open_page(browser, tiny_node, "/docs")
    wait(browser, lambda d: len(d.find_elements("css selector", ".opblock")) > 0, "Swagger UI did not render")
    paths = {e.text for e in browser.find_elements("css selector", ".opblock-summary-path")}
    spec = tiny_node.get("/api/openapi.json").json()
    assert {p.replace("\u200b", "") for p in paths} == set(spec["paths"])
    assert spec["info"]["title"] in browser.find_element("css selector", ".info .title").text
    shot(browser, artifacts, "api-docs")
    assert foreign_requests(browser, tiny_node) == []
    assert policy_violations(browser) == []


def test_with_an_api_key_the_page_asks_for_it_and_shows_nothing_before(browser, locked_node, session_images, artifacts):
    browser.get(locked_node.url + "/")
    browser.execute_script("sessionStorage.clear()")
    open_page(browser, locked_node, "/")
    assert shown(browser, "key-panel") and not shown(browser, "content")
    assert by_id(browser, "node-info").text == ""  # nothing from /api/info without the key
    shot(browser, artifacts, "api-key-asked")

    by_id(browser, "key-input").send_keys("not-the-key")
    browser.find_element("css selector", "#key-form button").click()
    wait(browser, lambda d: shown(d, "key-error"), "no message for a wrong key")
    assert by_id(browser, "key-error").text.startswith("The node refused this key: missing or wrong API key")
    assert not shown(browser, "content")

    by_id(browser, "key-input").send_keys(KEY)
    browser.find_element("css selector", "#key-form button").click()
    wait(browser, lambda d: shown(d, "content"), "the right key did not open the page")
    assert locked_node.env["MODEL_HANDLE"] in by_id(browser, "node-info").text
    upload(browser, session_images / "red.jpg")
    wait_for_result(browser)  # the annotated image, fetched with the key
    assert detections_shown(browser)[0]["label"] == "Person"

    open_page(browser, locked_node, "/results")  # the key is kept for this tab
    wait(browser, lambda d: shown(d, "results"), "no results with the key")
    assert "red.jpg" in browser.find_elements("css selector", "#results tbody tr")[0].text
    open_page(browser, locked_node, "/docs")
    wait(browser, lambda d: len(d.find_elements("css selector", ".opblock")) > 0, "Swagger UI did not load the spec")
    shot(browser, artifacts, "api-key-docs")

    by_id(browser, "forget-key").click()
    open_page(browser, locked_node, "/results")
    assert shown(browser, "key-panel") and not shown(browser, "results")
    assert policy_violations(browser) == []
