"""Is offloading worth it? Per-image and overall comparison of a local run with a remote run, and
the break-even upload bandwidth.

Offloading one image costs  T_remote(B) = S / B + T_server + L  and running it locally costs T_local, so it
pays while S / B < T_local - T_server - L, i.e. for an upload bandwidth above

    B* = S / (T_local - T_server - L)

with S the mean image size, T_server the node's mean total time, L the mean per-request overhead that is
neither server work nor the image upload (latency, HTTP, serialisation), and T_local the mean local
per-image time. If T_server + L >= T_local, offloading one image never pays, however fast the link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from client.records import MB
from reporting.data import Series

LOCAL, REMOTE, LEVEL = "local", "remote", "level"
TIE = 0.03  # runs within 3 % of each other are called level: run-to-run noise is larger than that


def faster(local: float, remote: float, lower_is_better: bool) -> str:
    """`local`, `remote`, or `level` when they differ by less than TIE (relative to the larger)."""
    if abs(local - remote) < TIE * max(abs(local), abs(remote)):
        return LEVEL
    remote_wins = remote < local if lower_is_better else remote > local
    return REMOTE if remote_wins else LOCAL


@dataclass
class Comparison:
    """Every number the verdict rests on (seconds, bytes, images/s)."""

    local: str
    remote: str
    images: int  # images both runs processed ok (the per-image means are over these)
    local_time: float  # T_local: mean local per-image time
    remote_time: float  # mean remote time per image: round trip plus the --fetch download
    server_time: float  # T_server: mean server total time
    latency: float  # L: mean of (transfer + download - request body / throttled rate)
    size: float  # S: mean image size in bytes
    local_rate: float  # images/s of the whole local run
    remote_rate: float  # images/s of the whole remote run
    bandwidth_mbps: float | None  # the remote run's --bandwidth, if it was throttled

    @property
    def faster_per_image(self) -> str:
        """Which took less time per image on average (`level` within TIE)."""
        return faster(self.local_time, self.remote_time, lower_is_better=True)

    @property
    def faster_overall(self) -> str:
        """Which handled more images per second over the whole run (`level` within TIE)."""
        return faster(self.local_rate, self.remote_rate, lower_is_better=False)

    @property
    def margin(self) -> float:
        """T_local - T_server - L: the time an upload may take before offloading stops paying."""
        return self.local_time - self.server_time - self.latency

    @property
    def break_even(self) -> float | None:
        """B* in bytes/s; None when offloading one image never pays (margin <= 0)."""
        return self.size / self.margin if self.margin > 0 else None

    @property
    def link_for_rate(self) -> float:
        """Bytes/s an uplink must carry to feed nodes as many images/s as the local run did: S x R_local."""
        return self.size * self.local_rate


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def compare(local: Series, remote: Series) -> Comparison:
    """Compare over the images both runs processed ok (all ok images of each if they share none)."""
    local_ok, remote_ok = local.ok_by_file(), remote.ok_by_file()
    common = sorted(set(local_ok) & set(remote_ok))
    loc = [local_ok[f] for f in common] if common else list(local_ok.values())
    rem = [remote_ok[f] for f in common] if common else list(remote_ok.values())
    rate = remote.bandwidth_mbps * MB if remote.bandwidth_mbps and remote.mode == "upload" else None
    # The upload at the throttled rate is the S / B term of the model, so it is not part of L.
    # Without a throttle the (fast, local) upload stays inside L: a slightly pessimistic L.
    # The throttle paces the whole request body (image + multipart framing), so that is what it cost.
    # The edge's encode time, an emulated round trip (--rtt) and downloading the results (--fetch) are all
    # neither server work nor the upload at the throttled rate: they stay in L.
    latency = [(r.encode or 0.0) + (r.transfer_side or 0.0) - (r.request_bytes / rate if rate else 0.0) for r in rem]
    return Comparison(
        local=local.name,
        remote=remote.name,
        images=len(common),
        local_time=_mean([r.per_image or 0.0 for r in loc]),
        remote_time=_mean([r.per_image or 0.0 for r in rem]),
        server_time=_mean([r.server_total or 0.0 for r in rem]),
        latency=_mean(latency) + _mean([r.encode for r in rem]),  # the edge's encode adds to the fixed cost too
        # What an upload sends: the (preprocessed) bytes sent, or for path mode the file on disk.
        size=_mean([float(r.bytes_sent if remote.mode == "upload" else r.size) for r in rem]),
        local_rate=local.overall.rate,
        remote_rate=remote.overall.rate,
        bandwidth_mbps=remote.bandwidth_mbps if remote.mode == "upload" else None,
    )


def compare_all(series: list[Series]) -> list[Comparison]:
    """Every remote series against the first local one (none without both kinds)."""
    local = next((s for s in series if s.is_local and s.ok_by_file()), None)
    if local is None:
        return []
    return [compare(local, s) for s in series if not s.is_local and s.ok_by_file()]


def mbps(bytes_per_s: float) -> str:
    """`1.23 MB/s (9.8 Mbit/s)`."""
    return f"{bytes_per_s / MB:.2f} MB/s ({bytes_per_s * 8 / MB:.1f} Mbit/s)"


def ms(seconds: float) -> str:
    """`12.3 ms`."""
    return f"{seconds * 1000:.1f} ms"


def _winner(which: str) -> str:
    if which == LEVEL:
        return f"local and remote are level (less than {TIE:.0%} apart)"
    return f"{which} is faster"


def sentences(c: Comparison) -> list[str]:
    """The verdict for one remote run, in words, from the comparison's numbers only."""
    over = (
        f"mean over the {c.images} images both runs processed"
        if c.images
        else ("the runs share no image: each mean is over its own run's images")
    )
    per_image = (
        f"**Per image, {_winner(c.faster_per_image)}**: {ms(c.local_time)} locally vs {ms(c.remote_time)} "
        f"round-trip (plus download with --fetch) on `{c.remote}` ({over})."
    )
    overall = (
        f"**Overall, {_winner(c.faster_overall)}**: {c.local_rate:.2f} images/s locally vs "
        f"{c.remote_rate:.2f} images/s on `{c.remote}`."
    )
    if c.break_even is None:
        even = (
            f"**Break-even upload bandwidth: none.** The node's {ms(c.server_time)} plus "
            f"{ms(c.latency)} of latency already reach the local {ms(c.local_time)}, so offloading a single "
            "image does not pay at any bandwidth."
        )
    else:
        even = (
            f"**Break-even upload bandwidth: {mbps(c.break_even)}.** Below it, uploading a "
            f"{c.size / 1000:.0f} kB image plus the node's {ms(c.server_time)} and {ms(c.latency)} of latency "
            f"takes longer than the local {ms(c.local_time)}: B* = S / (T_local - T_server - L) = "
            f"{c.size / 1000:.0f} kB / {ms(c.margin)}."
        )
    link = (
        f"To feed remote nodes as many images per second as this device does alone ({c.local_rate:.2f}/s), "
        f"the uplink must carry at least S x R_local = {mbps(c.link_for_rate)}; below that the link, not the "
        "nodes, caps the remote throughput."
    )
    result = [per_image, overall, even, link]
    if c.bandwidth_mbps:
        upload = c.size / (c.bandwidth_mbps * MB)
        budget = c.local_time - c.latency - upload
        need = (
            f"a node would have to finish an image in under {ms(budget)} (this one took {ms(c.server_time)})"
            if budget > 0
            else "no node, however fast, can make offloading one image pay"
        )
        result.append(
            f"On this run's {c.bandwidth_mbps:g} MB/s link, uploading the mean image alone takes "
            f"S / B = {ms(upload)} against {ms(c.local_time)} for the whole local run: {need}."
        )
    return result
