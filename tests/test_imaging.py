"""detector.imaging: every mode to RGB, EXIF orientation, no cropping, downscale only past the limit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from detector.imaging import ImageDecodeError, ImageTooLargeError, check_decodable, decode_image
from tests import images as ti


def _mean(decoded) -> list[float]:
    return [round(float(v)) for v in decoded.array.reshape(-1, 3).mean(axis=0)]


@pytest.mark.parametrize(
    "name, size, colour",
    [
        ("red.jpg", (320, 240), [254, 0, 0]),
        ("green.png", (320, 240), [0, 255, 0]),
        ("blue.webp", (320, 240), [0, 0, 254]),
        ("grey.png", (300, 200), [128, 128, 128]),
        ("palette.gif", (120, 80), [0, 0, 255]),
        ("animated.gif", (100, 100), [255, 0, 0]),  # first frame, not the second (blue)
        ("cmyk.jpg", (160, 120), [255, 0, 0]),
        ("gray16.png", (120, 90), [255, 255, 255]),  # 65535 is white, not clipped garbage
        ("wide.bmp", (400, 100), [0, 255, 0]),
    ],
)
def test_modes_become_rgb_with_right_colours(images_dir, name, size, colour):
    decoded = decode_image(images_dir / name)
    assert decoded.array.dtype == np.uint8 and decoded.array.shape == (size[1], size[0], 3)
    assert (decoded.width, decoded.height) == size
    assert _mean(decoded) == pytest.approx(colour, abs=2)


def test_transparent_pixels_become_white_not_black(images_dir):
    decoded = decode_image(images_dir / "rgba.png")
    top, bottom = decoded.array[:100], decoded.array[100:]
    assert top.min() == 255  # was transparent black
    assert [int(v) for v in bottom.reshape(-1, 3).mean(axis=0)] == [255, 0, 0]


def test_exif_orientation_is_applied(images_dir):
    decoded = decode_image(images_dir / "exif_rotated.jpg", keep_full=True)
    assert (decoded.width, decoded.height) == (100, 200)
    assert decoded.array.shape == (200, 100, 3)
    assert decoded.full is not None and decoded.full.size == (100, 200)


def test_bytes_and_path_give_the_same_pixels(images_dir):
    from_path = decode_image(images_dir / "red.jpg")
    from_bytes = decode_image((images_dir / "red.jpg").read_bytes())
    assert np.array_equal(from_path.array, from_bytes.array)


def test_never_crops_and_only_downscales_past_the_limit():
    tall = Image.new("RGB", (480, 1000), (10, 20, 30))
    buf = io.BytesIO()
    tall.save(buf, "PNG")
    whole = decode_image(buf.getvalue(), max_side=1000)
    assert whole.array.shape == (1000, 480, 3)  # at the limit: untouched (the old code cropped to 640x480)
    small = decode_image(buf.getvalue(), max_side=500)
    assert small.array.shape == (500, 240, 3)  # aspect ratio kept
    assert (small.width, small.height) == (480, 1000)  # the input's size is still reported
    unlimited = decode_image(buf.getvalue(), max_side=0)
    assert unlimited.array.shape == (1000, 480, 3)


def test_draft_mode_downscale_matches_full_decode():
    rng = np.random.default_rng(1)
    # Smooth content, so the two resampling paths must agree closely.
    base = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    big = Image.fromarray(base).resize((4000, 3000), Image.Resampling.BICUBIC)
    data = ti.jpeg_bytes(big)
    fast = decode_image(data, max_side=1000)  # draft mode path
    slow = decode_image(data, max_side=1000, keep_full=True)  # full decode, then resize
    assert fast.array.shape == slow.array.shape == (750, 1000, 3)
    assert fast.full is None and slow.full is not None and slow.full.size == (4000, 3000)
    diff = np.abs(fast.array.astype(int) - slow.array.astype(int))
    assert diff.mean() < 3


@pytest.mark.parametrize("name", ["empty.jpg", "truncated.jpg", "text.jpg"])
def test_broken_files_raise_decode_error(images_dir, name):
    with pytest.raises(ImageDecodeError):
        decode_image(images_dir / name)
    with pytest.raises(ImageDecodeError):
        check_decodable(images_dir / name)


def test_empty_bytes_say_so():
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")


@pytest.mark.parametrize("name", ["bomb.png", "bomb_moderate.png", "bomb.gif", "bomb.jpg"])
def test_decompression_bombs_are_refused_before_decoding(images_dir, name):
    with pytest.raises(ImageTooLargeError, match="too large"):
        decode_image(images_dir / name, max_pixels=50_000_000)


def test_pixel_limit_is_configurable(images_dir):
    with pytest.raises(ImageTooLargeError):
        decode_image(images_dir / "red.jpg", max_pixels=320 * 240 - 1)
    assert decode_image(images_dir / "red.jpg", max_pixels=320 * 240).width == 320
