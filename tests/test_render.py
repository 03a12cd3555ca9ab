"""reporting/render.py on its own: every block kind in Markdown and HTML, alignment, embedded plots, escaping."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from reporting.render import Doc, to_html, to_markdown

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    """Every start tag of a document with its attributes, and the text outside tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Tags:
    """The tags and text of an HTML document."""
    parser = Tags()
    parser.feed(document)
    parser.close()
    return parser


def body(document: str) -> str:
    """What lies between <body> and </body>."""
    return document.split("<body>", 1)[1].rsplit("</body>", 1)[0]


def tiny_png(path: Path) -> Path:
    """A real 3x2 PNG written with Pillow."""
    Image.new("RGB", (3, 2), (200, 30, 60)).save(path, format="PNG")
    return path


def one(block: Doc) -> tuple[str, str]:
    """The Markdown and the HTML body of a one-block document."""
    return to_markdown(block), body(to_html(block, "t")).strip()


def test_headings_become_hashes_and_h_tags() -> None:
    doc = Doc()
    doc.h(1, "Report")
    doc.h(3, "Per node")
    assert to_markdown(doc) == "# Report\n\n### Per node\n"
    html = body(to_html(doc, "t"))
    assert "<h1>Report</h1>" in html
    assert "<h3>Per node</h3>" in html


def test_paragraphs_are_separated_by_a_blank_line_in_markdown_and_wrapped_in_p_in_html() -> None:
    doc = Doc()
    doc.p("First paragraph.")
    doc.p("Second one.")
    assert to_markdown(doc) == "First paragraph.\n\nSecond one.\n"
    html = body(to_html(doc, "t"))
    assert "<p>First paragraph.</p>" in html
    assert html.index("<p>First paragraph.</p>") < html.index("<p>Second one.</p>")


def test_lists_become_dash_items_and_ul_li() -> None:
    doc = Doc()
    doc.ul(["one", "two", "three"])
    md, html = one(doc)
    assert md == "- one\n- two\n- three\n"
    assert html == "<ul><li>one</li><li>two</li><li>three</li></ul>"


def test_inline_bold_and_code_are_kept_in_markdown_and_become_tags_in_html() -> None:
    doc = Doc()
    doc.p("Offloading is **not worth it** at `1.1 MB/s` here.")
    md, html = one(doc)
    assert md == "Offloading is **not worth it** at `1.1 MB/s` here.\n"
    assert html == "<p>Offloading is <strong>not worth it</strong> at <code>1.1 MB/s</code> here.</p>"


def test_inline_markup_works_in_headings_list_items_and_table_cells() -> None:
    doc = Doc()
    doc.h(2, "The **verdict**")
    doc.ul(["run `a`"])
    doc.table(["name", "note"], [["**x**", "`y`"]])
    html = body(to_html(doc, "t"))
    assert "<h2>The <strong>verdict</strong></h2>" in html
    assert "<li>run <code>a</code></li>" in html
    assert '<td class="t"><strong>x</strong></td><td class="t"><code>y</code></td>' in html


def test_asterisks_inside_inline_code_are_shown_literally_in_html() -> None:
    doc = Doc()
    doc.p("crawl `**/*.jpg` then `a**`")
    md, html = one(doc)
    assert md == "crawl `**/*.jpg` then `a**`\n"
    assert html == "<p>crawl <code>**/*.jpg</code> then <code>a**</code></p>"


def test_markdown_tables_right_align_numeric_columns() -> None:
    doc = Doc()
    doc.table(
        ["node", "images", "round-trip ms", "host", "break-even"],
        [["10.0.0.1:5000", "120", "550/540/955", "node-1", "never"], ["all", "-", "12.5/10/30", "-", "-3.5"]],
    )
    assert to_markdown(doc) == (
        "| node | images | round-trip ms | host | break-even |\n"
        "| --- | ---: | ---: | --- | ---: |\n"
        "| 10.0.0.1:5000 | 120 | 550/540/955 | node-1 | never |\n"
        "| all | - | 12.5/10/30 | - | -3.5 |\n"
    )


def test_html_tables_mark_numeric_cells_with_class_n_and_text_cells_with_class_t() -> None:
    doc = Doc()
    doc.table(["node", "images", "host"], [["1", "120", "node-1"], ["2", "7", "-"]])
    html = body(to_html(doc, "t"))
    assert "<thead><tr><th>node</th><th>images</th><th>host</th></tr></thead>" in html
    rows = re.findall(r"<tr>(<td.*?)</tr>", html)
    assert rows == [
        '<td class="t">1</td><td class="n">120</td><td class="t">node-1</td>',
        '<td class="t">2</td><td class="n">7</td><td class="t">-</td>',
    ]  # the first column is text even when it holds numbers


