"""The report's PNG plots (matplotlib's Agg backend, chosen explicitly: no display needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from client.records import Record
from reporting.data import Series


def _stage(name: str) -> Callable[[Record], float | None]:
    return lambda r: (r.timings or {}).get(name)


STAGE_PLOTS: list[tuple[str, Callable[[Record], float | None]]] = [  # (title, seconds from an ok record)
    ("decode", _stage("decode")),
    ("queue (waiting for the model)", _stage("queue")),
    ("inference", _stage("inference")),
    ("annotate", _stage("annotate")),
    ("write", _stage("write")),
    ("server total (local: total)", _stage("total")),
    ("round-trip (local: per image)", lambda r: r.round_trip),
    ("transfer = round-trip - server total", lambda r: r.transfer),
    ("download (--fetch)", lambda r: r.download),
]


def _ok(series: Series) -> list[Record]:
    return [r for r in series.records if r.ok and r.timings]


def stage_distributions(series: list[Series], dest: Path) -> Path:
    """Box plots of every stage's time (ms), one box per run; stages that are always 0 are left out."""
    panels = []
    for title, read in STAGE_PLOTS:
        data = [[v * 1000 for v in (read(r) for r in _ok(s)) if v is not None] for s in series]
        if any(any(v > 0 for v in d) for d in data):
            panels.append((title, data))
    cols = min(4, len(panels)) or 1
    rows = -(-len(panels) // cols) or 1
    fig = Figure(figsize=(4 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    names = [s.name for s in series]
    for ax, (title, data) in zip(axes.flat, panels, strict=False):
        ax.boxplot([d or [np.nan] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("ms")
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle("Time per stage, per image")
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    return dest


def rolling_rate(times: list[float], span: float, window: float, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(t, images/s): completions within `window` seconds centred on t (clipped to the run), per second."""
    done = np.sort(np.asarray(times, dtype=float))
    grid = np.linspace(0.0, span, points)
    lo, hi = np.clip(grid - window / 2, 0, span), np.clip(grid + window / 2, 0, span)
    counts = np.searchsorted(done, hi, side="right") - np.searchsorted(done, lo, side="left")
    return grid, counts / np.maximum(hi - lo, 1e-9)


def throughput_over_time(series: list[Series], dest: Path) -> Path:
    """Images finished per second over a sliding window, one line per node, one panel per run."""
    fig = Figure(figsize=(10, 2.8 * len(series)))
    axes = fig.subplots(len(series), 1, squeeze=False)
    for ax, s in zip(axes.flat, series, strict=True):
        start = min(r.started_at for r in s.records)
        span = max(max(r.finished_at for r in s.records) - start, 1e-3)
        window = span / 6  # wide enough to hold several images per node, narrow enough to show a dip
        nodes = s.nodes or sorted({r.node or "(no node)" for r in s.records})
        for node in nodes:
            done = [r.finished_at - start for r in s.records if (r.node or "(no node)") == node]
            ax.plot(*rolling_rate(done, span, window), label=f"{node} ({len(done)} images)")
        ax.set_title(f"{s.name}: {s.overall.rate:.2f} images/s overall (window {window:.2f} s)", fontsize=10)
        ax.set_xlim(0, span)
        ax.set_xlabel("seconds since the run started")
        ax.set_ylabel("images/s")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    return dest


def local_vs_remote(series: list[Series], dest: Path) -> Path:
    """Left: every image's time in each run, side by side. Right: where the mean time goes."""
    fig = Figure(figsize=(14, 4.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    files = sorted(set().union(*(s.ok_by_file() for s in series)))
    index = {f: i for i, f in enumerate(files)}
    for s in series:
        ok = s.ok_by_file()
        xs = [index[f] for f in files if f in ok]
        ys = [(ok[f].client_time or 0.0) * 1000 for f in files if f in ok]
        left.plot(xs, ys, marker="o", markersize=3, linewidth=0.8, label=s.name)
    left.set_xlabel("image (sorted by file name)")
    left.set_ylabel("ms per image")
    left.set_title("Per-image time (local: in process; remote: round-trip + download)", fontsize=10)
    left.set_ylim(bottom=0)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)

    parts = ["decode", "queue", "inference", "annotate + write", "other server", "transfer + download"]
    bottoms = np.zeros(len(series))
    for part in parts:
        heights = np.array([_mean_part(_ok(s), part) * 1000 for s in series])
        right.bar(range(len(series)), heights, bottom=bottoms, label=part)
        bottoms += heights
    right.set_xticks(range(len(series)), [s.name for s in series], rotation=30, ha="right", fontsize=8)
    right.set_ylabel("mean ms per image")
    right.set_title("Where the time goes", fontsize=10)
    right.legend(fontsize=8)
    right.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    return dest


def _mean_part(records: list[Record], part: str) -> float:
    if not records:
        return 0.0
    values = []
    for r in records:
        t = r.timings or {}
        if part == "annotate + write":
            values.append(t.get("annotate", 0) + t.get("write", 0))
        elif part == "other server":  # the untimed rest: building and writing the result JSON
            values.append(
                max(
                    0.0,
                    t.get("total", 0)
                    - t.get("decode", 0)
                    - t.get("queue", 0)
                    - t.get("inference", 0)
                    - t.get("annotate", 0)
                    - t.get("write", 0),
                )
            )
        elif part == "transfer + download":
            values.append(max(0.0, r.transfer_side or 0.0))
        else:
            values.append(t.get(part, 0))
    return float(np.mean(values))


def make_plots(series: list[Series], out: Path) -> dict[str, Path]:
    """Write all plots into `out`; returns {name: path}."""
    return {
        "stages": stage_distributions(series, out / "stages.png"),
        "throughput": throughput_over_time(series, out / "throughput.png"),
        "local_vs_remote": local_vs_remote(series, out / "local_vs_remote.png"),
    }
