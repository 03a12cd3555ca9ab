"""Reading record logs into named series (one per log file) for the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from client.records import Record, final_records, read_records
from client.summary import GroupStats, summarize


@dataclass
class Series:
    """The records of one log: a --local run or a remote run (possibly resumed several times)."""

    name: str
    path: Path
    records: list[Record]  # one final record per file
    mode: str  # local, path or upload
    nodes: list[str]  # node addresses in order of first use
    bandwidth_mbps: float | None
    stats: list[GroupStats] = field(default_factory=list)

    @property
    def is_local(self) -> bool:
        """True for an in-process (--local) run."""
        return self.mode == "local"

    @property
    def overall(self) -> GroupStats:
        """The stats row of the whole series."""
        return self.stats[0]

    def ok_by_file(self) -> dict[str, Record]:
        """Ok records keyed by file."""
        return {r.file: r for r in self.records if r.ok}


T = TypeVar("T", bound=Hashable)


def _most_common(values: list[T | None], default: T | None = None) -> T | None:
    counted = Counter(v for v in values if v is not None)
    return counted.most_common(1)[0][0] if counted else default


def load_series(paths: list[Path]) -> list[Series]:
    """One series per log that holds at least one record; names come from the runs' --label."""
    series = []
    for path in paths:
        raw = read_records(path)
        if not raw:
            continue
        records = final_records(raw)
        records.sort(key=lambda r: r.started_at)
        mode = _most_common([r.mode or None for r in records], "path") or "path"
        nodes = list(dict.fromkeys(r.node for r in records if r.node))
        name = _most_common([r.label or None for r in records], path.stem) or path.stem
        series.append(
            Series(
                name=name,
                path=path,
                records=records,
                mode=mode,
                nodes=nodes,
                bandwidth_mbps=_most_common([r.bandwidth_mbps for r in records]),
                stats=summarize(records, node_order=nodes),
            )
        )
    names = Counter(s.name for s in series)
    for s in series:
        if names[s.name] > 1:  # two logs with one label: tell them apart by file name
            s.name = f"{s.name} ({s.path.stem})"
    return series
