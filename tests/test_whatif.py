"""reporting/whatif.py: known synthetic distributions give known predictions (per image, percentiles,
throughput, break-even), the measured link is taken out of a run's round trips, and the grid picks the
quickest option."""

from __future__ import annotations

import numpy as np
import pytest

from client.records import Record
from reporting.whatif import (
    Profile,
    Sample,
    break_even_bandwidth,
    default_axes,
    grid,
    mva,
    predict,
    predict_local,
    relative_error,
)

MB = 1e6


def two_kinds() -> Profile:
    """Half the images 100 kB with a 50 ms node, half 300 kB with a 150 ms node; 10 ms encode, 5 ms overhead."""
    small = Sample(encode=0.010, wire=100_000, server=0.050, other=0.005)
    large = Sample(encode=0.010, wire=300_000, server=0.150, other=0.005)
    return Profile("two kinds", [small] * 5 + [large] * 5)


def test_one_in_flight_is_the_sum_of_the_parts_for_every_image() -> None:
    p = predict(two_kinds(), bandwidth=1 * MB, rtt=0.020)
    small = 0.010 + 0.100 + 0.020 + 0.050 + 0.005  # 185 ms
    large = 0.010 + 0.300 + 0.020 + 0.150 + 0.005  # 485 ms
    assert p.mean == pytest.approx((small + large) / 2)
    assert p.p50 == pytest.approx((small + large) / 2)  # the median falls between the two kinds
    assert p.p95 == pytest.approx(large)
    assert p.rate == pytest.approx(1 / p.mean)


def test_an_unlimited_link_leaves_the_fixed_part_and_the_round_trip() -> None:
    p = predict(two_kinds(), bandwidth=None, rtt=0.0)
    assert p.mean == pytest.approx(0.010 + 0.100 + 0.005)
    assert two_kinds().fixed() == pytest.approx(0.115)


def test_the_slowdown_scales_the_edge_s_encode_but_not_the_node() -> None:
    base, slow = predict(two_kinds(), 1 * MB, 0.0), predict(two_kinds(), 1 * MB, 0.0, slowdown=3)
    assert slow.mean - base.mean == pytest.approx(2 * 0.010)
    local = predict_local([0.1, 0.2, 0.3], slowdown=2)
    assert (local.mean, local.p50, local.rate) == (pytest.approx(0.4), pytest.approx(0.4), pytest.approx(2.5))


def test_mean_value_analysis_of_two_jobs_matches_the_hand_computation() -> None:
    # n=1: R = D = 0.1, X = 1 / 0.2 = 5, Q = 0.5; n=2: R = 0.1 * 1.5 = 0.15, X = 2 / 0.25 = 8.
    assert mva(0.1, 0.1, 1) == (pytest.approx(5.0), pytest.approx(0.1))
    assert mva(0.1, 0.1, 2) == (pytest.approx(8.0), pytest.approx(0.15))
    rate, _ = mva(0.1, 0.1, 200)  # many in flight: the link is the bottleneck
    assert rate == pytest.approx(10.0, rel=1e-3)


def test_several_in_flight_share_the_link() -> None:
    profile = Profile("shared", [Sample(0.0, 100_000, 0.095, 0.005)] * 4, concurrency=2)
    p = predict(profile, bandwidth=1 * MB, rtt=0.0)  # delay 0.1 s, link 0.1 s: the case above
    assert p.rate == pytest.approx(8.0)
    assert p.mean == pytest.approx(0.25)  # = 2 in flight / 8 per second
    assert p.p95 == pytest.approx(0.25)  # every image alike: the distribution is one point


def test_a_run_s_own_link_is_taken_out_of_its_round_trips() -> None:
    records = [
        Record(
            file=f"{i}.jpg",
            ok=True,
            encode=0.002,
            request_bytes=200_000,
            round_trip=0.060 + 0.200 + 0.030 + 0.004,  # node + 200 kB at 1 MB/s + 30 ms + overhead
            timings={"total": 0.060},
        )
        for i in range(3)
    ]
    records.append(Record(file="failed.jpg", ok=False, round_trip=9.0))
    profile = Profile.from_records("run", records, bandwidth_mbps=1.0, rtt_ms=30.0)
    assert len(profile.samples) == 3
    sample = profile.samples[0]
    assert (sample.encode, sample.wire, sample.server) == (0.002, 200_000, 0.060)
    assert sample.other == pytest.approx(0.004)
    # So the model gives back the measured time at the run's own link, and moves with B and L.
    assert predict(profile, 1 * MB, 0.030).mean == pytest.approx(0.002 + 0.294)
    assert predict(profile, 2 * MB, 0.0).mean == pytest.approx(0.002 + 0.060 + 0.100 + 0.004)


def test_break_even_bandwidth_per_image() -> None:
    profile = Profile("p", [Sample(0.0, 100_000, 0.040, 0.010)])
    assert break_even_bandwidth(profile, local_time=0.200, rtt=0.050) == pytest.approx(100_000 / 0.100)
    assert break_even_bandwidth(profile, local_time=0.090, rtt=0.050) is None  # 40 + 10 + 50 ms >= 90 ms
    assert relative_error(110.0, 100.0) == pytest.approx(0.1)


def test_the_grid_picks_the_quickest_option_and_agrees_with_predict() -> None:
    bandwidths, rtts = default_axes(points=9)
    assert bandwidths[0] == pytest.approx(0.1 * MB) and bandwidths[-1] == pytest.approx(100 * MB)
    assert rtts[0] == pytest.approx(0.001) and rtts[-1] >= 0.5
    big = Profile("big", [Sample(0.0, 1_000_000, 0.020, 0.0)])
    small = Profile("small", [Sample(0.005, 10_000, 0.020, 0.0)])
    local = predict_local([0.150])
    g = grid([big, small], local, bandwidths, rtts)
    assert g.names == ["local", "big", "small"]
    j, i = 0, len(bandwidths) - 1
    assert g.per_image[1, j, i] == pytest.approx(predict(big, float(bandwidths[i]), float(rtts[j])).mean)
    fastest = g.fastest()
    assert fastest[0, 0] == 2  # a slow link: the small image wins
    assert fastest[-1, 0] == 0  # a round trip of a second: the device wins
    assert set(np.unique(g.most_images())) <= {0, 1, 2}
    assert np.all(g.rate[0] == pytest.approx(1 / 0.150))
