"""What-if model: per-image time and throughput of offloading over any uplink bandwidth B and round trip
L, from one measured run's per-image samples; and the same for the local device, k times slower.

One image offloaded costs the edge

    T_i(B, L) = k * e_i + S_i / B + L + s_i + o_i

with e_i the client's `encode` (on the device, so it scales with the slowdown k), S_i the request bytes
that cross the uplink, s_i the node's total time, and o_i the rest of the measured round trip that
neither the link nor the node explain (HTTP, serialisation, the answer coming back): o_i = round trip
- s_i - S_i / B_run - L_run, with B_run and L_run the link the run was measured on (none: B_run = inf,
L_run = 0). Every image keeps its own e_i, S_i, s_i and o_i, so the prediction has a distribution
(p50, p95), not only a mean.

Throughput: the sender keeps C = nodes x per-node requests in flight, and all of them share the one
uplink. That is a closed queueing network with one queueing station (the link, demand mean(S) / B) and
one delay station (everything else, mean(k e + s + o) + L, the node time as measured at the run's own
concurrency); exact mean-value analysis gives its throughput X and mean time per image C / X. With
C = 1 it is the sum above and X = 1 / T. The local device runs one image at a time: T_local = k *
mean(measured per-image time), X_local = 1 / T_local.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from client.records import MB, Record
from measure.stats import percentile


@dataclass(frozen=True)
class Sample:
    """One image as a measured remote run saw it (seconds, bytes)."""

    encode: float  # e_i: the edge's preprocessing
    wire: float  # S_i: request bytes over the uplink
    server: float  # s_i: the node's total
    other: float  # o_i: the round trip's rest, after the link and the node


@dataclass(frozen=True)
class Prediction:
    """Mean, p50 and p95 seconds per image, and images per second."""

    mean: float
    p50: float
    p95: float
    rate: float


@dataclass
class Profile:
    """What the model needs from one measured remote run."""

    name: str
    samples: list[Sample]
    concurrency: int = 1  # requests in flight: nodes x per-node

    @classmethod
    def from_records(
        cls,
        name: str,
        records: Iterable[Record],
        bandwidth_mbps: float | None = None,
        rtt_ms: float | None = None,
        concurrency: int = 1,
    ) -> Profile:
        """Samples from a run's ok records, with the link it was measured on taken out of each round trip."""
        rate = bandwidth_mbps * MB if bandwidth_mbps else None
        rtt = (rtt_ms or 0.0) / 1000
        samples = []
        for r in records:
            if not r.ok or r.round_trip is None or r.server_total is None:
                continue
            upload = r.request_bytes / rate if rate else 0.0
            samples.append(
                Sample(
                    encode=r.encode or 0.0,
                    wire=float(r.request_bytes),
                    server=r.server_total,
                    other=r.round_trip - r.server_total - upload - rtt,
                )
            )
        return cls(name, samples, max(1, concurrency))

    @property
    def mean_wire(self) -> float:
        """Mean bytes per image over the uplink."""
        return float(np.mean([s.wire for s in self.samples])) if self.samples else 0.0

    def fixed(self, slowdown: float = 1.0) -> float:
        """Mean seconds per image that depend on neither B nor L: k e + s + o."""
        return float(np.mean([slowdown * s.encode + s.server + s.other for s in self.samples]))


def mva(delay: float, demand: float, customers: int) -> tuple[float, float]:
    """Exact mean-value analysis of `customers` jobs cycling through one delay station (mean `delay` s)
    and one processor-sharing queue (mean `demand` s): (throughput per second, mean time in the queue)."""
    queue_length, in_queue = 0.0, demand
    throughput = 1.0 / (delay + demand) if delay + demand > 0 else float("inf")
    for n in range(1, customers + 1):
        in_queue = demand * (1 + queue_length)
        throughput = n / (delay + in_queue)
        queue_length = throughput * in_queue
    return throughput, in_queue


