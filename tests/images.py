"""Images the tests make themselves: every mode and format a node must accept, and broken files.

GOOD lists files a node must answer 200 for; BAD lists files it must answer 422 for.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

GOOD = [
    "red.jpg",
    "green.png",
    "blue.webp",
    "grey.png",
    "rgba.png",
    "palette.gif",
    "animated.gif",
    "cmyk.jpg",
    "gray16.png",
    "exif_rotated.jpg",
    "wide.bmp",
    "a/same.jpg",
    "b/same.jpg",
    "café ☕.jpg",
]
BAD = ["empty.jpg", "truncated.jpg", "text.jpg", "bomb.png", "bomb_moderate.png", "bomb.gif", "bomb.jpg"]


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A solid RGB image."""
    return Image.new("RGB", size, colour)


def jpeg_bytes(image: Image.Image, **params) -> bytes:
    """Encode `image` as JPEG in memory."""
    import io

    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares `width` x `height` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def gif_bomb() -> bytes:
    """A GIF whose screen and frame declare 65535 x 65535 pixels."""
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b"\x3b"


def jpeg_bomb() -> bytes:
    """A real small JPEG with its frame header patched to declare 65500 x 65500 pixels."""
    data = bytearray(jpeg_bytes(solid((10, 10, 10), (16, 16))))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65500, 65500)
    return bytes(data)


def exif_rotated() -> bytes:
    """A 200x100 JPEG stored landscape with EXIF orientation 6 (shown as 100x200 portrait)."""
    image = solid((200, 30, 30), (200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(image, exif=exif.tobytes())


def write_corpus(root: Path) -> None:
    """Write every GOOD and BAD file under `root`."""
    (root / "a").mkdir(exist_ok=True)
    (root / "b").mkdir(exist_ok=True)
    solid((255, 0, 0)).save(root / "red.jpg", quality=95)
    solid((0, 255, 0)).save(root / "green.png")
    solid((0, 0, 255)).save(root / "blue.webp", quality=95)
    Image.new("L", (300, 200), 128).save(root / "grey.png")
    rgba = Image.new("RGBA", (200, 200), (255, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 200, 100))  # top half transparent black: must show as white
    rgba.save(root / "rgba.png")
    solid((0, 0, 255), (120, 80)).convert("P").save(root / "palette.gif")
    frames = [solid((255, 0, 0), (100, 100)), solid((0, 0, 255), (100, 100))]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.new("CMYK", (160, 120), (0, 255, 255, 0)).save(root / "cmyk.jpg", quality=95)  # red in CMYK
    Image.fromarray(np.full((90, 120), 65535, dtype=np.uint16)).save(root / "gray16.png")  # white, 16-bit
    (root / "exif_rotated.jpg").write_bytes(exif_rotated())
    solid((0, 255, 0), (400, 100)).save(root / "wide.bmp")
    solid((255, 0, 0)).save(root / "a" / "same.jpg", quality=95)
    solid((0, 0, 255)).save(root / "b" / "same.jpg", quality=95)
    solid((0, 255, 0)).save(root / "café ☕.jpg", quality=95)

    (root / "empty.jpg").write_bytes(b"")
    whole = jpeg_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)))
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "text.jpg").write_text("this is not an image\n" * 20)
    (root / "bomb.png").write_bytes(png_bomb(100_000, 100_000))
    (root / "bomb_moderate.png").write_bytes(png_bomb(8000, 8000))  # 64 Mpx: over our limit, under Pillow's
    (root / "bomb.gif").write_bytes(gif_bomb())
    (root / "bomb.jpg").write_bytes(jpeg_bomb())
