#!/usr/bin/env python3
"""Run the offloading lab in one command: a grid of sender runs (sizes x qualities x bandwidths x round
trips, upload mode, against the given nodes) plus the full-size local reference, then the report.

    python scripts/sweep.py ../shared/images --nodes 127.0.0.1:5000 \
        --model ../shared/models/openimages-style --out sweep/

`--help` lists the options; docs/offloading.md describes the lab. Exit status 0 when every run succeeded.
"""

from __future__ import annotations

import sys

from client.sweep import main as sweep_main


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the sweep and write its report; returns the exit status."""
    return sweep_main(argv)


if __name__ == "__main__":
    sys.exit(main())
