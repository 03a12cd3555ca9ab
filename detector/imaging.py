"""Decoding any image Pillow can read into the RGB array the model needs."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageSource = bytes | bytearray | memoryview | str | os.PathLike[str]

# Modes whose samples are wider than 8 bits; Pillow's convert("RGB") would clip them to white.
_WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_TRANSPOSING_ORIENTATIONS = {2, 3, 4, 5, 6, 7, 8}  # EXIF orientations other than 'as stored'


class ImageDecodeError(ValueError):
    """The input is not an image we can decode (corrupt, truncated, empty, not an image)."""


class ImageTooLargeError(ImageDecodeError):
    """The image declares more pixels than the configured limit (decompression bomb guard)."""


@dataclass
class DecodedImage:
    """An RGB image ready for the model, plus the full-size picture when it was kept."""

    array: np.ndarray  # uint8 [H, W, 3], possibly downscaled for the model
    width: int  # size of the input after EXIF orientation, before any downscale
    height: int
    format: str  # Pillow's format name of the input ("JPEG", "PNG", ...)
    full: Image.Image | None  # RGB at (width, height), kept only when asked for (annotation)


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageDecodeError("empty file: 0 bytes")
        return Image.open(io.BytesIO(bytes(source)))
    return Image.open(source)


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    longer = max(width, height)
    if max_side <= 0 or longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB without clipping or losing what alpha hides."""
    if im.mode == "RGB":
        return im
    if im.mode in _WIDE_MODES:
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I") else max(float(arr.max()), 1.0)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in _ALPHA_MODES:
        # Transparent pixels often hold black or garbage: show them as white, like a viewer does.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def decode_image(
    source: ImageSource,
    max_side: int = 1024,
    max_pixels: int = 50_000_000,
    keep_full: bool = False,
) -> DecodedImage:
    """Decode bytes or a file into RGB, EXIF-oriented, downscaled to `max_side`, never cropped."""
    try:
        im = _open(source)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not a recognised image format") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on hostile bytes
        raise ImageDecodeError(f"cannot read image: {type(exc).__name__}: {exc}"[:300]) from None
    decoded = None
    try:
        decoded = _decode_opened(im, max_side, max_pixels, keep_full)
        return decoded
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image too large: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. TypeError from a mutated TIFF, NotImplementedError from DDS
        raise ImageDecodeError(f"cannot decode image: {type(exc).__name__}: {exc}"[:300]) from None
    finally:
        if decoded is None or decoded.full is not im:  # closing frees the pixels: not the ones handed out
            im.close()


def _decode_opened(im: Image.Image, max_side: int, max_pixels: int, keep_full: bool) -> DecodedImage:
    width, height = im.size  # from the header: checked before any pixel is decoded
    if width <= 0 or height <= 0:
        raise ImageDecodeError("image has no pixels")
    if max_pixels > 0 and width * height > max_pixels:
        raise ImageTooLargeError(f"image too large: {width}x{height} = {width * height} pixels, limit is {max_pixels}")
    fmt = im.format or "unknown"
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # animations: the first frame is the picture
    orientation = im.getexif().get(0x0112, 1)
    rotated = orientation in (5, 6, 7, 8)
    if not keep_full and im.format == "JPEG":
        # Draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale: far less work on big photos.
        w, h = _target_size(width, height, max_side)
        if (w, h) != (width, height):
            im.draft("RGB", (w, h))
    im.load()
    opened = im
    if orientation in _TRANSPOSING_ORIENTATIONS:
        # Only then: exif_transpose copies the whole picture even when there is nothing to turn.
        im = ImageOps.exif_transpose(im)
    full_w, full_h = (height, width) if rotated else (width, height)
    rgb = _to_rgb(im)
    model_w, model_h = _target_size(full_w, full_h, max_side)
    full = None
    if keep_full:
        full = rgb
        if rgb is opened and opened.format != "JPEG":
            # decode_image then hands out the opened image itself instead of closing it. Only a JPEG
            # has no file left open after load(); other formats get a copy and are closed as before.
            full = rgb.copy()
    if rgb.size != (model_w, model_h):
        rgb = rgb.resize((model_w, model_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    array = np.asarray(rgb, dtype=np.uint8)
    if full is not None and full.size != (full_w, full_h):
        full = full.resize((full_w, full_h), Image.Resampling.BILINEAR)
    return DecodedImage(array=array, width=full_w, height=full_h, format=fmt, full=full)


def check_decodable(source: ImageSource, max_pixels: int = 50_000_000) -> None:
    """Decode every pixel (not just the header), as a node would with no downscale, so truncated data is
    caught; raise ImageDecodeError (ImageTooLargeError over `max_pixels`) if it fails, OSError if unreadable."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:  # the bytes, as a node reads them in path mode
            source = fh.read()
    decode_image(source, max_side=0, max_pixels=max_pixels, keep_full=False)
