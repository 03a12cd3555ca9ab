"""The old sender design, kept only as the distribution benchmark's baseline: the file list split into
one contiguous chunk per node, each node sent its chunk one request at a time. A slow node finishes
last, alone. It sends through the same client as the sender, so only the distribution differs."""

from __future__ import annotations

import threading
from pathlib import Path

from client.http import DetectClient, attempt_record
from client.records import Record


def send_contiguous(urls: list[str], files: list[Path], timeout: float = 120.0) -> list[Record]:
    """Send `files` (path mode, output=0) to `urls`; one record per file (node = its URL)."""
    n = len(urls)
    chunks = [files[i * len(files) // n : (i + 1) * len(files) // n] for i in range(n)]
    records: list[Record] = []
    lock = threading.Lock()

    def run(url: str, chunk: list[Path]) -> None:
        client = DetectClient(url, read_timeout=timeout)
        try:
            for path in chunk:
                record = attempt_record(client.detect_path(str(path)), file=str(path), size=0, node=url)
                with lock:
                    records.append(record)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(u, c), daemon=True) for u, c in zip(urls, chunks, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records
