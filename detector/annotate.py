"""Drawing detections on the full-size image."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from detector.result import Detection

# Distinct, readable colours; a class keeps its colour because the index comes from a stable hash.
PALETTE = (
    "#E6194B",
    "#3CB44B",
    "#FFE119",
    "#4363D8",
    "#F58231",
    "#911EB4",
    "#46F0F0",
    "#F032E6",
    "#BCF60C",
    "#FABEBE",
    "#008080",
    "#E6BEFF",
    "#9A6324",
    "#FFFAC8",
    "#800000",
    "#AAFFC3",
    "#808000",
    "#FFD8B1",
    "#000075",
    "#A9A9A9",
)


def label_colour(label: str) -> str:
    """Colour for a class label, the same in every process and after every restart."""
    digest = hashlib.sha1(label.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def _text_colour(fill: str) -> str:
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "black" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "white"


def draw_detections(
    image: Image.Image, detections: Sequence[Detection], max_boxes: int = 10, *, in_place: bool = False
) -> Image.Image:
    """Return a copy of `image` (or, with `in_place`, an RGB `image` itself) with the top `max_boxes` boxes."""
    if image.mode != "RGB":
        out = image.convert("RGB")
    else:
        # Copying a 12-megapixel photo costs tens of ms; a caller that owns the image can skip it.
        out = image if in_place else image.copy()
    width, height = out.size
    draw = ImageDraw.Draw(out)
    line = max(1, round(min(width, height) / 200))
    font = ImageFont.load_default(size=max(10, round(min(width, height) / 40)))
    # Lowest score first, so the best detections' labels end up on top where boxes overlap.
    for det in reversed(list(detections)[: max(0, max_boxes)]):
        ymin, xmin, ymax, xmax = det.box
        left, top = xmin * width, ymin * height
        right, bottom = xmax * width, ymax * height
        colour = label_colour(det.label)
        draw.rectangle((left, top, right, bottom), outline=colour, width=line)
        text = f"{det.label}: {round(det.score * 100)}%"
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = x1 - x0, y1 - y0
        margin = max(1, text_h // 5)
        # Label above the box when there is room, else just inside its top edge.
        label_top = top - text_h - 2 * margin if top - text_h - 2 * margin >= 0 else top
        label_left = min(max(0.0, left), max(0.0, width - text_w - 2 * margin))
        draw.rectangle(
            (label_left, label_top, label_left + text_w + 2 * margin, label_top + text_h + 2 * margin),
            fill=colour,
        )
        draw.text((label_left + margin - x0, label_top + margin - y0), text, fill=_text_colour(colour), font=font)
    return out
