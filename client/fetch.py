"""--fetch: downloading a node's result files into the sender's output folder, mirroring the input's path.

A node answers every detection with a result JSON whose `result_url` and `annotated_image_url` (empty
when no image was saved) are relative URLs under /api/results/. With --fetch the sender GETs them
right after the answer and writes them, atomically, where a --local run writes its own results:
`OUTPUT_DIR/a/x.jpg.json` and, with --output, `OUTPUT_DIR/a/x.jpg` for the image `a/x.jpg`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from client.http import DetectClient, DownloadError
from client.records import Record, round_s
from detector.outputs import OutputNameError, output_target, write_bytes_atomic


@dataclass
class Fetched:
    """What downloading one image's results gave: bytes, seconds, and the reason when it failed."""

    bytes_received: int = 0
    seconds: float = 0.0
    error: str | None = None

    def apply(self, record: Record) -> None:
        """Add the download to the image's record; a failed download fails the record."""
        record.bytes_received += self.bytes_received
        record.download = round_s(self.seconds)
        if self.error is not None:
            record.ok = False
            record.error = self.error


def fetch_results(client: DetectClient, result: dict[str, Any], rel: str, output_dir: Path) -> Fetched:
    """Download the annotated image (when the node saved one) and the result JSON of the image `rel`."""
    t0 = time.perf_counter()
    fetched = Fetched()
    image_url = result.get("annotated_image_url") or ""
    json_url = result.get("result_url") or ""
    try:
        target = output_target(output_dir, rel, save_image=bool(image_url))
        if not json_url:
            raise DownloadError("the result JSON has no result_url (a node older than --fetch?)")
        for url, dest in ((image_url, target.image), (json_url, target.json)):
            if not url or dest is None:
                continue
            data = client.download(url)
            write_bytes_atomic(data, dest)
            fetched.bytes_received += len(data)
    except (requests.RequestException, DownloadError, OutputNameError, OSError) as exc:
        fetched.error = f"download: {type(exc).__name__}: {str(exc)[:300]}"
    fetched.seconds = time.perf_counter() - t0
    return fetched
