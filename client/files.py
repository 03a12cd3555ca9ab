"""Finding the images to send: a sorted, recursive crawl of one folder."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Formats a node decodes (Pillow) and writes back under the same name; matched case-insensitively.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class ImageFile:
    """One image found by the crawl."""

    path: Path  # where the client reads it
    rel: str  # POSIX path relative to the crawled folder: the key of its record
    size: int  # bytes on disk


def is_image_name(name: str) -> bool:
    """True for a visible file name with an image extension (any case)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def crawl(folder: str | os.PathLike, limit: int | None = None, exclude: Iterable[Path] = ()) -> list[ImageFile]:
    """Every image under `folder`, recursively, sorted by relative path; at most `limit`.

    Hidden files and folders are skipped (macOS `._x.jpg` companions are not images), and so is
    anything under `exclude` (e.g. the output folder, so annotated copies are not sent again).
    """
    root = Path(folder)
    skip = {os.path.realpath(p) for p in exclude}
    found: list[ImageFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d for d in dirnames if not d.startswith(".") and os.path.realpath(os.path.join(dirpath, d)) not in skip
        ]
        for name in filenames:
            if not is_image_name(name):
                continue
            path = Path(dirpath) / name
            try:
                info = path.stat()
            except OSError:
                continue  # vanished or a dangling link: nothing to send
            if not stat.S_ISREG(info.st_mode):
                continue  # a FIFO or device named like an image: reading it could block forever
            rel = path.relative_to(root).as_posix()
            found.append(ImageFile(path=path, rel=rel, size=info.st_size))
    found.sort(key=lambda f: f.rel)
    return found[:limit] if limit is not None else found


def node_input(image: ImageFile, remote_root: str | None) -> str:
    """The `input` a node gets in path mode: under `remote_root` if given, else the absolute local path."""
    if remote_root:
        return posixpath.join(remote_root, image.rel)
    return os.path.abspath(image.path)
