"""Figures, their targets, and RESULTS.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figure:
    """One measured figure, and the target it is held to (if any)."""

    key: str  # stable id, e.g. "overhead.shared.path0_vs_b"
    name: str  # what it is, for people
    value: float | None  # None: not measured (see note)
    unit: str = "×"
    op: str | None = None  # "<=" or ">=" when there is a target
    limit: float | None = None
    detail: str = ""  # e.g. "median (min–max) of 7 rounds"
    note: str = ""

    @property
    def target(self) -> str:
        """The target as text, e.g. `≤ 1.10×`; empty when the figure has none."""
        if self.op is None or self.limit is None:
            return ""
        return f"{'≤' if self.op == '<=' else '≥'} {self.limit:.2f}{self.unit}"

    @property
    def met(self) -> bool | None:
        """True/False against the target; None without a target or a value."""
        if self.value is None or self.op is None or self.limit is None:
            return None
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    @property
    def verdict(self) -> str:
        """`met`, `missed by N %` or `—`."""
        if self.value is None:
            return "not measured"
        if self.met is None:
            return "—"
        if self.met or self.limit is None:
            return "met"
        miss = abs(self.value - self.limit) / self.limit * 100
        return f"**missed** by {miss:.1f} %"

    def value_text(self) -> str:
        """The value with its unit."""
        if self.value is None:
            return "—"
        if self.unit == "×":
            return f"{self.value:.3f}×"
        if self.unit == "s":
            return f"{self.value:.2f} s"
        if self.unit == "ms":
            return f"{self.value:.1f} ms"
        if self.unit == "MiB":
            return f"{self.value:.0f} MiB"
        return f"{self.value:.3g} {self.unit}"


@dataclass
class Section:
    """One benchmark's figures plus the tables and notes behind them."""

    number: int
    title: str
    figures: list[Figure] = field(default_factory=list)
    body: list[str] = field(default_factory=list)  # markdown blocks, in order

    def add(self, figure: Figure) -> Figure:
        """Keep `figure` and return it."""
        self.figures.append(figure)
        return figure

    def text(self, markdown: str) -> None:
        """Append a block of markdown (a paragraph, a table, a list)."""
        self.body.append(markdown.strip("\n"))


def table(header: list[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(info: dict) -> str:
    v = info["versions"]
    mem = f"{info['memory_gib']:.1f} GiB" if info.get("memory_gib") else "unknown"
    soft = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    return "\n".join(
        [
            f"- CPU: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable by this process), "
            f"{mem} memory, Linux {info['kernel']}",
            f"- Load average (1/5/15 min): {info['load_at_start']} at the start, "
            f"{info.get('load_at_end', '?')} at the end "
            "(other people's jobs share this machine; every figure is a ratio of interleaved rounds for that reason)",
            f"- Software: {soft}; oneDNN: {info['onednn']}",
            f"- Code: commit {info['commit']}",
        ]
    )


def _phases(info: dict) -> str:
    phases = info.get("phases") or []
    if not phases:
        return ""
    rows = [
        [
            p.name,
            f"{p.wall:.0f}",
            f"{p.ours / p.wall:.2f}" if p.wall else "",
            f"{p.others / p.wall:.2f}" if p.wall else "",
        ]
        for p in phases
        if p.wall >= 0.5
    ]
    return table(["phase", "wall (s)", "our CPU (cores)", "other processes' CPU (cores)"], rows)


def render(info: dict, sections: list[Section], command: str, seconds: float, models: list[str]) -> str:
    """The whole RESULTS.md."""
    out = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {info['date']} in {seconds / 60:.1f} minutes. "
        "Every ratio compares two things measured in the same run, on the same machine, images and "
        "model, interleaved so that background load hits both sides: per image in section 1 (the "
        "value is the median of the paired ratios, quartiles in brackets), per round elsewhere (the "
        "median of per-round ratios, range in brackets). Timings are wall-clock, `time.perf_counter`.",
        *(
            [
                "",
                "**This is a --smoke run: tiny model, tiny sizes, one round. It checks that the benchmark "
                "runs; its figures mean nothing.**",
            ]
            if "--smoke" in command
            else []
        ),
        "",
        "## Machine",
        _machine(info),
        "",
        "How busy the machine was while each phase ran (from /proc/stat: everything that is not this "
        "benchmark, its nodes or its child processes counts as other):",
        "",
        _phases(info),
        "",
        "## Models",
        *[f"- {m}" for m in models],
        "",
        "## Every figure against its target",
        "",
    ]
    rows = []
    for section in sections:
        for f in section.figures:
            rows.append([f"{section.number}. {f.name}", f.value_text(), f.target or "—", f.verdict])
    out.append(table(["figure", "measured", "target", "verdict"], rows))
    for section in sections:
        out += ["", f"## {section.number}. {section.title}", ""]
        for block in section.body:
            out += [block, ""]
        notes = [f for f in section.figures if f.note]
        if notes:
            out += [f"- {f.name}: {f.note}" for f in notes] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def write(path: Path, markdown: str, info: dict, sections: list[Section]) -> None:
    """Write RESULTS.md and, next to it, the same figures as JSON (results.json) for scripts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
    machine = {k: v for k, v in info.items() if k != "phases"}
    machine["phases"] = [vars(p) for p in info.get("phases", [])]
    data = {
        "machine": machine,
        "figures": [
            {**asdict(f), "section": s.number, "target": f.target, "met": f.met, "verdict": f.verdict}
            for s in sections
            for f in s.figures
        ],
    }
    path.with_name("results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
