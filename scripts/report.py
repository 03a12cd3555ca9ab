#!/usr/bin/env python3
"""Build an offloading report from sender record logs: report.md, self-contained report.html, PNG plots.

python scripts/report.py output/local.jsonl output/remote-2.jsonl --out report/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reporting.accuracy import DEFAULT_TRUTH_MIN_SCORE
from reporting.build import NoRecordsError, write_report


def main(argv: list[str] | None = None) -> int:
    """Read the logs and write report.md, report.html and the plots into --out."""
    parser = argparse.ArgumentParser(
        prog="report.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="record logs written by sender.py")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the report")
    parser.add_argument("--title", default="Offloading report", help="report title")
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument(
        "--reference", metavar="LABEL", help="score every run against this run (default: full-size local)"
    )
    truth.add_argument(
        "--ground-truth", type=Path, metavar="FILE", help="score every run against a COCO instances JSON"
    )
    parser.add_argument(
        "--truth-min-score",
        type=float,
        default=DEFAULT_TRUTH_MIN_SCORE,
        metavar="S",
        help=f"reference detections with at least this score are ground truth ({DEFAULT_TRUTH_MIN_SCORE})",
    )
    parser.add_argument(
        "--device-slowdown", type=float, metavar="K", help="also draw the break-even map for a device K times slower"
    )
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.logs + ([args.ground_truth] if args.ground_truth else []) if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    if args.device_slowdown is not None and not args.device_slowdown > 0:
        parser.error("--device-slowdown must be > 0")
    try:
        written = write_report(
            args.logs,
            args.out,
            args.title,
            reference=args.reference,
            ground_truth=args.ground_truth,
            truth_min_score=args.truth_min_score,
            slowdown=args.device_slowdown,
        )
    except (NoRecordsError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
