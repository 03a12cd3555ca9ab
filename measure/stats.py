"""Statistics of noisy timings: the one percentile helper, spreads, medians, quartiles and ranges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks; 0.0 for no values."""
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=float), q))


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    if not values:
        raise ValueError("median of no values")
    return percentile(values, 50)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """(first, third) quartile; the extremes when there are fewer than 4 values."""
    if len(values) < 4:
        return min(values), max(values)
    return percentile(values, 25), percentile(values, 75)


@dataclass
class Spread:
    """Mean, median and 95th percentile of a sample, in seconds."""

    mean: float
    p50: float
    p95: float
    n: int

    def ms(self) -> str:
        """`mean/p50/p95` in milliseconds."""
        return f"{self.mean * 1000:.0f}/{self.p50 * 1000:.0f}/{self.p95 * 1000:.0f}"


def spread(values: Iterable[float | None]) -> Spread | None:
    """Spread of the values that are not None; None for an empty sample."""
    sample = [v for v in values if v is not None]
    if not sample:
        return None
    return Spread(float(np.mean(sample)), percentile(sample, 50), percentile(sample, 95), len(sample))


def ratio_text(values: Sequence[float]) -> str:
    """`median (min–max)` of a few per-round ratios, three decimals."""
    return f"{median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def quartile_text(values: Sequence[float]) -> str:
    """`median (q1–q3)` of many paired ratios, three decimals."""
    lo, hi = quartiles(values)
    return f"{median(values):.3f} ({lo:.3f}–{hi:.3f})"
