"""The per-image record log: one JSON object per line, flushed as it is written, readable after a kill."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Iterable


def round_s(value: float | None) -> float | None:
    """Seconds rounded to the microsecond (the precision of the node's own timings)."""
    return None if value is None else round(value, 6)


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


def read_records(path: Path, warn: bool = True) -> list[dict]:
    """Every record in a log; lines that are not a JSON object (a torn last line) are skipped."""
    records = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or "file" not in record:
                if warn:
                    print(f"{path}:{number}: skipped a line that is not a complete record", file=sys.stderr)
                continue
            records.append(record)
    return records


def ok_files(path: Path) -> set[str]:
    """Files that already have an ok record in the log (what --resume skips)."""
    if not path.exists():
        return set()
    return {r["file"] for r in read_records(path) if r.get("ok") is True}


def final_records(records: Iterable[dict]) -> list[dict]:
    """One record per file: its ok record if any, else its last one (a resumed log can hold both)."""
    chosen: dict[str, dict] = {}
    for record in records:
        previous = chosen.get(record["file"])
        if previous is not None and previous.get("ok") and not record.get("ok"):
            continue  # an ok answer is final; a later failure of the same file does not undo it
        chosen[record["file"]] = record
    return list(chosen.values())


class RecordLog:
    """Appends records to a JSONL file from any thread; every line is flushed before write() returns."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        """Append one record as one line."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
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
