"""Finding images a node would refuse: full decode with the nodes' own code (detector.imaging)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from detector import ImageDecodeError, decode_image
from scripts.sender_files import crawl


@dataclass(frozen=True)
class Problem:
    """An image that does not decode, and why."""

    path: Path
    rel: str
    reason: str


def check_file(path: Path, max_pixels: int) -> str | None:
    """Why a node would answer 422 for this file, or None if it decodes.

    The bytes go through decode_image as a node receives them (path mode reads the file, an upload
    sends its bytes), with no downscale: every pixel is decoded, so truncated data is caught.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    try:
        decode_image(data, max_side=0, max_pixels=max_pixels, keep_full=False)
    except ImageDecodeError as exc:  # ImageTooLargeError included: nodes refuse those with 422 too
        return str(exc)
    return None


def scan(folder: Path, max_pixels: int, exclude: list[Path] | None = None) -> Iterator[Problem]:
    """Every image under `folder` (as the sender finds them) that fails to decode."""
    for image in crawl(folder, exclude=exclude or []):
        reason = check_file(image.path, max_pixels)
        if reason is not None:
            yield Problem(image.path, image.rel, reason)


def quarantine(problem: Problem, dest_root: Path) -> Path:
    """Move the file under `dest_root`, keeping its relative path; never overwrite (a `.N` is added)."""
    dest = dest_root / problem.rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = dest, 1
    while candidate.exists():
        candidate = dest.with_name(f"{dest.name}.{n}")
        n += 1
    shutil.move(os.fspath(problem.path), os.fspath(candidate))
    return candidate
