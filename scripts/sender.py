#!/usr/bin/env python3
"""Send every image of a folder to detection nodes (or run them locally) and log one record per image.

Run from anywhere: `python scripts/sender.py FOLDER ...` or `python -m scripts.sender FOLDER ...`;
`--help` lists the options. The README section "Is offloading worth it?" shows the local-vs-remote workflow.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from scripts.sender_cli import default_label, parse_args  # noqa: E402
from scripts.sender_files import crawl  # noqa: E402
from scripts.sender_records import RecordLog, ok_files, repair_tail  # noqa: E402
from scripts.sender_summary import format_table, summarize  # noqa: E402


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def prepare(args: argparse.Namespace, images: list) -> Callable[[list, Callable[[dict], None]], None]:
    """Load the local model or set up the nodes, warm them up, and return the function that runs."""
    warm = images[: args.warmup]
    if args.local:
        from scripts.sender_local import LocalRunner

        runner = LocalRunner(args.model, args.output_dir, args.output, notify=_say)
        if warm:
            _say(f"warm-up: {len(warm)} images, not recorded")
            runner.warm(warm)
        return runner.run

    from scripts.sender_remote import Dispatcher, RemoteSettings

    settings = RemoteSettings(
        nodes=args.nodes, mode=args.mode, remote_root=args.remote_root, save_image=args.output,
        per_node=args.per_node, timeout=args.timeout, retries=args.retries, give_up=args.give_up,
        bandwidth_mbps=args.bandwidth,
    )
    dispatcher = Dispatcher(settings, notify=_say)
    if warm:
        _say(f"warm-up: {len(warm)} images on each node, not recorded")
        dispatcher.warm(warm)
    return dispatcher.run


def main(argv: list[str] | None = None) -> int:
    """Run the sender; returns the exit status (0 only if every image succeeded)."""
    args = parse_args(argv)
    now = datetime.now(timezone.utc)
    log_path = args.log or args.output_dir / f"sender-{now:%Y%m%d-%H%M%S}.jsonl"
    images = crawl(args.folder, args.limit, exclude=[args.output_dir])
    if not images:
        print(f"no images under {args.folder}", file=sys.stderr)
        return 1
    skipped = 0
    if args.resume:
        repair_tail(log_path)
        done = ok_files(log_path)
        todo = [i for i in images if i.rel not in done]
        skipped = len(images) - len(todo)
        images = todo
    where = "this process" if args.local else f"{len(args.nodes)} node(s) ({args.mode} mode)"
    _say(f"{len(images)} images to {where}; {skipped} already ok in the log; log: {log_path}")
    if not images:
        return 0

    run_fields = {
        "run": f"{now:%Y%m%dT%H%M%SZ}-{os.getpid()}",
        "label": args.label or default_label(args),
        "mode": "local" if args.local else args.mode,
        "per_node": 1 if args.local else args.per_node,
        "bandwidth_mbps": args.bandwidth,
    }
    log = RecordLog(log_path)
    records: list[dict] = []
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    bar = None

    def emit(record: dict) -> None:
        record = {**run_fields, **record}
        log.write(record)
        with lock:
            records.append(record)
            counts["ok" if record["ok"] else "failed"] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update(1)

    status = 0
    try:
        run = prepare(args, images)  # model load or node sessions, and the warm-up: not on the bar
        bar = tqdm(total=len(images), unit="img", disable=args.no_progress, dynamic_ncols=True)
        run(images, emit)
    except KeyboardInterrupt:
        status = 130
    finally:
        if bar is not None:
            bar.close()
        log.close()
    with lock:
        done = list(records)
    print(format_table(summarize(done, node_order=["local"] if args.local else args.nodes)))
    failed = [r for r in done if not r["ok"]]
    for r in failed[:20]:
        print(f"failed: {r['file']}: {r['error']}", file=sys.stderr)
    if len(failed) > 20:
        print(f"... and {len(failed) - 20} more failures (see {log_path})", file=sys.stderr)
    print(f"log: {log_path}", file=sys.stderr)
    if status:
        return status
    return 0 if not failed and len(done) == len(images) else 1


if __name__ == "__main__":
    sys.exit(main())
