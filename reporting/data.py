"""Reading record logs into named series (one per log file) for the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from client.records import Record, RunInfo, final_records, read_records, read_run_infos
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
    rtt_ms: float | None = None  # the emulated round trip (--rtt)
    resize: int | None = None  # the edge's preprocessing (--resize, --quality)
    quality: int | None = None
    per_node: int = 1
    infos: dict[str, RunInfo] = field(default_factory=dict)  # the run-info lines, by run id
    model: str | None = None  # the model's name (MODELS on the node, `default`, or a local --model-name)
    model_handle: str | None = None

    @property
    def emulated(self) -> bool:
        """True when the run went over an emulated link (--bandwidth or --rtt)."""
        return not self.is_local and bool(self.bandwidth_mbps or self.rtt_ms)

    @property
    def preprocessed(self) -> bool:
        """True when the edge resized or re-encoded the images (--resize, --quality)."""
        return self.resize is not None or self.quality is not None

    @property
    def concurrency(self) -> int:
        """Requests in flight: nodes x per-node (1 for a local run)."""
        return 1 if self.is_local else max(1, len(self.nodes)) * max(1, self.per_node)

    def info_for(self, record: Record) -> RunInfo | None:
        """The run-info line of the run a record belongs to (None for logs written before they existed)."""
        return self.infos.get(record.run)

    @property
    def model_text(self) -> str:
        """`[big]` for a run of a named model, "" for a node's only (`default`) model or an old log."""
        return f"[{self.model}]" if self.model and self.model != "default" else ""

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
                rtt_ms=_most_common([r.rtt_ms for r in records]),
                resize=_most_common([r.resize for r in records]),
                quality=_most_common([r.quality for r in records]),
                per_node=_most_common([r.per_node for r in records], 1) or 1,
                infos=read_run_infos(path),
                model=_most_common([r.model for r in records]),
                model_handle=_most_common([r.model_handle for r in records]),
            )
        )
    names = Counter(s.name for s in series)
    for s in series:
        if names[s.name] > 1:  # two logs with one label: tell them apart by file name
            s.name = f"{s.name} ({s.path.stem})"
    return series
