"""Small statistics for noisy timings: medians, quartiles and ranges."""
from __future__ import annotations

import statistics
from typing import Sequence


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return statistics.median(values)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """(first, third) quartile; the values themselves when there are fewer than 4."""
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def ratio_text(values: Sequence[float]) -> str:
    """`median (min–max)` of a few per-round ratios, three decimals."""
    return f"{median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def quartile_text(values: Sequence[float]) -> str:
    """`median (q1–q3)` of many paired ratios, three decimals."""
    lo, hi = quartiles(values)
    return f"{median(values):.3f} ({lo:.3f}–{hi:.3f})"
