"""client/summary.py and measure/stats.py on hand-built records: spreads, wall time, rates, per-node rows, the table."""

from __future__ import annotations

import pytest

from client.records import Record
from client.summary import HEADERS, METRICS, format_table, group_stats, summarize, table_rows, wall_time
from measure.stats import Spread, median, percentile, quartile_text, quartiles, ratio_text, spread

TENTHS = [round(0.1 * i, 1) for i in range(1, 11)]  # 0.1 .. 1.0


def record(
    file: str,
    node: str | None = "a:1",
    ok: bool = True,
    run: str = "r1",
    start: float = 0.0,
    end: float = 1.0,
    inference: float | None = None,
    total: float | None = None,
    queue: float | None = None,
    round_trip: float | None = None,
    transfer: float | None = None,
    download: float | None = None,
) -> Record:
    """A record with the given node, outcome, span and timings (seconds)."""
    timings = None
    if inference is not None or total is not None or queue is not None:
        given = (("queue", queue), ("inference", inference), ("total", total))
        timings = {k: v for k, v in given if v is not None}
    return Record(
        file=file,
        node=node,
        ok=ok,
        run=run,
        started_at=start,
        finished_at=end,
        timings=timings,
        round_trip=round_trip,
        transfer=transfer,
        download=download,
    )


def tenths_records(node: str = "a:1") -> list[Record]:
    """Ten ok records whose every metric takes the values 0.1 .. 1.0 s, one per second of a 10 s run."""
    return [
        record(
            f"{node}/img-{i}.jpg",
            node=node,
            start=i,
            end=i + 1,
            queue=v,
            inference=v,
            total=v,
            round_trip=v,
            transfer=v,
            download=v,
        )
        for i, v in enumerate(TENTHS)
    ]


def test_percentile_interpolates_linearly_between_the_closest_ranks() -> None:
    assert percentile(TENTHS, 50) == pytest.approx(0.55)
    assert percentile(TENTHS, 95) == pytest.approx(0.955)
    assert percentile(TENTHS, 0) == pytest.approx(0.1)
    assert percentile(TENTHS, 100) == pytest.approx(1.0)
    assert percentile([4.0, 1.0, 3.0, 2.0], 25) == pytest.approx(1.75)  # order of the input does not matter


def test_percentile_of_no_values_is_zero() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([], 95) == 0.0


def test_median_of_no_values_raises() -> None:
    with pytest.raises(ValueError):
        median([])


def test_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([7.0]) == 7.0


