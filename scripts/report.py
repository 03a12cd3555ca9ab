#!/usr/bin/env python3
"""Build an offloading report from sender record logs: report.md, self-contained report.html, PNG plots.

python scripts/report.py output/local.jsonl output/remote-2.jsonl --out report/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reporting.build import NoRecordsError, write_report


def main(argv: list[str] | None = None) -> int:
    """Read the logs and write report.md, report.html and the plots into --out."""
    parser = argparse.ArgumentParser(
        prog="report.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="record logs written by sender.py")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the report")
    parser.add_argument("--title", default="Offloading report", help="report title")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.logs if not p.is_file()]
    if missing:
        parser.error(f"no such log: {', '.join(missing)}")
    try:
        written = write_report(args.logs, args.out, args.title)
    except NoRecordsError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
