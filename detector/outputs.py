"""Atomic writes of annotated images and result JSON (temp file in the same folder + rename)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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


def annotated_name(name: str) -> str:
    """File name for the annotated copy of `name`: the same name, or `name.png` for other formats."""
    return name if Path(name).suffix.lower() in _SAVE_FORMATS else name + ".png"


def _atomic_write(dest: Path, write) -> None:
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


def dump_json(record: dict) -> bytes:
    """The exact bytes used for both the file on disk and the HTTP response."""
    return (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
