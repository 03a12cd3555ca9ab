"""The offloading report as a document: runs, summaries, plots, the verdict and the failures;
written as report.md, a self-contained report.html and PNG plots (the library behind scripts/report.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from client.records import MB
from client.summary import HEADERS, table_rows
from reporting.accuracy import DEFAULT_TRUTH_MIN_SCORE, fmt
from reporting.data import Series, load_series
from reporting.lab import Lab, RunResult, analyse, link_text, link_words, local_prediction, setting_text, summary
from reporting.plots import accuracy_vs_latency, breakeven_map, make_plots
from reporting.render import Doc, to_html, to_markdown
from reporting.verdict import TIE, Comparison, compare_all, sentences
from reporting.whatif import break_even_bandwidth

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
        s.model or "-",
        ", ".join(s.nodes) if not s.is_local else "local",
        "/".join(per_node) or "-",
        f"{s.bandwidth_mbps:g} MB/s" if s.bandwidth_mbps else "-",
        str(s.overall.images),
        str(s.overall.ok),
        str(s.overall.failed),
        ", ".join(hosts) or "-",
    ]


def _machine_cells(info: dict[str, Any]) -> list[str]:
    """CPU, cores, memory, TensorFlow device, GPU, TensorFlow and Python versions from an /api/info answer
    (or the sender's own description of itself)."""
    if not info or "error" in info:
        return ["-"] * 7 if not info else [f"unknown ({info['error'][:60]})"] + ["-"] * 6
    m = info.get("machine") or {}
    tf = info.get("tensorflow") or {}
    versions = info.get("versions") or {}
    cores = f"{m.get('cores_usable')}/{m.get('cores')}" if m.get("cores") else "-"
    memory = f"{m['memory_gib']:.1f} GiB" if m.get("memory_gib") else "-"
    return [
        str(m.get("cpu") or "-"),
        cores,
        memory,
        str(tf.get("device") or "-"),
        ", ".join(tf.get("gpus") or []) or "none",
        str(tf.get("version") or versions.get("tensorflow") or "-"),
        str(versions.get("python") or "-"),
    ]


SETUP_HEADERS = [
    "run",
    "model ran on",
    "CPU",
    "cores usable/all",
    "memory",
    "TF device",
    "GPU",
    "TensorFlow",
    "Python",
    "sender machine",
    "emulated link",
    "edge sends",
]


def setup_rows(series: list[Series]) -> list[list[str]]:
    """One row per run and machine that ran its model: the hardware and software, the link, the edge's
    preprocessing; from the run-info lines the sender wrote (`-` for logs that have none)."""
    rows = []
    for s in series:
        infos = list(s.infos.values())
        sender = infos[-1].sender if infos else {}
        sm = sender.get("machine") or {}
        load = f", load {sender['load_at_start']}" if sender.get("load_at_start") else ""
        sender_cell = f"{sender.get('node', '-')} ({sm.get('cpu', '-')}, {sm.get('cores_usable', '-')} cores{load})"
        sends = setting_text(s).split(" at ", 1)[-1] if s.mode != "path" else "a path"
        link = link_text(s)
        where = ["local"] if s.is_local else s.nodes
        for node in where:
            info: dict[str, Any] = {}
            for run_info in infos:
                info = run_info.machine_of(node) or info
            host = info.get("node") if isinstance(info.get("node"), str) else None
            name = f"{host} (in the sender)" if s.is_local and host else (f"{node} ({host})" if host else node)
            rows.append([s.name, name, *_machine_cells(info), sender_cell if infos else "-", link, sends])
    return rows


def lab_sentence(run: RunResult, lab: Lab) -> str | None:
    """ "upload at 320 px, q75 over 1 MB/s: 38.0 ms faster per image than local, mAP@0.5 0.91 of the reference"."""
    s = run.series
    local = lab.local
    if s.is_local or run.per_image is None or local is None or local.per_image is None:
        return None
    diff = (run.per_image.mean - local.per_image.mean) * 1000
    gap = abs(run.per_image.mean - local.per_image.mean) / max(run.per_image.mean, local.per_image.mean)
    speed = (
        "level with local per image"
        if gap < TIE
        else f"{abs(diff):.1f} ms {'slower' if diff > 0 else 'faster'} per image than local"
    )
    acc = run.accuracy
    if acc is None:
        quality = "not scored"
    elif lab.truth is not None and lab.truth.min_score is not None:
        quality = f"mAP@0.5 {acc.map50:.2f} of the reference"
    else:
        base = local.accuracy
        quality = f"mAP@0.5 {acc.map50:.2f} on the ground truth" + (f" (local {base.map50:.2f})" if base else "")
    return f"**{setting_text(s)} {link_words(s)}**: {speed}, {quality} (`{s.name}`)."


ACCURACY_HEADERS = [
    "run",
    "sends",
    "link",
    "images",
    "objects",
    "mAP@0.5",
    "mAP@[.5:.95]",
    "recall@0.5",
    "kB/img",
    "ms/img",
]


def accuracy_rows(lab: Lab) -> list[list[str]]:
    """The accuracy table: every run, its score, bytes and time."""
    rows = []
    for run in lab.runs:
        a = run.accuracy
        rows.append(
            [
                run.name,
                setting_text(run.series),
                link_text(run.series),
                str(a.images) if a else "-",
                str(a.objects) if a else "-",
                fmt(a.map50 if a else None),
                fmt(a.map if a else None),
                fmt(a.recall if a else None),
                f"{run.bytes_sent_mean / 1000:.1f}" if not run.series.is_local else "-",
                f"{run.per_image.mean * 1000:.1f}" if run.per_image else "-",
            ]
        )
    return rows


VALIDATION_HEADERS = [
    "run",
    "link",
    "measured ms/img",
    "predicted ms/img",
    "error",
    "error, own node times",
    "measured img/s",
    "predicted img/s",
    "calibrated on",
]


def validation_rows(lab: Lab) -> list[list[str]]:
    """The what-if model against every emulated run."""
    rows = []
    for run in lab.runs:
        v = run.validation
        if v is None:
            continue
        source = v.calibrated_from
        rows.append(
            [
                run.name,
                link_text(run.series),
                f"{v.measured * 1000:.1f}",
                f"{v.predicted.mean * 1000:.1f}",
                f"{v.error * 100:+.1f} %",
                f"{v.link_error * 100:+.1f} %",
                f"{v.measured_rate:.2f}",
                f"{v.predicted.rate:.2f}",
                source,
            ]
        )
    return rows


BREAK_EVEN_RTTS_MS = (1, 10, 50, 200)


def break_even_rows(lab: Lab, slowdown: float) -> list[list[str]]:
    """Per setting: the uplink above which offloading one image beats the device, at a few round trips."""
    local = local_prediction(lab, slowdown)
    if local is None:
        return []
    rows = []
    for profile, base in lab.profiles:
        cells = [profile.name, f"{profile.mean_wire / 1000:.1f}", f"{profile.fixed(slowdown) * 1000:.1f}"]
        for rtt in BREAK_EVEN_RTTS_MS:
            b = break_even_bandwidth(profile, local.mean, rtt / 1000, slowdown) if profile.concurrency == 1 else None
            cells.append("never" if b is None else f"{b / MB:.3f}")
        acc = base.accuracy
        rows.append(cells + [fmt(acc.map50 if acc else None)])
    return rows


def lab_sections(doc: Doc, lab: Lab, out: Path) -> list[Path]:
    """The accuracy, what-if and break-even sections; returns the plots written."""
    written = [accuracy_vs_latency(lab, out / "accuracy.png")]
    doc.h(2, "Accuracy")
    doc.p(lab.truth_note)
    doc.p(
        "mAP@0.5 and mAP@[.5:.95] are COCO's average precision (pycocotools' COCOeval, boxes in the reference "
        "image's pixels); recall@0.5 is the share of reference objects found at IoU 0.5 (up to 100 detections "
        "per image), averaged over categories. A run scored against itself gives 1.000. kB/img is what the "
        "edge sent; ms/img is encode + round trip (local: the whole in-process call)."
    )
    doc.table(ACCURACY_HEADERS, accuracy_rows(lab))
    doc.img(written[0], "latency against accuracy")

    doc.h(2, "What-if: where offloading pays")
    local = local_prediction(lab)
    if local is None or not lab.profiles:
        doc.p("No what-if: it needs a local run and at least one remote run with ok images.")
        return written
    doc.p(
        f"From the measured runs, the model (`reporting/whatif.py`) predicts the time per image and the images "
        f"per second of offloading for any uplink bandwidth B and round trip L: T_i = k e_i + S_i / B + L + "
        f"s_i + o_i per image, with each image's own encode time e_i, bytes S_i, node time s_i and remaining "
        f"overhead o_i, and the shared uplink as a queue when several requests are in flight. The local "
        f"device: `{lab.local.name if lab.local else '-'}`, {local.mean * 1000:.1f} ms per image, "
        f"{local.rate:.2f} images/s."
    )
    rows = validation_rows(lab)
    if rows:
        errors = [abs(r.validation.error) for r in lab.runs if r.validation is not None]
        link = [abs(r.validation.link_error) for r in lab.runs if r.validation is not None]
        doc.p(
            f"**Validation.** Each run over an emulated link, predicted from the other runs of its setting "
            f"(their samples, each run's own link taken out) and measured: mean |error| "
            f"{sum(errors) / len(errors) * 100:.1f} %, largest {max(errors) * 100:.1f} %, within 10 % for "
            f"{sum(e <= 0.10 for e in errors)} of {len(errors)} runs (target: at most 10 % on the mean time per "
            f"image). With each run's own encode and node times (the link model alone: S / B + L and an "
            f"overhead that does not change with the link), mean |error| {sum(link) / len(link) * 100:.1f} %, "
            f"largest {max(link) * 100:.1f} %; the difference is the node's run-to-run drift, large on a "
            "machine shared with other work."
        )
        doc.table(VALIDATION_HEADERS, rows)
    else:
        doc.p("**Validation:** no run went over an emulated link (`--bandwidth`, `--rtt`), so none checks the model.")
    if all(profile.concurrency == 1 for profile, _ in lab.profiles):
        doc.p(
            "Every setting was measured with one request in flight, and the local device also works on one "
            "image at a time, so both maps below are the same: the time per image decides the throughput too. "
            "With several nodes or `--per-node K` the right map shows where the nodes' parallelism pays even "
            "when each image takes longer."
        )
    maps = [(1.0, out / "breakeven.png")]
    if lab.slowdown and lab.slowdown != 1.0:
        maps.append((lab.slowdown, out / "breakeven-slowdown.png"))
    for k, dest in maps:
        title = "Break-even map" if k == 1.0 else f"What-if: a device {k:g}x slower"
        doc.h(3, title)
        path = breakeven_map(lab, dest, k)
        if path is not None:
            written.append(path)
            doc.img(path, title)
        doc.p(
            "Break-even uplink (MB/s) per setting, one request in flight: offloading one image beats "
            + ("the device" if k == 1.0 else f"a device {k:g}x slower than the measured one (a what-if)")
            + " on a faster link; `never`: the node time and the round trip alone already take as long."
        )
        doc.table(
            ["setting", "kB/img", "fixed ms"] + [f"B* at {t} ms" for t in BREAK_EVEN_RTTS_MS] + ["mAP@0.5"],
            break_even_rows(lab, k),
        )
    doc.ul(
        [
            "Left map: the option quickest per image at each (B, L); right map: the one with the most images per "
            "second. Grey is the local device. Each setting's line, in its colour, is its break-even (it beats the "
            "device below and right of the line); the dotted black line is the best setting's.",
            "What the emulation and the model leave out: packet loss, jitter, TCP slow start and congestion "
            "control, the downlink, and a node whose time changes with the load other clients put on it.",
            "On one machine the nodes and the local run share the CPU, so the node is never faster than the "
            "device; `--device-slowdown K` draws the map for a device K times slower, and a local log from "
            "the real device replaces the what-if with a measurement.",
        ]
    )
    return written


def build(series: list[Series], out: Path, title: str, lab: Lab | None = None, preface: list[str] | None = None) -> Doc:
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
    for line in preface or []:
        doc.p(line)
    doc.table(
        ["run", "log", "mode", "model", "nodes", "per node", "bandwidth", "images", "ok", "failed", "host(s)"],
        [_run_row(s) for s in series],
    )
    doc.h(2, "Experimental setup")
    doc.p(
        "The machine that ran the model in each run (a node's `GET /api/info` as the run started; for a local "
        "run, the sender's own machine), the sender's machine with its load average as the run started (other "
        "work on the machine makes timings noisy), the emulated link and what the edge sent. "
        "Logs written before the sender recorded this show `-`."
    )
    doc.table(SETUP_HEADERS, setup_rows(series))

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

    if lab is not None:
        lab_sections(doc, lab, out)

    doc.h(2, "Offloading verdict")
    said = [line for line in (lab_sentence(r, lab) for r in lab.runs) if line] if lab is not None else []
    if said:
        doc.p("Each remote run against the local run, per image and in accuracy:")
        doc.ul(said)
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
                "S: mean bytes an upload sends (after --resize/--quality; for path mode the files on disk).",
                "T_local: mean per-image time of the local run (read + decode + inference + outputs).",
                "T_server: mean server total time of the remote run (the node's own timer).",
                "L: measured latency plus the edge's own work on the image, the mean of encode + transfer + "
                "download - upload time, where encode is the edge's preprocessing (--resize, --quality; 0 "
                "without), transfer = round-trip - server total, download is --fetch's download of the result "
                "files (0 without it), and the upload time is the request body / the --bandwidth throttle (0 "
                "without a throttle, "
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


def write_report(
    logs: list[Path],
    out: Path,
    title: str = "Offloading report",
    *,
    reference: str | None = None,
    ground_truth: Path | None = None,
    truth_min_score: float = DEFAULT_TRUTH_MIN_SCORE,
    slowdown: float | None = None,
    preface: list[str] | None = None,
) -> list[Path]:
    """Read the logs and write report.md, report.html, summary.json and the plots into `out`; the files written.

    `reference` (a run's label) or `ground_truth` (a COCO instances file) is what every run is scored
    against (default: the full-size local run); `slowdown` adds the break-even map of a device that many
    times slower; `preface` paragraphs go under the title.
    """
    series = load_series(logs)
    if not series:
        raise NoRecordsError("no records in the given logs")
    lab = analyse(series, reference, ground_truth, truth_min_score, slowdown)
    out.mkdir(parents=True, exist_ok=True)
    doc = build(series, out, title, lab, preface)
    (out / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (out / "report.html").write_text(to_html(doc, title), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary(lab), indent=1) + "\n", encoding="utf-8")
    plots = [block[1] for block in doc.blocks if block[0] == "img"]
    return [out / "report.md", out / "report.html", out / "summary.json", *plots]
