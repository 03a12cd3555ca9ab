"""One command for the offloading lab (behind scripts/sweep.py): a grid of sender runs, sizes x qualities x
bandwidths x round trips in upload mode against the given nodes, plus the full-size local reference,
then the report of all of them (with summary.json and the break-even map).

Runs go one after another in this process, through the sender's own command line (client.cli) and run
(client.sender), so each is exactly the run `scripts/sender.py` would make with the same options. They
are ordered setting by setting, the setting's run without an emulated link first, so that the runs the
what-if model is checked against were measured close in time to the ones it is calibrated on.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from client.cli import default_label, jpeg_quality, parse_args
from client.sender import run as sender_run

DEFAULT_SIZES = "full 320 128"
DEFAULT_QUALITIES = "none 50"
DEFAULT_BANDWIDTHS = "none 4 1"
DEFAULT_RTTS = "0 50"

EPILOG = f"""\
values: --sizes takes pixels or `full`; --qualities a JPEG quality or `none` (no --quality: the file as
it is at full size, JPEG q90 when resized); --bandwidths MB/s or `none`; --rtts milliseconds (0: none).
defaults: --sizes {DEFAULT_SIZES} --qualities {DEFAULT_QUALITIES}
  --bandwidths {DEFAULT_BANDWIDTHS} --rtts {DEFAULT_RTTS}

example:
  %(prog)s ../shared/images --nodes 127.0.0.1:5000 --model ../shared/models/openimages-style --out sweep/
"""


def _size(text: str) -> int | None:
    if text == "full":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a size is pixels >= 1 or `full`, not {text}")
    return value


def _quality(text: str) -> int | None:
    return None if text == "none" else jpeg_quality(text)


def _bandwidth(text: str) -> float | None:
    if text == "none":
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a bandwidth is MB/s > 0 or `none`, not {text}")
    return value


def _rtt(text: str) -> float | None:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"a round trip is milliseconds >= 0, not {text}")
    return value or None


@dataclass(frozen=True)
class Cell:
    """One remote run of the grid."""

    resize: int | None
    quality: int | None
    bandwidth: float | None
    rtt: float | None

    def options(self) -> list[str]:
        """The sender options of this cell."""
        out: list[str] = []
        for flag, value in (
            ("--resize", self.resize),
            ("--quality", self.quality),
            ("--bandwidth", self.bandwidth),
            ("--rtt", self.rtt),
        ):
            if value is not None:
                out += [flag, f"{value:g}"]
        return out


@dataclass
class Plan:
    """What the sweep runs."""

    folder: Path
    nodes: list[str]
    out: Path
    model: str | None = None
    sizes: list[int | None] = field(default_factory=lambda: [None])
    qualities: list[int | None] = field(default_factory=lambda: [None])
    bandwidths: list[float | None] = field(default_factory=lambda: [None])
    rtts: list[float | None] = field(default_factory=lambda: [None])
    per_node: int = 1
    warmup: int = 4
    limit: int | None = None
    local: bool = True

    def cells(self) -> list[Cell]:
        """Every remote run, setting by setting, the setting's run without an emulated link first."""
        links = sorted(
            set(itertools.product(self.bandwidths, self.rtts)),
            key=lambda link: (link != (None, None), -(link[0] or float("inf")), link[1] or 0.0),
        )
        settings = list(dict.fromkeys(itertools.product(self.sizes, self.qualities)))
        return [Cell(size, q, b, r) for size, q in settings for b, r in links]


def build_parser() -> argparse.ArgumentParser:
    """The sweep's options."""
    p = argparse.ArgumentParser(
        prog="sweep.py",
        description="Run the offloading lab: a grid of upload runs (sizes x qualities x bandwidths x round "
        "trips) against the given nodes plus the full-size local reference, then the report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("folder", type=Path, help="the images (e.g. ../shared/images)")
    p.add_argument("--nodes", nargs="+", required=True, metavar="ADDR", help="the nodes, as for sender.py")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="logs/ and the report go here")
    p.add_argument("--model", metavar="HANDLE", help="the local reference's model (default: MODEL_HANDLE)")
    p.add_argument("--sizes", nargs="+", type=_size, default=None, metavar="PX", help="longer sides, or `full`")
    p.add_argument("--qualities", nargs="+", type=_quality, default=None, metavar="Q", help="JPEG qualities, or `none`")
    p.add_argument("--bandwidths", nargs="+", type=_bandwidth, default=None, metavar="MBPS", help="uplinks, or `none`")
    p.add_argument("--rtts", nargs="+", type=_rtt, default=None, metavar="MS", help="round trips in ms (0: none)")
    p.add_argument("--per-node", type=int, default=1, metavar="K", help="requests in flight per node (1)")
    p.add_argument("--warmup", type=int, default=4, metavar="N", help="warm-up images, local and on the nodes (4)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    p.add_argument("--no-local", action="store_true", help="no local reference run")
    p.add_argument("--device-slowdown", type=float, metavar="K", help="report: also the map for a device K x slower")
    p.add_argument("--ground-truth", type=Path, metavar="FILE", help="report: score against a COCO instances JSON")
    p.add_argument("--title", default="Offloading lab: sweep report", help="the report's title")
    return p


def parse(argv: list[str] | None = None) -> tuple[Plan, argparse.Namespace]:
    """The plan and the report's options from the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    if args.per_node < 1 or args.warmup < 0 or (args.limit is not None and args.limit < 1):
        parser.error("--per-node and --limit must be >= 1, --warmup >= 0")
    if args.device_slowdown is not None and not args.device_slowdown > 0:
        parser.error("--device-slowdown must be > 0")

    def values(given: list | None, default: str, convert: Callable[[str], Any]) -> list:
        return given if given is not None else [convert(v) for v in default.split()]

    plan = Plan(
        folder=args.folder,
        nodes=args.nodes,
        out=args.out,
        model=args.model,
        sizes=list(dict.fromkeys(values(args.sizes, DEFAULT_SIZES, _size))),
        qualities=list(dict.fromkeys(values(args.qualities, DEFAULT_QUALITIES, _quality))),
        bandwidths=list(dict.fromkeys(values(args.bandwidths, DEFAULT_BANDWIDTHS, _bandwidth))),
        rtts=list(dict.fromkeys(values(args.rtts, DEFAULT_RTTS, _rtt))),
        per_node=args.per_node,
        warmup=args.warmup,
        limit=args.limit,
        local=not args.no_local,
    )
    return plan, args


def slug(label: str) -> str:
    """A file name for a run label."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_")


