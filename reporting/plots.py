"""The report's PNG plots (matplotlib's Agg backend, chosen explicitly: no display needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from client.records import MB, Record, stage_seconds
from reporting.data import Series
from reporting.lab import Lab, local_prediction
from reporting.whatif import default_axes, grid

STAGE_PLOTS: list[tuple[str, Callable[[Record], float | None]]] = [  # (title, seconds from an ok record)
    ("decode", stage_seconds("decode")),
    ("queue (waiting for the model)", stage_seconds("queue")),
    ("inference", stage_seconds("inference")),
    ("annotate", stage_seconds("annotate")),
    ("write", stage_seconds("write")),
    ("server total (local: total)", stage_seconds("total")),
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
    many = len(series) > 6  # a sweep: fewer, wider panels so every run's name stays readable
    cols = min(2 if many else 4, len(panels)) or 1
    rows = -(-len(panels) // cols) or 1
    fig = Figure(figsize=((max(6.0, 0.45 * len(series)) if many else 4) * cols, (4.6 if many else 3.6) * rows))
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
    cols = 1 if len(series) <= 4 else 3  # many runs (a sweep): small panels side by side
    rows = -(-len(series) // cols)
    fig = Figure(figsize=(10 if cols == 1 else 15, (2.8 if cols == 1 else 2.3) * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    for ax, s in zip(axes.flat, series, strict=False):
        start = min(r.started_at for r in s.records)
        span = max(max(r.finished_at for r in s.records) - start, 1e-3)
        window = span / 6  # wide enough to hold several images per node, narrow enough to show a dip
        nodes = s.nodes or sorted({r.node or "(no node)" for r in s.records})
        for node in nodes:
            done = [r.finished_at - start for r in s.records if (r.node or "(no node)") == node]
            ax.plot(*rolling_rate(done, span, window), label=f"{node} ({len(done)} images)")
        ax.set_title(
            f"{s.name}: {s.overall.rate:.2f} images/s overall (window {window:.2f} s)", fontsize=10 if cols == 1 else 8
        )
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
        ys = [(ok[f].per_image or 0.0) * 1000 for f in files if f in ok]
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


# --- the lab: accuracy against latency, and the break-even map ------------------------------------------


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indexes of the points no other point beats on both counts (less time, more accuracy), by time."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def accuracy_vs_latency(lab: Lab, dest: Path) -> Path:
    """Mean time per image against mAP@0.5, one point per scored run, coloured by bytes sent per image;
    the Pareto front of the settings tried joins the points nothing beats on both counts."""
    fig = Figure(figsize=(10, 5.5))
    ax = fig.subplots()
    scored = [r for r in lab.runs if r.accuracy is not None and r.per_image is not None]
    if not scored:
        ax.text(0.5, 0.5, "no run could be scored", ha="center", va="center", transform=ax.transAxes)
    else:
        xs = [r.per_image.mean * 1000 for r in scored if r.per_image is not None]
        ys = [r.accuracy.map50 for r in scored if r.accuracy is not None]
        kb = [r.bytes_sent_mean / 1000 for r in scored]
        remote = [not r.series.is_local for r in scored]
        points = ax.scatter(
            [x for x, m in zip(xs, remote, strict=True) if m],
            [y for y, m in zip(ys, remote, strict=True) if m],
            c=[k for k, m in zip(kb, remote, strict=True) if m],
            cmap="viridis",
            s=60,
            edgecolors="k",
            linewidths=0.5,
            zorder=3,
        )
        if any(remote):
            fig.colorbar(points, ax=ax, label="kB sent per image")
        front = pareto_front(list(zip(xs, ys, strict=True)))
        for k, (x, y, r) in enumerate(zip(xs, ys, scored, strict=True)):
            if r.series.is_local:
                ax.scatter([x], [y], marker="*", s=220, c="tab:red", edgecolors="k", zorder=4)
            if k in front or r.series.is_local:  # only these are named: a sweep's other labels would pile up
                text = f"{_short(r.name, 40)} ({r.bytes_sent_mean / 1000:.0f} kB)" if not r.series.is_local else r.name
                offset = (6, 6) if r.series.is_local else (6, -10)
                ax.annotate(text, (x, y), textcoords="offset points", xytext=offset, fontsize=7)
        ax.step(
            [xs[i] for i in front],
            [ys[i] for i in front],
            where="post",
            color="tab:orange",
            zorder=2,
            label="Pareto front (less time, more accuracy)",
        )
        ax.legend(fontsize=8, loc="lower right")
    reference = lab.truth.name if lab.truth is not None else "-"
    ax.set_xlabel("mean time per image, ms (encode + round trip; local: in process)")
    ax.set_ylabel(f"mAP@0.5 against {reference}")
    ax.set_ylim(-0.02, 1.05)
    ax.grid(alpha=0.3)
    ax.set_title(
        "Latency against accuracy, bytes per image in colour (the local run: red star; the Pareto front's runs "
        "are named)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    return dest


def breakeven_map(lab: Lab, dest: Path, slowdown: float = 1.0) -> Path | None:
    """Over uplink bandwidth x round trip: which option is quickest per image (left) and gives the most
    images per second (right), the local device or offloading at each setting measured; each setting's
    line (in its colour) is where it starts to beat the device, the dotted black line where the best one
    does (below and right of it offloading pays). None without a local and a remote run."""
    local = local_prediction(lab, slowdown)
    if local is None or not lab.profiles:
        return None
    bandwidths, rtts = default_axes()
    profiles = [p for p, _ in lab.profiles]
    g = grid(profiles, local, bandwidths, rtts, slowdown)
    colours = ["#d9d9d9"] + [matplotlib.colormaps["tab10"](i % 10) for i in range(len(profiles))]
    cmap = ListedColormap(colours)
    fig = Figure(figsize=(15, 6.2))
    axes = fig.subplots(1, 2)
    x, y = bandwidths / MB, rtts * 1000
    panels = [
        (axes[0], g.fastest(), g.per_image[1:].min(axis=0) - g.per_image[0], "quickest per image"),
        (axes[1], g.most_images(), g.rate[0] - g.rate[1:].max(axis=0), "most images per second"),
    ]
    for ax, best, margin, title in panels:
        ax.pcolormesh(x, y, best, cmap=cmap, vmin=-0.5, vmax=len(colours) - 0.5, shading="auto", alpha=0.45)
        for o in range(1, len(colours)):  # each setting's own break-even line, in its colour
            own = g.per_image[o] - g.per_image[0] if ax is axes[0] else g.rate[0] - g.rate[o]
            if own.min() < 0 < own.max():
                ax.contour(x, y, own, levels=[0], colors=[colours[o]], linewidths=1.5)
        if margin.min() < 0 < margin.max():
            ax.contour(x, y, margin, levels=[0], colors="k", linewidths=2.5, linestyles="dotted")
        for run in lab.runs:
            s = run.series
            if s.is_local or run.per_image is None:
                continue
            bx = min(max(s.bandwidth_mbps or x[-1], x[0]), x[-1])
            ly = min(max(s.rtt_ms or y[0], y[0]), y[-1])
            if slowdown == 1.0:
                won = run.per_image.mean < local.mean if ax is axes[0] else s.overall.rate > local.rate
                ax.scatter([bx], [ly], marker="o", s=50, c="k" if won else "w", edgecolors="k", zorder=3)
            else:
                ax.scatter([bx], [ly], marker="x", s=40, c="k", zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("uplink bandwidth B, MB/s")
        ax.set_ylabel("round trip L, ms")
        ax.set_title(title, fontsize=10)
    accuracy = {r.name: r.accuracy for r in lab.runs}
    handles = [Patch(color=colours[0], label=f"local device: {local.mean * 1000:.0f} ms, {local.rate:.1f} img/s")]
    for i, (profile, base) in enumerate(lab.profiles, 1):
        acc = accuracy.get(base.name)
        extra = f", mAP@0.5 {acc.map50:.2f}" if acc is not None else ""
        handles.append(Patch(color=colours[i], label=f"{profile.name}: {profile.mean_wire / 1000:.0f} kB{extra}"))
    fig.legend(handles=handles, loc="lower center", ncol=min(3, len(handles)), fontsize=8, frameon=False)
    what = "measured device" if slowdown == 1.0 else f"WHAT-IF: a device {slowdown:g}x slower than the measured one"
    marks = (
        "dots: measured runs at their emulated link (filled: offloading won; edges: no limit)"
        if slowdown == 1.0
        else "x: where the measured runs were (measured on the real device, not this one)"
    )
    fig.suptitle(
        f"Where offloading pays: {what}. Fill: the quickest option; lines: each setting's break-even "
        f"(dotted: the best one's; offloading pays below and right of it).\n{marks}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    fig.savefig(dest, dpi=100)
    return dest
