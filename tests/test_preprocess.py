"""client/preprocess.py and the sender options around it: --resize, --quality, --rtt, their usage errors
and labels, and the round trip client/link.py adds. Real files, real JPEG encoding; no node."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from client.cli import default_label, parse_args
from client.link import Link
from client.preprocess import DEFAULT_QUALITY, Preprocess, prepare
from detector.imaging import ImageDecodeError
from tests import images as corpus
from tests.helpers import noise_jpeg


def opened(data: bytes) -> Image.Image:
    """The image `data` decodes to (loaded)."""
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_without_options_the_file_goes_as_it_is_and_nothing_is_timed(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    noise_jpeg(path)
    prepared = prepare(path, Preprocess())
    assert prepared.data == path.read_bytes()
    assert prepared.seconds == 0.0 and prepared.width is None
    assert Preprocess().describe() == "the file as it is"


def test_resize_shrinks_the_longer_side_and_keeps_the_aspect(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    noise_jpeg(path, size=(320, 240))
    prepared = prepare(path, Preprocess(resize=100))
    im = opened(prepared.data)
    assert im.format == "JPEG" and im.size == (100, 75) == (prepared.width, prepared.height)
    assert prepared.seconds > 0
    portrait = tmp_path / "p.jpg"
    noise_jpeg(portrait, size=(240, 320))
    assert opened(prepare(portrait, Preprocess(resize=100)).data).size == (75, 100)


def test_resize_never_enlarges(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    noise_jpeg(path, size=(320, 240))
    prepared = prepare(path, Preprocess(resize=2000))
    assert opened(prepared.data).size == (320, 240)


def test_quality_reencodes_as_jpeg_and_lower_quality_sends_fewer_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.open(io.BytesIO(prepare(_noise(tmp_path), Preprocess(quality=95)).data)).save(path)
    low, high = prepare(path, Preprocess(quality=20)), prepare(path, Preprocess(quality=90))
    assert opened(low.data).format == opened(high.data).format == "JPEG"
    assert len(low.data) < len(high.data) < path.stat().st_size
    assert opened(low.data).size == opened(high.data).size == (320, 240)


def _noise(folder: Path) -> Path:
    path = folder / "noise.jpg"
    noise_jpeg(path)
    return path


def test_resize_alone_encodes_at_the_default_quality(tmp_path: Path) -> None:
    pre = Preprocess(resize=64)
    assert pre.jpeg_quality == DEFAULT_QUALITY and pre.describe() == f"64 px, q{DEFAULT_QUALITY}"
    assert Preprocess(quality=40).describe() == "full size, q40"
    path = _noise(tmp_path)
    assert prepare(path, pre).data == prepare(path, Preprocess(resize=64, quality=DEFAULT_QUALITY)).data


def test_exif_orientation_is_applied_before_resizing(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    path.write_bytes(corpus.exif_rotated())  # stored 200x100, shown 100x200
    im = opened(prepare(path, Preprocess(resize=50)).data)
    assert im.size == (25, 50)
    assert im.getexif().get(0x0112) is None  # the pixels are turned, so no orientation is left to apply


def test_transparency_becomes_white_as_on_a_node(tmp_path: Path) -> None:
    path = tmp_path / "clear.png"
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(path)
    im = opened(prepare(path, Preprocess(quality=90)).data).convert("RGB")
    r, g, b = im.getpixel((20, 15))  # type: ignore[misc]  # an RGB pixel is a 3-tuple
    assert min(r, g, b) > 240


def test_a_file_that_is_no_image_cannot_be_preprocessed(tmp_path: Path) -> None:
    path = tmp_path / "text.jpg"
    path.write_text("not an image")
    with pytest.raises(ImageDecodeError):
        prepare(path, Preprocess(resize=10))


@pytest.mark.parametrize("kwargs", [{"resize": 0}, {"quality": 0}, {"quality": 96}])
def test_bad_settings_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Preprocess(**kwargs)


# --- the sender's options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--resize", "320"],  # path mode: the node reads the file itself
        ["--mode", "path", "--quality", "50"],
        ["--mode", "upload", "--quality", "0"],
        ["--mode", "upload", "--quality", "96"],
        ["--mode", "upload", "--resize", "0"],
        ["--local", "--rtt", "10"],
        ["--mode", "upload", "--rtt", "-1"],
    ],
)
def test_preprocessing_and_round_trip_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args([str(tmp_path), *argv])
    assert exc.value.code == 2


def test_the_options_and_their_labels(tmp_path: Path) -> None:
    args = parse_args([str(tmp_path), "--mode", "upload", "--resize", "320", "--quality", "75", "--rtt", "40"])
    assert (args.resize, args.quality, args.rtt) == (320, 75, 40.0)
    assert default_label(args) == "upload 320px q75 1 node +40ms"
    local = parse_args([str(tmp_path), "--local", "--resize", "320"])
    assert default_label(local) == f"local 320px q{DEFAULT_QUALITY}"
    path_rtt = parse_args([str(tmp_path), "--rtt", "5"])  # path mode: the request still crosses the network
    assert path_rtt.rtt == 5.0 and default_label(path_rtt) == "path 1 node +5ms"
    assert default_label(parse_args([str(tmp_path), "--mode", "upload"])) == "upload 1 node"


def test_the_link_adds_its_round_trip_in_two_halves() -> None:
    link = Link(None, rtt=0.2)
    t0 = time.perf_counter()
    link.half_round_trip()
    half = time.perf_counter() - t0
    assert half >= 0.1
    link.send(10_000_000)  # no rate: the bytes are not paced, nothing is reserved on the link
    assert link._free_at == 0.0
    with pytest.raises(ValueError):
        Link(None, rtt=-1)
