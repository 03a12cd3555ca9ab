"""The per-image record: one typed definition, one writer (RecordLog) and one reader (read_records).

The sender (remote and --local), the load test and the report all use this type; a log is one JSON
object per line, flushed as it is written, so it stays readable after a kill.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Self

LOCAL = "local"  # the `node` of a --local run's records
MB = 1_000_000  # bandwidth_mbps is in MB/s (10^6 bytes per second), like the 1.1 MB/s measured on the cluster


def round_s(value: float | None) -> float | None:
    """Seconds rounded to the microsecond (the precision of the node's own timings)."""
    return None if value is None else round(value, 6)


@dataclass(kw_only=True)
class Record:
    """What happened to one image in one run (keys in the order they are written)."""

    # The run it belongs to (the same on every record of one sender invocation).
    run: str = ""  # `<UTC start>-<pid>`: tells the runs of a resumed log apart
    label: str = ""  # the run's name in reports (--label)
    mode: str = ""  # local, path or upload
    per_node: int = 1  # requests in flight per node
    bandwidth_mbps: float | None = None  # the emulated uplink, when --bandwidth was given
    # The image and how it went.
    file: str  # path relative to the crawled folder: the key of the record
    size: int = 0  # bytes on disk
    node: str | None = None  # the node's address as given on the command line (`local` for --local)
    host: str | None = None  # host name of the machine that ran the model
    model: str | None = None  # the model's name (result JSON `model.name`: MODELS, `default`, or --model-name)
    model_handle: str | None = None  # and its handle
    ok: bool = False
    status: int | None = None  # HTTP status of the last attempt (None: no answer, or a local run)
    error: str | None = None
    attempts: int = 0  # requests sent for this image, answered 503 overloaded ones included
    shed: int = 0  # of those, how many a busy node refused with 503 overloaded (back-pressure, not failures)
    tried: list[str] = field(default_factory=list)  # nodes asked, in order
    bytes_sent: int = 0  # image bytes sent (upload mode)
    request_bytes: int = 0  # the whole request body
    round_trip: float | None = None  # seconds from sending to having the whole answer (local: the whole image)
    timings: dict[str, float] | None = None  # the node's stage timings (result JSON `timings`)
    transfer: float | None = None  # round_trip - timings.total: network and serialisation
    started_at: float = 0.0  # epoch seconds
    finished_at: float = 0.0
    objects_found: int | None = None
    labels: list[str] | None = None
    scores: list[float] | None = None
    result_path: str | None = None  # where the node wrote the result JSON

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """A record from one parsed log line; keys this version does not know are ignored, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of one log line."""
        return asdict(self)

    @property
    def refused_busy(self) -> bool:
        """The last answer was 503 overloaded: the node was busy (back-pressure), not broken."""
        return self.status == 503 and "503 overloaded" in (self.error or "")

    @property
    def server_total(self) -> float | None:
        """The node's total time for this image (None when it has no timings)."""
        return self.timings.get("total") if self.timings else None

    def add_result(self, result: Mapping[str, Any]) -> None:
        """Take what the record keeps from a result JSON (detector.result.ResultJSON), and the transfer share."""
        self.host = result.get("node")
        model = result.get("model") or {}
        self.model = model.get("name")
        self.model_handle = model.get("handle")
        self.timings = result.get("timings")
        self.objects_found = result.get("objects_found")
        self.labels = result.get("detection_class_entities")
        self.scores = result.get("detection_scores")
        self.result_path = result.get("result_path")
        total = self.server_total
        self.transfer = round_s(self.round_trip - total) if total is not None and self.round_trip is not None else None


def repair_tail(path: Path) -> int:
    """Cut a torn last line (a run killed mid-write) so appended records start on a clean line.

    Returns the number of bytes removed.
    """
    if not path.exists():
        return 0
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        return len(data) - keep


def read_records(path: Path, warn: bool = True) -> list[Record]:
    """Every record in a log; lines that are not a complete record (a torn last line) are skipped."""
    records = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("file"), str):
                if warn:
                    print(f"{path}:{number}: skipped a line that is not a complete record", file=sys.stderr)
                continue
            try:
                records.append(Record.from_dict(data))
            except TypeError:
                if warn:
                    print(f"{path}:{number}: skipped a line that is not a complete record", file=sys.stderr)
    return records


def ok_files(path: Path) -> set[str]:
    """Files that already have an ok record in the log (what --resume skips)."""
    if not path.exists():
        return set()
    return {r.file for r in read_records(path) if r.ok is True}


def final_records(records: Iterable[Record]) -> list[Record]:
    """One record per file: its ok record if any, else its last one (a resumed log can hold both)."""
    chosen: dict[str, Record] = {}
    for record in records:
        previous = chosen.get(record.file)
        if previous is not None and previous.ok and not record.ok:
            continue  # an ok answer is final; a later failure of the same file does not undo it
        chosen[record.file] = record
    return list(chosen.values())


class RecordLog:
    """Appends records to a JSONL file from any thread; every line is flushed before write() returns."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8")  # closed by close(); written from many threads

    def write(self, record: Record) -> None:
        """Append one record as one line."""
        line = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._fh.closed:  # a request abandoned on Ctrl-C finishing after the log was closed
                return
            self._fh.write(line)
            self._fh.flush()  # a killed run keeps every record written so far

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
