"""The old sender design, kept only as a baseline: the file list split into one contiguous chunk per
node, each node sent its chunk one request at a time. A slow node finishes last, alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests


def send_contiguous(urls: list[str], files: list[Path], timeout: float = 120.0) -> list[dict]:
    """Send `files` (path mode, output=0) to `urls`; one record per file with started_at/finished_at (epoch s)."""
    n = len(urls)
    chunks = [files[i * len(files) // n : (i + 1) * len(files) // n] for i in range(n)]
    records: list[dict] = []
    lock = threading.Lock()

    def run(url: str, chunk: list[Path]) -> None:
        with requests.Session() as session:
            for path in chunk:
                started = time.time()
                try:
                    response = session.post(
                        f"{url}/api/detect", data={"input": str(path), "output": "0"}, timeout=(5.0, timeout)
                    )
                    ok, error = (
                        response.status_code == 200,
                        None if response.status_code == 200 else response.text[:200],
                    )
                except requests.RequestException as exc:
                    ok, error = False, str(exc)[:200]
                with lock:
                    records.append(
                        {
                            "node": url,
                            "file": str(path),
                            "ok": ok,
                            "error": error,
                            "started_at": started,
                            "finished_at": time.time(),
                        }
                    )

    threads = [threading.Thread(target=run, args=(u, c), daemon=True) for u, c in zip(urls, chunks, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return records