def test_quartiles_are_the_25th_and_75th_percentiles() -> None:
    assert quartiles([float(v) for v in range(1, 10)]) == (3.0, 7.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == (1.75, 3.25)


def test_quartiles_of_fewer_than_four_values_are_the_extremes() -> None:
    assert quartiles([2.0, 9.0, 5.0]) == (2.0, 9.0)
    assert quartiles([5.0]) == (5.0, 5.0)


def test_spread_gives_mean_p50_p95_and_count_and_ignores_missing_values() -> None:
    result = spread([*TENTHS, None, None])
    assert result is not None
    assert result.n == 10
    assert result.mean == pytest.approx(0.55)
    assert result.p50 == pytest.approx(0.55)
    assert result.p95 == pytest.approx(0.955)


def test_spread_of_no_values_is_none() -> None:
    assert spread([]) is None
    assert spread([None, None]) is None


def test_spread_ms_prints_mean_p50_p95_in_whole_milliseconds() -> None:
    assert Spread(mean=0.1234, p50=0.5, p95=1.9996, n=3).ms() == "123/500/2000"
    assert Spread(mean=0.0, p50=0.0004, p95=0.0006, n=2).ms() == "0/0/1"


def test_ratio_text_is_the_median_and_the_range_to_three_decimals() -> None:
    assert ratio_text([1.2, 0.9, 1.05]) == "1.050 (0.900–1.200)"


def test_quartile_text_is_the_median_and_the_quartiles_to_three_decimals() -> None:
    assert quartile_text([float(v) for v in range(1, 10)]) == "5.000 (3.000–7.000)"
    assert quartile_text([1.0, 3.0]) == "2.000 (1.000–3.000)"


def test_wall_time_is_first_start_to_last_finish_of_one_run() -> None:
    records = [
        record("a", start=100.0, end=103.0),
        record("b", start=101.0, end=108.5),
        record("c", start=102, end=104),
    ]
    assert wall_time(records) == pytest.approx(8.5)


def test_wall_time_adds_up_the_spans_of_separate_runs() -> None:
    first = [record("a", run="r1", start=0.0, end=4.0), record("b", run="r1", start=2.0, end=10.0)]
    resumed = [record("c", run="r2", start=1000.0, end=1003.0), record("d", run="r2", start=1001.0, end=1005.0)]
    assert wall_time(first + resumed) == pytest.approx(15.0)  # 10 + 5, not 1005


def test_wall_time_of_no_records_is_zero() -> None:
    assert wall_time([]) == 0


def test_group_stats_gives_the_exact_mean_p50_p95_of_every_metric() -> None:
    stats = group_stats("all", tenths_records())
    assert (stats.name, stats.images, stats.ok, stats.failed) == ("all", 10, 10, 0)
    assert [name for name, _ in METRICS] == list(stats.metrics)
    for name, value in stats.metrics.items():
        assert value is not None, name
        assert (value.mean, value.p50, value.p95, value.n) == (
            pytest.approx(0.55),
            pytest.approx(0.55),
            pytest.approx(0.955),
            10,
        ), name


def test_group_stats_rate_is_images_per_second_of_wall_time() -> None:
    stats = group_stats("all", tenths_records())
    assert stats.wall == pytest.approx(10.0)
    assert stats.rate == pytest.approx(1.0)
    resumed = [record("x", run="r2", start=50.0, end=55.0), record("y", run="r2", start=52.0, end=55.0)]
    stats = group_stats("all", tenths_records() + resumed)
    assert stats.wall == pytest.approx(15.0)
    assert stats.rate == pytest.approx(12 / 15)


def test_failed_records_are_counted_but_kept_out_of_the_timing_spreads() -> None:
    failures = [
        record(
            f"bad-{i}.jpg",
            ok=False,
            start=10.0,
            end=20.0,
            queue=9.0,
            inference=9.0,
            total=9.0,
            round_trip=30.0,
            transfer=21,
        )
        for i in range(2)
    ]
    stats = group_stats("all", tenths_records() + failures)
    assert (stats.images, stats.ok, stats.failed) == (12, 10, 2)
    assert stats.wall == pytest.approx(20.0)  # their time still counts
    assert stats.rate == pytest.approx(12 / 20)  # and so do they
    for name, value in stats.metrics.items():
        assert value is not None and value.n == 10, name
        assert value.mean == pytest.approx(0.55), name
        assert value.p95 == pytest.approx(0.955), name


def test_a_group_of_only_failures_has_no_timings() -> None:
    stats = group_stats("a:1", [record("bad.jpg", ok=False, round_trip=1.0)])
    assert (stats.images, stats.ok, stats.failed) == (1, 0, 1)
    assert stats.metrics == {name: None for name, _ in METRICS}


def test_an_empty_group_has_zero_wall_time_and_rate() -> None:
    stats = group_stats("b:1", [])
    assert (stats.images, stats.ok, stats.failed, stats.wall, stats.rate) == (0, 0, 0, 0.0, 0.0)


def test_summarize_gives_the_overall_row_then_one_row_per_node_in_the_given_order() -> None:
    records = tenths_records("a:1") + tenths_records("b:1")[:4] + tenths_records("zz:1")[:1] + tenths_records("c:1")[:2]
    rows = summarize(records, node_order=["b:1", "a:1"])
    assert [s.name for s in rows] == ["all", "b:1", "a:1", "c:1", "zz:1"]  # unlisted nodes sorted after
    assert [s.images for s in rows] == [17, 4, 10, 2, 1]
    a_row = rows[2].metrics["inference"]
    assert a_row is not None and a_row.mean == pytest.approx(0.55)


def test_summarize_without_an_order_sorts_the_nodes() -> None:
    records = tenths_records("b:1")[:1] + tenths_records("a:1")[:1]
    assert [s.name for s in summarize(records)] == ["all", "a:1", "b:1"]


def test_a_listed_node_without_records_still_gets_a_row_of_dashes() -> None:
    stats = summarize(tenths_records("a:1"), node_order=["a:1", "dead:1"])
    assert [s.name for s in stats] == ["all", "a:1", "dead:1"]
    dead = table_rows(stats)[2]
    assert dead == ["dead:1", "0", "0", "0", "-", "-"] + ["-"] * len(METRICS)


def test_records_without_a_node_are_grouped_together() -> None:
    stats = summarize([record("x.jpg", node=None), record("y.jpg", node=None)], node_order=["a:1"])
    assert [(s.name, s.images) for s in stats] == [("all", 2), ("a:1", 0), ("(no node)", 2)]


def test_a_local_only_run_has_only_the_overall_row() -> None:
    records = tenths_records("local")
    assert [s.name for s in summarize(records, node_order=["local"])] == ["all"]
    assert [s.name for s in summarize(records)] == ["all"]


def test_table_rows_print_counts_wall_rate_and_mean_p50_p95_in_ms() -> None:
    records = tenths_records() + [record("bad.jpg", ok=False, start=0.0, end=20.0)]
    rows = table_rows(summarize(records, node_order=["a:1"]))
    assert len(HEADERS) == 6 + len(METRICS)
    assert rows[0] == [
        "all",
        "11",
        "10",
        "1",
        "20.00",
        "0.55",
    ] + ["550/550/955"] * len(METRICS)
    assert rows[1][0] == "a:1"
    assert rows[1][1:] == rows[0][1:]


def test_format_table_has_a_header_a_separator_aligned_columns_and_a_footnote() -> None:
    records = tenths_records("a:1") + [record("bad.jpg", node="long-node-name:5000", ok=False, start=0.0, end=20.0)]
    stats = summarize(records, node_order=["a:1", "long-node-name:5000", "idle:1"])
    lines = format_table(stats).split("\n")
    cells = [HEADERS, *table_rows(stats)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    assert len(lines) == 1 + 1 + len(stats) + 1
    assert lines[0].split("  ")[0].rstrip() == "node"
    assert lines[1] == "  ".join("-" * w for w in widths)
    for line, row in zip([lines[0], *lines[2:-1]], cells, strict=True):
        assert len(line) == len(lines[1])  # every row as wide as the separator
        position = 0
        for i, (cell, width) in enumerate(zip(row, widths, strict=True)):
            field = line[position : position + width]
            assert field == (cell.ljust(width) if i == 0 else cell.rjust(width)), (row[0], HEADERS[i])
            position += width + 2
    assert lines[2].startswith("all ")
    assert lines[3].startswith("a:1 ")
    assert lines[4].startswith("long-node-name:5000  ")
    assert lines[5].startswith("idle:1 ") and lines[5].rstrip().endswith("-")
    assert lines[-1] == (
        "timings: mean/p50/p95 in ms over ok images; transfer = round-trip - server total; "
        "download: --fetch's downloads of the results"
    )


def test_format_table_right_aligns_a_number_under_a_wider_header() -> None:
    lines = format_table(summarize([record("x.jpg", start=0.0, end=2.0)])).split("\n")
    header, overall = lines[0], lines[2]
    images = header.index("images")
    assert header[images : images + 6] == "images"
    assert overall[images : images + 6] == "     1"
