"""README.md and docs/ agree with the code: a short README whose first screen sets up and runs the
project, links that resolve, every page linked, a screenshot of the web page, and the settings, sender
options and result keys the code defines all documented. Static checks only: no network, no node, no model."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import get_type_hints

import pytest
from PIL import Image

from app.config import Settings
from client.cli import build_parser
from detector.result import ResultJSON

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 250
FIRST_SCREEN_LINES = 40
SETUP_COMMANDS = [
    "docker compose --profile sender run --rm sender",
    "make test",
]
# The seed's request: a path under the container's images folder, annotated image on.
SEED_CURL = re.compile(r'curl http://127\.0\.0\.1:5000/api/detect -d "input=/app/images/[^"&\s]+&output=1"')

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = ("http://", "https://", "mailto:")


def doc_pages() -> list[Path]:
    """The pages under docs/ (not the generated example report)."""
    return sorted(DOCS.glob("*.md"))


def code_blocks(text: str) -> list[str]:
    """The contents of every fenced code block."""
    return FENCE.findall(text)


def commands(block: str) -> list[str]:
    """The non-empty lines of a code block, trailing `# comments` removed."""
    lines = (re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def relative_links(path: Path) -> list[tuple[str, Path]]:
    """(link as written, the file it points to) for every relative link of a Markdown file."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))  # shell in code blocks is not a link
    text = CODE_SPAN.sub("", text)
    found = []
    for target in LINK.findall(text):
        if target.startswith(EXTERNAL) or target.startswith("#"):
            continue
        file_part = target.split("#", 1)[0]
        found.append((target, (path.parent / file_part).resolve()))
    return found


def mentions(text: str, word: str) -> bool:
    """`word` occurs in `text` as a whole token (not as part of a longer name)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def test_readme_is_at_most_250_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_first_screen_has_exactly_the_two_setup_commands_in_one_block():
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN_LINES]) + "\n"
    blocks = [commands(block) for block in code_blocks(first_screen)]
    assert SETUP_COMMANDS in blocks, f"no block in the first {FIRST_SCREEN_LINES} lines is exactly {SETUP_COMMANDS}"


def test_readme_first_screen_has_the_seed_curl_example():
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN_LINES])
    assert SEED_CURL.search(first_screen), "the first screen lacks the seed's curl request"


@pytest.mark.parametrize("page", [README, *doc_pages()], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_a_file_that_exists(page: Path):
    broken = [target for target, dest in relative_links(page) if not dest.exists()]
    assert broken == [], f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {dest for _, dest in relative_links(README)}
    pages = doc_pages()
    assert pages, "no pages under docs/"
    missing = [str(p.relative_to(REPO)) for p in pages if p.resolve() not in linked]
    assert missing == [], f"README.md does not link {missing}"


def test_every_node_setting_is_in_configuration_md():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    names = [f.name.upper() for f in dataclasses.fields(Settings)]
    assert "MODEL_HANDLE" in names and "API_KEY" in names  # both layers of the settings are read
    missing = [name for name in names if not mentions(text, name)]
    assert missing == [], f"docs/configuration.md does not mention {missing}"


def test_every_sender_option_is_in_offloading_md():
    text = (DOCS / "offloading.md").read_text(encoding="utf-8")
    options = [
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]
    assert "--discover" in options and "--report" in options
    missing = [option for option in options if not mentions(text, option)]
    assert missing == [], f"docs/offloading.md does not mention {missing}"


def test_every_result_key_is_in_api_md():
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    keys = list(get_type_hints(ResultJSON))
    assert "objects_found" in keys and "request_id" in keys
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == [], f"docs/api.md does not name {missing} (as `key`)"


def test_every_module_has_a_line_in_the_layout_tree():
    tree = (REPO / "docs" / "development.md").read_text()
    missing = []
    for package in ("app", "bench", "client", "detector", "harness", "measure", "reporting", "scripts", "tests"):
        for path in sorted((REPO / package).glob("*.py")):
            if path.name != "__init__.py" and not re.search(rf"^\s+{re.escape(path.name)}\s", tree, re.MULTILINE):
                missing.append(f"{package}/{path.name}")
    assert missing == []


def test_the_readme_shows_a_small_screenshot_of_the_page():
    screenshot = REPO / "docs" / "page.png"  # written by tests/test_browser.py with WRITE_DOCS_SCREENSHOT=1
    assert "](docs/page.png)" in README.read_text(encoding="utf-8")
    assert screenshot.stat().st_size <= 200 * 1024
    with Image.open(screenshot) as im:
        assert im.format == "PNG" and im.width >= 1000 and im.height >= 600