@dataclass
class RunDone:
    """One finished run of the sweep."""

    label: str
    log: Path
    status: int
    seconds: float


def _one(argv: list[str], logs: Path, notify: Callable[[str], None]) -> RunDone:
    args = parse_args(argv)
    label = default_label(args)
    args.label = label
    args.log = logs / f"{slug(label)}.jsonl"
    if args.log.exists():
        args.log.unlink()  # a sweep measures afresh
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the sender's summary table: the report has it all
        status = sender_run(args)
    done = RunDone(label, args.log, status, time.perf_counter() - t0)
    notify(f"{label}: {'ok' if status == 0 else f'exit status {status}'} in {done.seconds:.1f} s")
    return done


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def run(plan: Plan, notify: Callable[[str], None] = _say) -> list[RunDone]:
    """Every run of the plan, the local reference first; their logs go to OUT/logs/."""
    common = [str(plan.folder), "--no-progress", "--output-dir", str(plan.out / "sender-output")]
    if plan.limit:
        common += ["--limit", str(plan.limit)]
    done = []
    if plan.local:
        local = ["--local", *(["--model", plan.model] if plan.model else []), "--warmup", str(plan.warmup)]
        done.append(_one(common + local, plan.out / "logs", notify))
    for i, cell in enumerate(plan.cells()):
        remote = ["--mode", "upload", "--nodes", *plan.nodes, "--per-node", str(plan.per_node), *cell.options()]
        if i == 0 and plan.warmup:
            remote += ["--warmup", str(plan.warmup)]
        done.append(_one(common + remote, plan.out / "logs", notify))
    return done


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and write its report; 0 when every run succeeded and the report was written."""
    from reporting.build import write_report

    plan, args = parse(argv)
    plan.out.mkdir(parents=True, exist_ok=True)
    cells = plan.cells()
    print(f"sweep: {len(cells)} upload runs{' + the local reference' if plan.local else ''}", file=sys.stderr)
    t0 = time.perf_counter()
    done = run(plan)
    runs_seconds = time.perf_counter() - t0
    settings = {
        "folder": str(plan.folder),
        "nodes": plan.nodes,
        "sizes": plan.sizes,
        "qualities": plan.qualities,
        "bandwidths_mbps": plan.bandwidths,
        "rtts_ms": plan.rtts,
        "per_node": plan.per_node,
        "warmup": plan.warmup,
        "limit": plan.limit,
        "local_reference": plan.local,
    }
    preface = [
        f"Sweep (`scripts/sweep.py`): sizes {_list(plan.sizes, 'full')}, qualities {_list(plan.qualities, 'none')}, "
        f"bandwidths {_list(plan.bandwidths, 'none')} MB/s, round trips {_list(plan.rtts, '0')} ms, "
        f"{plan.per_node} request(s) in flight per node on {len(plan.nodes)} node(s): {len(cells)} upload runs"
        f"{' and the full-size local reference' if plan.local else ''}, {runs_seconds:.0f} s of runs."
    ]
    write_report(
        [d.log for d in done if d.log.exists()],
        plan.out,
        args.title,
        ground_truth=args.ground_truth,
        slowdown=args.device_slowdown,
        preface=preface,
    )
    total = time.perf_counter() - t0
    record = {
        "settings": settings,
        "runs": [asdict(d) | {"log": str(d.log.relative_to(plan.out))} for d in done],
        "runs_seconds": round(runs_seconds, 1),
        "total_seconds": round(total, 1),
    }
    (plan.out / "sweep.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"sweep: {len(done)} runs in {runs_seconds:.0f} s, report in {total - runs_seconds:.0f} s: {plan.out}")
    return 0 if all(d.status == 0 for d in done) else 1


def _list(values: list, none: str) -> str:
    return ", ".join(none if v is None else f"{v:g}" for v in values)
