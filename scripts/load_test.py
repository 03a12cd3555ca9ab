#!/usr/bin/env python3
"""Load test for one detection node: N concurrent clients mixing path and upload requests.

Reports requests, errors, latency percentiles, throughput and the node's memory (RSS of the gunicorn
master plus its workers) after a warm-up and after the measured phase. Exit status 1 on any error
(or when RSS grew more than --max-rss-growth percent).

    python scripts/load_test.py --url http://127.0.0.1:5000 --images ./images --clients 16 --requests 500
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from client.load import format_report, run_load
from client.records import RecordLog


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="load_test.py", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--url", default="http://127.0.0.1:5000", help="the node (default http://127.0.0.1:5000)")
    p.add_argument(
        "--images",
        required=True,
        type=Path,
        metavar="DIR",
        help="images to send: uploads read them here; path requests name them relative to this folder",
    )
    p.add_argument(
        "--remote-root",
        metavar="DIR",
        help="path requests: the node's path of --images (default: relative paths, i.e. --images "
        "is the node's IMAGES_DIR)",
    )
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    p.add_argument("--requests", type=int, default=500, help="measured requests (500)")
    p.add_argument(
        "--warmup",
        type=int,
        default=300,
        help="requests before measuring, not counted (300: a fresh node's allocator settles first)",
    )
    p.add_argument("--upload-share", type=float, default=0.5, help="fraction of upload requests (0.5)")
    p.add_argument("--output-share", type=float, default=0.25, help="fraction asking for annotated images (0.25)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer (60)")
    p.add_argument("--pid", type=int, help="gunicorn master PID (default: found from the URL's port via /proc)")
    p.add_argument("--max-rss-growth", type=float, metavar="PCT", help="also fail if RSS grew more than PCT %%")
    p.add_argument("--seed", type=int, default=0, help="seed of the request mix (0)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--log", type=Path, metavar="FILE", help="also write one record per measured request (JSON lines)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 only without errors (and within --max-rss-growth)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1 or args.warmup < 0:
        parser.error("--clients and --requests must be >= 1, --warmup >= 0")
    if not 0 <= args.upload_share <= 1 or not 0 <= args.output_share <= 1:
        parser.error("--upload-share and --output-share are fractions between 0 and 1")
    if not args.images.is_dir():
        parser.error(f"{args.images} is not a folder")
    report = run_load(
        args.url,
        args.images,
        args.clients,
        args.requests,
        args.warmup,
        args.upload_share,
        args.output_share,
        args.remote_root,
        args.timeout,
        args.pid,
        args.seed,
    )
    print(format_report(report))
    if args.json:
        summary = {k: v for k, v in asdict(report).items() if k != "records"}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if args.log:
        log = RecordLog(args.log)
        for record in report.records:
            record.label = record.label or "load test"
            log.write(record)
        log.close()
    if report.errors:
        return 1
    growth = report.rss_growth_pct
    if args.max_rss_growth is not None and (growth is None or growth > args.max_rss_growth):
        print(f"RSS growth {growth} % is over --max-rss-growth {args.max_rss_growth} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
