#!/usr/bin/env python3
"""Download a TF Hub / Kaggle detector once and check that it loads, so nodes can start without the internet.

    python scripts/fetch_model.py HANDLE --dest DIR        # plain SavedModel folder at DIR; nodes use MODEL_HANDLE=DIR
    python scripts/fetch_model.py HANDLE [--cache-dir DIR] # fill the TF Hub cache (TFHUB_CACHE_DIR); nodes keep
                                                           # MODEL_HANDLE=HANDLE and read it from the same cache

HANDLE is a TF Hub URL, a Kaggle model URL or handle (owner/model/framework/variation/version), or a
local SavedModel folder. Exit status 0 when it loads; otherwise one line on stderr says what went wrong
and what to do, and the status is 1 (2 for a bad command line).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import traceback
from pathlib import Path

from detector.fetch import FetchError, run
from detector.quiet import log_to_stderr, quiet_tensorflow, wants_verbose
from detector.settings import ConfigError, DetectionSettings


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="fetch_model.py",
        description="Download a TF Hub / Kaggle detector once and check that it loads.",
        epilog="Example: python scripts/fetch_model.py "
        "https://tfhub.dev/google/faster_rcnn/openimages_v4/inception_resnet_v2/1 --dest models/frcnn",
    )
    parser.add_argument("handle", help="TF Hub URL, Kaggle model URL or handle, or local SavedModel folder")
    parser.add_argument("--dest", type=Path, help="put a plain SavedModel folder here (nodes: MODEL_HANDLE=DEST)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="TF Hub cache to fill when --dest is not given (default: $TFHUB_CACHE_DIR)",
    )
    parser.add_argument("--force", action="store_true", help="replace a non-empty --dest")
    parser.add_argument("--no-check", action="store_true", help="skip loading and warming up the model")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a network read may stall before giving up (default 60)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's native log lines (also with LOG_LEVEL=debug) and the traceback of a failure",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Fetch and check; prints one summary line, or one error line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        settings = DetectionSettings.from_env()
    except ConfigError as exc:
        print(f"fetch_model: error: {exc}", file=sys.stderr)
        return 2
    quiet_tensorflow(wants_verbose(args.verbose, settings.log_level))  # before TensorFlow is imported
    log_to_stderr("fetch_model")  # which source served the model, download progress
    env_cache = os.environ.get("TFHUB_CACHE_DIR")
    cache_dir = args.cache_dir or (Path(env_cache) if env_cache else None)
    # tensorflow_hub calls urlopen without a timeout; a stalled connection must not hang a build forever.
    socket.setdefaulttimeout(args.timeout)
    if sys.stderr.isatty():
        os.environ.setdefault("TFHUB_DOWNLOAD_PROGRESS", "1")
    t0 = time.perf_counter()
    try:
        result = run(args.handle, args.dest, cache_dir, args.force, not args.no_check, settings.tfhub_host_list)
    except FetchError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"fetch_model: error: {exc}", file=sys.stderr)
        return 1
    print(result.summary(cache_dir, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