def test_right_aligned_cells_get_a_right_aligned_style() -> None:
    html = to_html(Doc(), "t")
    assert re.search(r"td\.n\{text-align:right\}", html)


def test_a_table_without_rows_has_no_numeric_columns() -> None:
    doc = Doc()
    doc.table(["node", "images"], [])
    md, html = one(doc)
    assert md == "| node | images |\n| --- | --- |\n"
    assert html == "<table><thead><tr><th>node</th><th>images</th></tr></thead><tbody></tbody></table>"


def test_a_pipe_in_a_markdown_table_cell_is_escaped() -> None:
    doc = Doc()
    doc.table(["a|b", "c"], [["x|y", "1"]])
    md = to_markdown(doc)
    assert md.splitlines()[0] == "| a\\|b | c |"
    assert md.splitlines()[2] == "| x\\|y | 1 |"


def test_code_blocks_are_fenced_in_markdown_and_preformatted_in_html() -> None:
    doc = Doc()
    doc.code("python scripts/sender.py --nodes a:5000\n  **not bold**")
    md, html = one(doc)
    assert md == "```\npython scripts/sender.py --nodes a:5000\n  **not bold**\n```\n"
    assert html == "<pre>python scripts/sender.py --nodes a:5000\n  **not bold**</pre>"


def test_markdown_links_an_image_by_its_file_name(tmp_path: Path) -> None:
    doc = Doc()
    doc.img(tiny_png(tmp_path / "round_trip.png"), "Round-trip per node")
    assert to_markdown(doc) == "![Round-trip per node](round_trip.png)\n"


def test_html_embeds_the_png_as_a_base64_data_uri(tmp_path: Path) -> None:
    png = tiny_png(tmp_path / "plot.png")
    doc = Doc()
    doc.img(png, "Throughput")
    html = to_html(doc, "t")
    images = [attrs for tag, attrs in parse(html).tags if tag == "img"]
    assert len(images) == 1
    assert images[0]["alt"] == "Throughput"
    src = images[0]["src"]
    assert src is not None and src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True) == png.read_bytes()
    assert "plot.png" not in html  # self-contained: no reference to the file


def test_html_is_one_complete_document_with_an_escaped_title() -> None:
    doc = Doc()
    doc.p("x")
    html = to_html(doc, "Offloading <report> & co")
    assert html.startswith("<!DOCTYPE html>")
    assert html.endswith("</body></html>\n")
    assert "<title>Offloading &lt;report&gt; &amp; co</title>" in html
    assert '<meta charset="utf-8">' in html


def test_markdown_keeps_the_blocks_in_order_separated_by_blank_lines(tmp_path: Path) -> None:
    doc = Doc()
    doc.h(1, "R")
    doc.p("p")
    doc.ul(["i"])
    doc.table(["a", "b"], [["x", "1"]])
    doc.img(tiny_png(tmp_path / "f.png"), "alt")
    doc.code("c")
    assert (
        to_markdown(doc) == "# R\n\np\n\n- i\n\n| a | b |\n| --- | ---: |\n| x | 1 |\n\n![alt](f.png)\n\n```\nc\n```\n"
    )


def test_text_that_looks_like_markup_is_escaped_everywhere_in_html(tmp_path: Path) -> None:
    doc = Doc()
    doc.h(2, HOSTILE)
    doc.p(HOSTILE)
    doc.ul([HOSTILE])
    doc.table([HOSTILE, "n"], [[HOSTILE, "1"], ["a & b", "2"]])
    doc.code(HOSTILE)
    doc.img(tiny_png(tmp_path / "p.png"), 'a" onload="alert(1)')
    doc.p(f"**{HOSTILE}** and `{HOSTILE}`")
    html = to_html(doc, HOSTILE)
    parsed = parse(html)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags
    assert tags.count("img") == 1  # only the plot
    assert all(not name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html
    assert '<td class="t">a &amp; b</td>' in html
    assert "<strong>&lt;script&gt;" in html and "<code>&lt;script&gt;" in html
    assert "".join(parsed.text).count(HOSTILE) == 9  # title, h2, p, li, th, td, pre, strong, code: shown as text


def test_an_ampersand_entity_in_text_is_shown_literally_in_html() -> None:
    doc = Doc()
    doc.p("&lt; is not <")
    html = body(to_html(doc, "t"))
    assert "<p>&amp;lt; is not &lt;</p>" in html
    assert "".join(parse(html).text) == "\n&lt; is not <\n"
