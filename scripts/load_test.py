#!/usr/bin/env python3
"""Load test for one detection node: N concurrent clients mixing path and upload requests, or (with --rate)
open-loop Poisson arrivals at R requests per second.

Reports requests, errors, latency percentiles, throughput and the node's memory (RSS of the gunicorn
master plus its workers) after a warm-up and after the measured phase; in open loop, the refused (503)
requests and /api/health's latency too. Exit status 1 on any error (or when RSS grew more than
--max-rss-growth percent).

    python scripts/load_test.py --url http://127.0.0.1:5000 --images ./images --clients 16 --requests 500
    python scripts/load_test.py --url http://127.0.0.1:5000 --images ./images --rate 20 --duration 30
"""

from __future__ import annotations

import sys

from client.load import build_parser, run_command


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 only without errors (and within --max-rss-growth)."""
    parser = build_parser()
    return run_command(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
