"""4. Decode: a big JPEG decoded and downscaled for the model (draft mode) vs a naive full decode + resize."""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from bench.report import Figure, Section, table
from detector import decode_image
from measure.stats import median, ratio_text

CONDITIONS = ("ours", "naive", "literal", "ours_full", "draft_only", "full_only", "quarter")
LABELS = {
    "ours": "detector.decode_image (draft mode + resize), what output=0 does",
    "naive": "naive: full decode + resize, same filter (BILINEAR)",
    "literal": "naive as usually written: Image.open().convert('RGB').resize(size) (BICUBIC)",
    "ours_full": "detector.decode_image keeping the full image (output=1: full decode + resize)",
    "draft_only": "part of ours: the draft-mode decode alone, no resize",
    "full_only": "part of naive: the full decode alone, no resize",
    "quarter": "what-if: decode_image with MAX_IMAGE_SIDE = longer side / 4 (draft scale 1/4, no resize left)",
}


def _model_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size the service gives the model (longer side `max_side`, aspect kept)."""
    scale = max_side / max(width, height)
    if max_side <= 0 or scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def _naive(data: bytes, size: tuple[int, int]) -> np.ndarray:
    im = Image.open(io.BytesIO(data))
    im.load()
    return np.asarray(im.resize(size, Image.Resampling.BILINEAR))


def _decode_only(data: bytes, draft: tuple[int, int] | None) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    if draft is not None:
        im.draft("RGB", draft)
    im.load()
    return im


def _literal(data: bytes, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize(size))


def measure(data: bytes, rounds: int, max_side: int) -> tuple[dict[str, list[float]], dict]:
    """Interleaved rounds of each way to get the model's array from `data`; also what draft mode did."""
    with Image.open(io.BytesIO(data)) as im:
        full = im.size
        size = _model_size(*full, max_side)
        im.draft("RGB", size)
        drafted = im.size
    fns = {
        "ours": lambda: decode_image(data, max_side=max_side).array,
        "naive": lambda: _naive(data, size),
        "literal": lambda: _literal(data, size),
        "ours_full": lambda: decode_image(data, max_side=max_side, keep_full=True).array,
        "draft_only": lambda: _decode_only(data, size),
        "full_only": lambda: _decode_only(data, None),
        "quarter": lambda: decode_image(data, max_side=max(full) // 4).array,
    }
    shapes = {name: np.asarray(fn()).shape for name, fn in fns.items()}  # also warms every code path
    if len({shapes[c] for c in ("ours", "naive", "literal", "ours_full")}) != 1:
        raise RuntimeError(f"the decoders disagree on the model size: {shapes}")
    times: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    for r in range(rounds):
        for cond in CONDITIONS[r % len(CONDITIONS) :] + CONDITIONS[: r % len(CONDITIONS)]:
            t0 = time.perf_counter()
            fns[cond]()
            times[cond].append(time.perf_counter() - t0)
    facts = {"full": full, "model": size, "drafted": drafted, "bytes": len(data)}
    return times, facts


def report(section: Section, times: dict[str, list[float]], facts: dict) -> None:
    """The figure with its target, the informative ratios and the table."""

    def ratios(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(times[a], times[b], strict=True)]

    main = ratios("ours", "naive")
    section.add(
        Figure(
            key="decode.draft_vs_naive",
            name=f"{facts['full'][0]}×{facts['full'][1]} JPEG → {facts['model'][0]}×{facts['model'][1]}: "
            "decode_image vs naive full decode + resize",
            value=median(main),
            op="<=",
            limit=0.35,
            detail=ratio_text(main),
        )
    )
    section.add(
        Figure(
            key="decode.draft_vs_literal",
            name="decode_image vs naive as usually written (convert + default BICUBIC resize)",
            value=median(ratios("ours", "literal")),
            detail=ratio_text(ratios("ours", "literal")),
        )
    )
    w, h = facts["full"]
    dw, dh = facts["drafted"]
    section.text(
        f"Image: a {w}×{h} JPEG (quality 90, {facts['bytes'] / 1e6:.1f} MB) tiled from the photos at their own "
        f"resolution, decoded from bytes in memory (path mode reads the file into memory first). Draft mode "
        f"verified: libjpeg decodes it at scale 1/{w // dw} ({dw}×{dh}) before the final resize to "
        f"{facts['model'][0]}×{facts['model'][1]}. {len(times['ours'])} interleaved rounds."
    )
    section.text(
        table(
            ["way", "median (ms)", "vs naive (median of per-round ratios)"],
            [[LABELS[c], f"{median(times[c]) * 1000:.1f}", ratio_text(ratios(c, "naive"))] for c in CONDITIONS],
        )
    )
