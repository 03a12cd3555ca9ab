"""Where results go and how they are written: the output-path rules, and atomic writes of annotated
images and result JSON (temp file in the same folder + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from PIL import Image

# Annotated images keep the input's name; these are the formats we write under each extension.
_SAVE_FORMATS = {
    ".jpg": ("JPEG", {"quality": 90}),
    ".jpeg": ("JPEG", {"quality": 90}),
    ".png": ("PNG", {"compress_level": 1}),  # fast: level 1 is ~5x quicker than 6 for ~10% more bytes
    ".webp": ("WEBP", {"quality": 90}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
}


class OutputNameError(ValueError):
    """The input's name cannot become a result name (too long for the file system once `.json` is added)."""


RESULTS_URL = "/api/results/"  # where a node serves the files under its OUTPUT_DIR (app/api.py)


@dataclass
class OutputTarget:
    """Where one image's results go: the JSON always, the annotated image when `image` is set."""

    json: Path
    image: Path | None = None
    root: Path | None = None  # the output root both lie under (for their URLs)

    def url(self, path: Path | None) -> str:
        """The relative URL a node serves `path` at (`/api/results/a/x.jpg.json`); "" for no file."""
        if path is None:
            return ""
        relative = path.relative_to(self.root).as_posix() if self.root is not None else path.name
        return RESULTS_URL + quote(relative)


def annotated_name(name: str) -> str:
    """File name for the annotated copy of `name`: the same name, or `name.png` for other formats."""
    return name if Path(name).suffix.lower() in _SAVE_FORMATS else name + ".png"


def _name_max(folder: str | os.PathLike[str]) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def output_target(output_root: str | os.PathLike[str], relative: str, save_image: bool) -> OutputTarget:
    """Mirror the input's path under the output root: `a/x.jpg` -> `a/x.jpg` (image) and `a/x.jpg.json`.

    Raises OutputNameError before any work, so no annotated image is ever left without its JSON.
    """
    dest = Path(output_root) / relative
    json_name = dest.name + ".json"
    if len(os.fsencode(json_name)) > _name_max(output_root):
        raise OutputNameError(f"file name too long for its result name {json_name[:40]!r}...")
    image = dest.with_name(annotated_name(dest.name)) if save_image else None
    return OutputTarget(json=dest.with_name(json_name), image=image, root=Path(output_root))


def _atomic_write(dest: Path, write: Callable[[IO[bytes]], object]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:50]}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_image_atomic(image: Image.Image, dest: Path) -> None:
    """Save `image` at `dest` in the format its extension names, all or nothing."""
    fmt, params = _SAVE_FORMATS.get(dest.suffix.lower(), ("PNG", {"compress_level": 1}))
    _atomic_write(dest, lambda fh: image.save(fh, format=fmt, **params))


def write_bytes_atomic(data: bytes, dest: Path) -> None:
    """Write `data` at `dest`, all or nothing."""
    _atomic_write(dest, lambda fh: fh.write(data))


def dump_json(record: Mapping[str, Any]) -> bytes:
    """The exact bytes used for both the file on disk and the HTTP response."""
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