def predict(profile: Profile, bandwidth: float | None, rtt: float, slowdown: float = 1.0) -> Prediction:
    """Offloading over an uplink of `bandwidth` bytes/s (None: unlimited) with `rtt` seconds of round trip,
    the edge `slowdown` times slower at its own work (encode)."""
    if not profile.samples:
        raise ValueError(f"profile {profile.name!r} has no ok image")
    demand = profile.mean_wire / bandwidth if bandwidth else 0.0
    delay = profile.fixed(slowdown) + rtt
    rate, in_link = mva(delay, demand, profile.concurrency)
    stretch = in_link / demand if demand > 0 else 1.0  # how much longer an upload takes while others share it
    times = [
        slowdown * s.encode + s.server + s.other + rtt + (s.wire / bandwidth * stretch if bandwidth else 0.0)
        for s in profile.samples
    ]
    return Prediction(float(np.mean(times)), percentile(times, 50), percentile(times, 95), rate)


def predict_local(per_image: Sequence[float], slowdown: float = 1.0) -> Prediction:
    """The device doing the work itself, one image at a time, `slowdown` times slower than measured."""
    if not per_image:
        raise ValueError("no local per-image times")
    times = [slowdown * t for t in per_image]
    mean = float(np.mean(times))
    return Prediction(mean, percentile(times, 50), percentile(times, 95), 1.0 / mean if mean > 0 else 0.0)


def relative_error(predicted: float, measured: float) -> float:
    """(predicted - measured) / measured."""
    return (predicted - measured) / measured


def break_even_bandwidth(profile: Profile, local_time: float, rtt: float, slowdown: float = 1.0) -> float | None:
    """Per image, with one request in flight: the uplink (bytes/s) above which offloading is quicker than
    `local_time` at round trip `rtt`; None when it never is (the fixed part and the round trip already
    take as long as the device)."""
    margin = local_time - profile.fixed(slowdown) - rtt
    return profile.mean_wire / margin if margin > 0 else None


@dataclass
class Grid:
    """Predictions over B x L for several options: per_image[o, j, i] and rate[o, j, i] for bandwidth
    bandwidths[i] and round trip rtts[j]; option 0 is the local device (the same everywhere)."""

    bandwidths: np.ndarray  # bytes/s
    rtts: np.ndarray  # seconds
    names: list[str]  # "local", then each profile's name
    per_image: np.ndarray
    rate: np.ndarray

    def fastest(self) -> np.ndarray:
        """Index of the option with the least mean time per image, at each (L, B)."""
        return np.argmin(self.per_image, axis=0)

    def most_images(self) -> np.ndarray:
        """Index of the option with the most images per second, at each (L, B)."""
        return np.argmax(self.rate, axis=0)


def grid(
    profiles: Sequence[Profile],
    local: Prediction,
    bandwidths: np.ndarray,
    rtts: np.ndarray,
    slowdown: float = 1.0,
) -> Grid:
    """Every profile predicted at every (B, L), beside the local device."""
    per_image = np.empty((len(profiles) + 1, len(rtts), len(bandwidths)))
    rate = np.empty_like(per_image)
    per_image[0], rate[0] = local.mean, local.rate
    for o, profile in enumerate(profiles, 1):
        fixed, wire = profile.fixed(slowdown), profile.mean_wire  # what predict() would work out each time
        for j, rtt in enumerate(rtts):
            for i, bandwidth in enumerate(bandwidths):
                x, in_link = mva(fixed + float(rtt), wire / float(bandwidth), profile.concurrency)
                per_image[o, j, i], rate[o, j, i] = fixed + float(rtt) + in_link, x
    return Grid(bandwidths, rtts, ["local"] + [p.name for p in profiles], per_image, rate)


def default_axes(points: int = 61) -> tuple[np.ndarray, np.ndarray]:
    """Log-spaced bandwidths 0.1-100 MB/s (bytes/s) and round trips 1-1000 ms (seconds)."""
    return np.logspace(np.log10(0.1 * MB), np.log10(100 * MB), points), np.logspace(-3, 0, points)
