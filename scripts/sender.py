#!/usr/bin/env python3
"""Send every image of a folder to detection nodes (or run them locally) and log one record per image.

    python scripts/sender.py FOLDER [--nodes HOST:PORT ...] [--mode upload] [--local] [--report DIR] ...

`--help` lists the options; docs/offloading.md shows the local-vs-remote workflow. Exit status 0 only
if every image succeeded.
"""

from __future__ import annotations

import sys

from client.cli import parse_args
from client.sender import run


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the sender; returns the exit status."""
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
