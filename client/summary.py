"""Run statistics from records: counts, wall time, images/s, mean/p50/p95 per metric; plain-text table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from client.records import Record, stage_seconds
from measure.stats import Spread, spread

# (name, how to read it from an ok record) -- all in seconds
METRICS: list[tuple[str, Callable[[Record], float | None]]] = [
    ("queue", stage_seconds("queue")),
    ("inference", stage_seconds("inference")),
    ("server total", stage_seconds("total")),
    ("round-trip", lambda r: r.round_trip),
    ("transfer", lambda r: r.transfer),
    ("download", lambda r: r.download),
]
ALL = "all"


def wall_time(records: list[Record]) -> float:
    """Seconds the records took: first start to last finish, summed over runs (a resumed log has several)."""
    spans: dict[str, list[float]] = defaultdict(list)
    for r in records:
        spans[r.run].extend((r.started_at, r.finished_at))
    return sum(max(times) - min(times) for times in spans.values())


@dataclass
class GroupStats:
    """Counts and timings of one group of records (a whole run, or one node of it)."""

    name: str
    images: int
    ok: int
    failed: int
    wall: float
    rate: float  # images handled (ok or failed) per second of wall time
    metrics: dict[str, Spread | None] = field(default_factory=dict)


def group_stats(name: str, records: list[Record]) -> GroupStats:
    """Stats of one group; timings come from its ok records only."""
    ok = [r for r in records if r.ok]
    wall = wall_time(records) if records else 0.0
    return GroupStats(
        name=name,
        images=len(records),
        ok=len(ok),
        failed=len(records) - len(ok),
        wall=wall,
        rate=len(records) / wall if wall > 0 else 0.0,
        metrics={metric: spread(read(r) for r in ok) for metric, read in METRICS},
    )


def summarize(records: list[Record], node_order: list[str] | None = None) -> list[GroupStats]:
    """Overall stats first, then one row per node (command-line order, then any others)."""
    by_node: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_node[r.node or "(no node)"].append(r)
    order = list(node_order or [])  # listed nodes get a row even with no records (all their work failed over)
    order += sorted(n for n in by_node if n not in order)
    rows = [group_stats(ALL, records)]
    if order != ["local"]:
        rows += [group_stats(n, by_node.get(n, [])) for n in order]
    return rows


def _ms(value: Spread | None) -> str:
    return value.ms() if value is not None else "-"


HEADERS = ["node", "images", "ok", "failed", "wall s", "img/s"] + [f"{m} ms" for m, _ in METRICS]


def table_rows(stats: list[GroupStats]) -> list[list[str]]:
    """Table cells of the stats rows; timing cells are `mean/p50/p95` in ms."""
    rows = []
    for s in stats:
        busy = s.images > 0
        cells = [
            s.name,
            str(s.images),
            str(s.ok),
            str(s.failed),
            f"{s.wall:.2f}" if busy else "-",
            f"{s.rate:.2f}" if busy else "-",
        ]
        cells += [_ms(s.metrics.get(m)) for m, _ in METRICS]
        rows.append(cells)
    return rows


def format_table(stats: list[GroupStats]) -> str:
    """Aligned plain-text table (numbers right-aligned) with a note on the timing columns."""
    rows = [HEADERS] + table_rows(stats)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = []
    for k, row in enumerate(rows):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        "timings: mean/p50/p95 in ms over ok images; transfer = round-trip - server total; "
        "download: --fetch's downloads of the results"
    )
    return "\n".join(lines)
