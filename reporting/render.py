"""One document model rendered twice: Markdown (plots as files) and self-contained HTML (plots inline)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Doc:
    """Blocks of a report: ("h", level, text), ("p", text), ("ul", items), ("table", headers, rows),
    ("img", path, alt), ("code", text). Text may use **bold** and `code`."""

    blocks: list[tuple] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        """A heading."""
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        """A paragraph."""
        self.blocks.append(("p", text))

    def ul(self, items: list[str]) -> None:
        """A bulleted list."""
        self.blocks.append(("ul", items))

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        """A table; columns whose cells are all numbers (or `-`, `never`) are right-aligned."""
        self.blocks.append(("table", headers, rows))

    def img(self, path: Path, alt: str) -> None:
        """A PNG next to the report."""
        self.blocks.append(("img", path, alt))

    def code(self, text: str) -> None:
        """A preformatted block."""
        self.blocks.append(("code", text))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


_NUMBER = re.compile(r"^-?[\d.]+(/[\d.]+)*$|^-$|^never$")


def _numeric(rows: list[list[str]], column: int) -> bool:
    """Right-align a column whose cells are all numbers (or `-`, `never`, `12/10/30`)."""
    return column > 0 and bool(rows) and all(_NUMBER.match(row[column]) for row in rows)


def to_markdown(doc: Doc) -> str:
    """GitHub-flavoured Markdown; images are linked by file name (they sit next to report.md)."""
    out = []
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"{'#' * block[1]} {block[2]}")
        elif kind == "p":
            out.append(block[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            headers, rows = block[1], block[2]
            align = ["---:" if _numeric(rows, i) else "---" for i in range(len(headers))]
            lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1].name})")
        elif kind == "code":
            out.append(f"```\n{block[1]}\n```")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escaped text with `code` spans, and **bold** outside them (asterisks in code stay literal)."""
    parts = re.split(r"`(.+?)`", text)  # odd indexes are the code spans' contents
    out = []
    for i, part in enumerate(parts):
        escaped = html.escape(part)
        if i % 2:
            out.append(f"<code>{escaped}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped))
    return "".join(out)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.3em 0.6em}
td.n{text-align:right}td.t,th{text-align:left}
th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee}
code,pre{background:#f6f6f6;font-family:ui-monospace,Menlo,Consolas,monospace}
pre{padding:0.8em;overflow-x:auto}
"""


def to_html(doc: Doc, title: str) -> str:
    """One HTML file with the CSS inline and every plot embedded as a base64 data URI."""
    out = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{_STYLE}</style></head><body>",
    ]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            rows = block[2]
            right = [_numeric(rows, i) for i in range(len(block[1]))]
            head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
            body = "".join(
                "<tr>"
                + "".join(f'<td class="{"n" if right[i] else "t"}">{_inline(c)}</td>' for i, c in enumerate(row))
                + "</tr>"
                for row in rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            out.append(f'<p><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}"></p>')
        elif kind == "code":
            out.append(f"<pre>{html.escape(block[1])}</pre>")
    out.append("</body></html>\n")
    return "\n".join(out)
