"""Edge-side preprocessing (--resize, --quality): what the edge device makes of an image before it is
sent (upload mode) or detected in this process (--local), so both sides see the same pixels.

Without either option the file goes as it is (`Preprocess.active` is False and nothing is timed).
With them the image is decoded the way a node decodes it (EXIF orientation applied, any mode to RGB,
transparency on white: detector.imaging), downscaled so that its longer side is at most `resize`
pixels (never upscaled), and encoded as JPEG at `quality`. The time that takes, reading the file
included, is the client stage `encode` of the record.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from detector.imaging import decode_image

DEFAULT_QUALITY = 90  # JPEG quality of a --resize without --quality: close to what a camera writes
MIN_QUALITY, MAX_QUALITY = 1, 95  # Pillow: above 95 JPEG files grow without a visible gain


@dataclass(frozen=True)
class Preprocess:
    """The edge's preprocessing settings: `resize` (longer side, pixels) and `quality` (JPEG, 1-95)."""

    resize: int | None = None
    quality: int | None = None

    def __post_init__(self) -> None:
        if self.resize is not None and self.resize < 1:
            raise ValueError(f"resize must be >= 1 pixel, not {self.resize}")
        if self.quality is not None and not MIN_QUALITY <= self.quality <= MAX_QUALITY:
            raise ValueError(f"quality must be in {MIN_QUALITY}..{MAX_QUALITY}, not {self.quality}")

    @property
    def active(self) -> bool:
        """True when the image is decoded and re-encoded; False: the file goes as it is."""
        return self.resize is not None or self.quality is not None

    @property
    def jpeg_quality(self) -> int:
        """The JPEG quality images are encoded at (DEFAULT_QUALITY for a --resize alone)."""
        return self.quality if self.quality is not None else DEFAULT_QUALITY

    def describe(self) -> str:
        """`320 px, q75`, `full size, q50`, or `the file as it is`."""
        if not self.active:
            return "the file as it is"
        size = f"{self.resize} px" if self.resize is not None else "full size"
        return f"{size}, q{self.jpeg_quality}"


@dataclass(frozen=True)
class Prepared:
    """What goes to the node (or to the local detector) for one image."""

    data: bytes
    seconds: float  # the client stage `encode`: read + decode + resize + JPEG encode (0 when inactive)
    width: int | None = None  # size of the encoded image in pixels (None when the file went as it is)
    height: int | None = None


def encode_image(data: bytes, settings: Preprocess) -> tuple[bytes, int, int]:
    """Decode `data` as a node would (any mode, EXIF-oriented), shrink its longer side to `settings.resize`
    (never up), and encode it as JPEG at `settings.jpeg_quality`; returns (bytes, width, height).

    Raises detector.ImageDecodeError for bytes that are not an image.
    """
    side = settings.resize if settings.resize is not None else 0  # 0: no downscale
    decoded = decode_image(data, max_side=side, keep_full=False)  # the node's default pixel limit
    height, width = decoded.array.shape[:2]
    out = io.BytesIO()
    Image.fromarray(decoded.array, "RGB").save(out, "JPEG", quality=settings.jpeg_quality)
    return out.getvalue(), width, height


def prepare(path: Path, settings: Preprocess) -> Prepared:
    """The bytes to send for the image at `path`: the file itself, or its preprocessed JPEG (timed).

    Raises OSError when the file cannot be read and ImageDecodeError when it is not an image.
    """
    if not settings.active:
        return Prepared(path.read_bytes(), 0.0)
    t0 = time.perf_counter()
    data, width, height = encode_image(path.read_bytes(), settings)
    return Prepared(data, time.perf_counter() - t0, width, height)
