"""The per-image record: one typed definition, one writer (RecordLog) and one reader (read_records).

The sender (remote and --local), the load test and the report all use this type; a log is one JSON
object per line, flushed as it is written, so it stays readable after a kill. The sender also writes
one run-info line at the start of each run (RunInfo: the machines that ran the model and the sender's
own, the link, the preprocessing), which read_records passes over and read_run_infos reads.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
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
    rtt_ms: float | None = None  # the emulated round trip added to every request, when --rtt was given
    resize: int | None = None  # --resize: the longer side the edge shrank images to
    quality: int | None = None  # the JPEG quality the edge re-encoded images at (--quality, or a --resize's default)
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
    encode: float = 0.0  # seconds of the client stage `encode` (read, decode, resize, JPEG); 0: the file as it is
    bytes_sent: int = 0  # image bytes sent (upload mode): after preprocessing, what went over the link
    request_bytes: int = 0  # the whole request body
    bytes_received: int = 0  # the answer's body, plus the files --fetch downloaded
    round_trip: float | None = None  # seconds from sending to having the whole answer (local: the whole image)
    timings: dict[str, float] | None = None  # the node's stage timings (result JSON `timings`)
    transfer: float | None = None  # round_trip - timings.total: network and serialisation
    download: float | None = None  # seconds --fetch took to download the result files (None without --fetch)
    started_at: float = 0.0  # epoch seconds
    finished_at: float = 0.0
    objects_found: int | None = None
    labels: list[str] | None = None
    scores: list[float] | None = None
    result_path: str | None = None  # where the node wrote the result JSON
    detections: list[dict[str, Any]] | None = None  # every detection: {label, score, box [ymin, xmin, ymax, xmax]}
    image: dict[str, int] | None = None  # {width, height} of the image the node decoded (what was sent)

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
    def per_image(self) -> float | None:
        """Seconds the edge spent on this image: `encode` + `round_trip` + `download` (--fetch's download of
        its results); None without a round trip."""
        if self.round_trip is None:
            return None
        return (self.encode or 0.0) + self.round_trip + (self.download or 0.0)

    @property
    def server_total(self) -> float | None:
        """The node's total time for this image (None when it has no timings)."""
        return self.timings.get("total") if self.timings else None

    @property
    def transfer_side(self) -> float | None:
        """The transfer side of that cost: transfer plus download (what is neither server nor local work)."""
        return None if self.transfer is None else self.transfer + (self.download or 0.0)

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
        self.detections = result.get("detections")
        self.image = result.get("image")
        total = self.server_total
        self.transfer = round_s(self.round_trip - total) if total is not None and self.round_trip is not None else None


RUN_INFO = "run_info"  # the key that marks a run-info line (its value is the run id)


def stage_seconds(stage: str) -> Callable[[Record], float | None]:
    """A reader of one stage's seconds in a record's node timings (None when the record has none)."""
    return lambda r: (r.timings or {}).get(stage)


@dataclass(kw_only=True)
class RunInfo:
    """The experimental setup of one sender run: one line at the start of the run, before its records.

    `nodes` maps each node address (a record's `node`) to its GET /api/info answer as the run started
    (or {"error": ...}); `sender` is the machine the sender ran on (measure.sysinfo.machine()), which for
    a --local run is also the machine that ran the model, with `tensorflow` (its devices) and `model`.
    """

    run_info: str  # the run id: the `run` of the run's records
    label: str = ""
    mode: str = ""
    link: dict[str, Any] = field(default_factory=dict)  # bandwidth_mbps, rtt_ms
    preprocess: dict[str, Any] = field(default_factory=dict)  # resize, quality
    sender: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """A run info from one parsed log line; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def machine_of(self, node: str | None) -> dict[str, Any]:
        """What ran the model for records of `node`: the node's /api/info, or for local the sender's machine."""
        if node == LOCAL or (node is None and self.mode == LOCAL):
            return self.sender
        return self.nodes.get(node or "", {})


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
            if isinstance(data, dict) and isinstance(data.get(RUN_INFO), str):
                continue  # a run-info line: read_run_infos reads those
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


def read_run_infos(path: Path) -> dict[str, RunInfo]:
    """The run-info lines of a log, by run id (older logs have none); torn or foreign lines are skipped."""
    infos: dict[str, RunInfo] = {}
    with open(path, "rb") as fh:
        for line in fh:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get(RUN_INFO), str):
                try:
                    info = RunInfo.from_dict(data)
                except TypeError:
                    continue
                infos[info.run_info] = info
    return infos


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

    def write_info(self, info: RunInfo) -> None:
        """Append the run-info line of a run (before its records)."""
        line = json.dumps(asdict(info), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
