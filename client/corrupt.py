"""Finding images a node would refuse: a full decode with the nodes' own code (detector.check_decodable)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from client.files import crawl
from detector import ImageDecodeError, check_decodable


@dataclass(frozen=True)
class Problem:
    """An image that does not decode, and why."""

    path: Path
    rel: str
    reason: str


def scan(folder: Path, max_pixels: int, exclude: list[Path] | None = None) -> Iterator[Problem]:
    """Every image under `folder` (as the sender finds them) that a node would answer 422 for, or cannot read."""
    for image in crawl(folder, exclude=exclude or []):
        try:
            check_decodable(image.path, max_pixels)
        except OSError as exc:
            yield Problem(image.path, image.rel, f"cannot read: {exc.strerror or exc}")
        except ImageDecodeError as exc:  # ImageTooLargeError included: nodes refuse those with 422 too
            yield Problem(image.path, image.rel, str(exc))


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
