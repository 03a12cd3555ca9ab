#!/usr/bin/env python3
"""Load test for one detection node: N concurrent clients mixing path and upload requests.

Reports requests, errors, latency percentiles, throughput and the node's memory (RSS of the gunicorn
master plus its workers) after a warm-up and after the measured phase. Exit status 1 on any error
(or when RSS grew more than --max-rss-growth percent).

    python scripts/load_test.py --url http://127.0.0.1:5000 --images ./images --clients 16 --requests 500
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from client.load import build_parser, format_report, run_load
from client.records import RecordLog


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
