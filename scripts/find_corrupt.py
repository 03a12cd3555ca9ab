#!/usr/bin/env python3
"""List the images under FOLDER that a node would refuse (422): every pixel is decoded, with the same
code the nodes use. Prints only the problems, one per line (`path: reason`); exit 1 if there are any.

    python scripts/find_corrupt.py images/ [--quarantine broken/]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.corrupt import quarantine, scan
from detector import DetectionSettings


def main(argv: list[str] | None = None) -> int:
    """Scan the folder; returns 1 if any image is corrupt, 0 if none."""
    parser = argparse.ArgumentParser(
        prog="find_corrupt.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder to scan recursively")
    parser.add_argument(
        "--quarantine",
        type=Path,
        metavar="DIR",
        help="move each corrupt image here, keeping its path relative to FOLDER",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help="refuse larger images, like a node (default: MAX_IMAGE_PIXELS or 50000000)",
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    # The nodes' limit: MAX_IMAGE_PIXELS from the environment, read the way a node reads it.
    max_pixels = args.max_pixels or DetectionSettings.from_env().max_image_pixels
    found = 0
    exclude = [args.quarantine] if args.quarantine else []
    for problem in scan(args.folder, max_pixels, exclude):
        found += 1
        line = f"{problem.path}: {problem.reason}"
        if args.quarantine:
            line += f" -> moved to {quarantine(problem, args.quarantine)}"
        print(line, flush=True)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
