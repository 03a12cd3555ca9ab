"""detector.annotate: boxes and labels on the full image, colours stable across processes."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from detector.annotate import PALETTE, draw_detections, label_colour
from detector.result import Detection
from harness.nodes import REPO


def test_colour_is_stable_across_processes_with_different_hash_seeds():
    labels = ["Person", "Cat", "Dog", "Traffic light", "Toothbrush"]
    here = [label_colour(label) for label in labels]
    code = f"from detector.annotate import label_colour; print([label_colour(l) for l in {labels!r}])"
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        assert out.strip() == repr(here)
    assert all(c in PALETTE for c in here)


def test_draws_box_and_label_on_a_full_size_copy():
    image = Image.new("RGB", (640, 480), (255, 255, 255))
    det = Detection("Person", 0.87, (0.25, 0.25, 0.75, 0.75))
    out = draw_detections(image, [det])
    assert out.size == (640, 480) and out is not image
    assert image.getpixel((160, 240)) == (255, 255, 255)  # the input is untouched
    colour = tuple(int(label_colour("Person")[i : i + 2], 16) for i in (1, 3, 5))
    assert out.getpixel((160, 300)) == colour  # left edge of the box
    assert out.getpixel((320, 240)) == (255, 255, 255)  # inside the box stays clear
    label_area = out.crop((160, 90, 320, 120))  # label sits above the box
    colours = label_area.getcolors(10000)
    assert colours is not None and len(colours) > 1


def test_only_the_top_max_boxes_are_drawn():
    image = Image.new("RGB", (200, 200), (255, 255, 255))
    dets = [Detection("Cat", 0.9, (0.1, 0.1, 0.4, 0.4)), Detection("Dog", 0.5, (0.6, 0.6, 0.9, 0.9))]
    out = draw_detections(image, dets, max_boxes=1)
    assert out.crop((120, 120, 180, 180)).getcolors() == [(3600, (255, 255, 255))]
    assert draw_detections(image, dets, max_boxes=0).getcolors() == [(40000, (255, 255, 255))]


def test_boxes_at_the_image_edges_and_tiny_images_do_not_fail():
    for size in [(1, 1), (5, 300), (300, 5)]:
        image = Image.new("RGB", size, (0, 0, 0))
        out = draw_detections(image, [Detection("Traffic light", 1.0, (0.0, 0.0, 1.0, 1.0))])
        assert out.size == size
