"""The images: the shared photos (or generated stand-ins), fresh copies per round, big and tiny JPEGs."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    """An image's name and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Placed:
    """A copy written into the images root: where it is, and what a request names it by."""

    rel: str  # path relative to the images root (path mode `input`)
    path: Path
    data: bytes


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode as JPEG in memory."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def synthetic_photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A photo-like RGB image (smooth shapes plus grain), for when the shared photos are absent."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.3)
        channels.append(127 + 100 * np.sin(x / w * fx * 6.3 + phase) * np.cos(y / h * fy * 6.3))
    arr = np.stack(channels, axis=-1) + rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def load_photos(shared_images: Path | None, count: int = 8, size: tuple[int, int] = (640, 427)) -> list[Photo]:
    """The shared photos, sorted by name; generated ones when the folder is absent (or `count` is 0)."""
    if shared_images is not None and shared_images.is_dir():
        found = sorted(shared_images.glob("*.jpg"))
        if found:
            return [Photo(p.name, p.read_bytes()) for p in found]
    return [Photo(f"synthetic{i}.jpg", jpeg(synthetic_photo(i, size))) for i in range(count)]


def mosaic(photos: list[Photo], size: tuple[int, int], quality: int = 90, start: int = 0) -> bytes:
    """A `size` JPEG tiled from the photos at their own resolution, so it has real photographic detail."""
    w, h = size
    canvas = Image.new("RGB", size)
    tiles = [Image.open(io.BytesIO(p.data)).convert("RGB") for p in photos]
    y, i = 0, start
    while y < h:
        x, row_h = 0, 0
        while x < w:
            tile = tiles[i % len(tiles)]
            if (i // len(tiles)) % 2:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # no two neighbours alike
            canvas.paste(tile, (x, y))
            x += tile.width
            row_h = max(row_h, tile.height)
            i += 1
        y += row_h
    return jpeg(canvas, quality)


def camera_photos(photos: list[Photo], count: int, size: tuple[int, int]) -> list[Photo]:
    """`count` different camera-size JPEGs (each tiled from the photos in another order)."""
    return [Photo(f"camera{i}.jpg", mosaic(photos, size, start=i * 3)) for i in range(count)]


class ImagesRoot:
    """The folder the nodes serve (IMAGES_DIR); every request gets a file of its own in it."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def place(self, folder: str, photos: list[Photo]) -> list[Placed]:
        """Write the photos into `folder` (fresh names, nothing cached by name) and return them."""
        dest = self.root / folder
        dest.mkdir(parents=True, exist_ok=True)
        placed = []
        for photo in photos:
            path = dest / photo.name
            path.write_bytes(photo.data)
            placed.append(Placed(rel=f"{folder}/{photo.name}", path=path, data=photo.data))
        return placed

    def clear(self, folder: str) -> None:
        """Remove a folder of copies."""
        shutil.rmtree(self.root / folder, ignore_errors=True)
