"""The offloading report as a document: runs, summaries, plots, the verdict and the failures;
written as report.md, a self-contained report.html and PNG plots (the library behind scripts/report.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from client.summary import HEADERS, table_rows
from reporting.data import Series, load_series
from reporting.plots import make_plots
from reporting.render import Doc, to_html, to_markdown
from reporting.verdict import TIE, Comparison, compare_all, sentences

VERDICT_HEADERS = [
    "remote run",
    "images",
    "local ms/img",
    "remote ms/img",
    "faster per image",
    "local img/s",
    "remote img/s",
    "faster overall",
    "S kB",
    "T_server ms",
    "L ms",
    "break-even MB/s",
]

FORMULA = """\
T_remote(B) = S / B + T_server + L        (offload one image over an uplink of B bytes/s)
T_local                                   (run it on the device)
offloading pays  <=>  S / B < T_local - T_server - L
break-even       B* = S / (T_local - T_server - L)     (never, if T_server + L >= T_local)"""


def verdict_row(c: Comparison) -> list[str]:
    """The verdict table row; the test reads these exact cells back."""
    even = "never" if c.break_even is None else f"{c.break_even / 1e6:.3f}"
    return [
        c.remote,
        str(c.images),
        f"{c.local_time * 1000:.1f}",
        f"{c.remote_time * 1000:.1f}",
        c.faster_per_image,
        f"{c.local_rate:.2f}",
        f"{c.remote_rate:.2f}",
        c.faster_overall,
        f"{c.size / 1000:.1f}",
        f"{c.server_time * 1000:.1f}",
        f"{c.latency * 1000:.1f}",
        even,
    ]


def bottom_line(comparisons: list[Comparison]) -> str:
    """One sentence: the quickest way per image and the quickest overall, over all runs compared."""
    c0 = comparisons[0]
    per_image = min([(c0.local_time, c0.local)] + [(c.remote_time, c.remote) for c in comparisons])
    overall = max([(c0.local_rate, c0.local)] + [(c.remote_rate, c.remote) for c in comparisons])
    return (
        f"**Bottom line:** quickest per image: `{per_image[1]}` ({per_image[0] * 1000:.1f} ms); "
        f"most images per second: `{overall[1]}` ({overall[0]:.2f} images/s). Runs less than "
        f"{TIE:.0%} apart are called level: repeated runs on one machine differ by more than that."
    )


def _run_row(s: Series) -> list[str]:
    hosts = sorted({r.host for r in s.records if r.host})
    per_node = sorted({str(r.per_node) for r in s.records if r.per_node})
    return [
        s.name,
        s.path.name,
        s.mode,
        ", ".join(s.nodes) if not s.is_local else "local",
        "/".join(per_node) or "-",
        f"{s.bandwidth_mbps:g} MB/s" if s.bandwidth_mbps else "-",
        str(s.overall.images),
        str(s.overall.ok),
        str(s.overall.failed),
        ", ".join(hosts) or "-",
    ]


def build(series: list[Series], out: Path, title: str) -> Doc:
    """Write the plots into `out` and return the report document."""
    plots = make_plots(series, out)
    comparisons = compare_all(series)
    doc = Doc()
    doc.h(1, title)
    doc.p(
        f"Built by `scripts/report.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from "
        f"{len(series)} record logs of `scripts/sender.py`. Times are per image; the local run is the edge "
        "device doing the work itself, remote runs send the images to detection nodes."
    )
    doc.table(
        ["run", "log", "mode", "nodes", "per node", "bandwidth", "images", "ok", "failed", "host(s)"],
        [_run_row(s) for s in series],
    )

    doc.h(2, "Summary")
    doc.p(
        "Images/s = images handled (ok or failed) / wall time (first request sent to last answer, summed "
        "over resumed runs; per node: that node's own busy span). Timing cells are mean/p50/p95 in ms over "
        "the ok images. Transfer = round-trip - server total: the network and serialisation share "
        "(for a local run: the time outside the detector's own timer). Download = the time --fetch took to "
        "download the result files after the answer; it counts on the transfer side of the verdict."
    )
    for s in series:
        doc.h(3, s.name)
        doc.table(HEADERS, table_rows(s.stats))

    doc.h(2, "Time per stage")
    doc.img(plots["stages"], "time per stage")
    doc.h(2, "Throughput over time, per node")
    doc.img(plots["throughput"], "throughput over time")
    doc.h(2, "Local vs remote, per image")
    doc.img(plots["local_vs_remote"], "local vs remote per-image time")

    doc.h(2, "Offloading verdict")
    if not comparisons:
        doc.p("No verdict: it needs the log of a `--local` run and of at least one remote run with ok images.")
    else:
        local = comparisons[0].local
        doc.p(
            f"Each remote run against the local run `{local}`. Per-image times are means over the images "
            "both runs processed; images/s are of each whole run."
        )
        doc.p(bottom_line(comparisons))
        doc.table(VERDICT_HEADERS, [verdict_row(c) for c in comparisons])
        for c in comparisons:
            doc.h(3, f"{c.remote} vs {c.local}")
            doc.ul(sentences(c))
        doc.h(3, "How the break-even bandwidth is computed")
        doc.code(FORMULA)
        doc.ul(
            [
                "S: mean size of the images (bytes on disk, what an upload sends).",
                "T_local: mean per-image time of the local run (read + decode + inference + outputs).",
                "T_server: mean server total time of the remote run (the node's own timer).",
                "L: measured latency, the mean of transfer + download - upload time, where transfer = round-trip "
                "- server total, download is --fetch's download of the result files (0 without it), and the "
                "upload time is the request body / the --bandwidth throttle (0 without a throttle, "
                "which leaves the fast local upload inside L and makes B* slightly pessimistic). When several "
                "uploads share the throttled link (several nodes), the wait for the link ends up in L too.",
                "A remote run in path mode uploads nothing, so its round-trip is T_server + L: it shows what a "
                "link of unlimited bandwidth would give, and B* says how slow a real uplink may be before "
                "that advantage is gone.",
                "The rates compare whole runs: several nodes work in parallel, so a remote run can win overall "
                "while each image takes longer; S x R_local is the uplink needed to keep that up.",
            ]
        )
    failed = [(s.name, r) for s in series for r in s.records if not r.ok]
    if failed:
        doc.h(2, "Failed images")
        doc.table(
            ["run", "file", "node", "error"],
            [[name, r.file, r.node or "-", (r.error or "")[:200]] for name, r in failed[:100]],
        )
        if len(failed) > 100:
            doc.p(f"... and {len(failed) - 100} more (see the logs).")
    return doc


class NoRecordsError(ValueError):
    """None of the logs holds a record."""


def write_report(logs: list[Path], out: Path, title: str = "Offloading report") -> list[Path]:
    """Read the logs and write report.md, report.html and the plots into `out`; the files written."""
    series = load_series(logs)
    if not series:
        raise NoRecordsError("no records in the given logs")
    out.mkdir(parents=True, exist_ok=True)
    doc = build(series, out, title)
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (out / "report.html").write_text(to_html(doc, title), encoding="utf-8")
    return [out / name for name in ("report.md", "report.html", "stages.png", "throughput.png", "local_vs_remote.png")]
