"""A sender run: crawl, resume, warm up, send (or run locally), log one record per image, summarise."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from client.cli import default_label, preprocess_of
from client.discovery import DiscoveryError, wait_for_nodes
from client.files import ImageFile, crawl
from client.records import LOCAL, Record, RecordLog, RunInfo, ok_files, repair_tail
from client.summary import format_table, summarize
from measure.sysinfo import load_average, machine, package_versions

Runner = Callable[[list[ImageFile], Callable[[Record], None]], None]
MAX_FAILURES_SHOWN = 20


def say(message: str) -> None:
    """A status line on stderr that does not tear the progress bar."""
    tqdm.write(message, file=sys.stderr)


def sender_machine() -> dict[str, Any]:
    """The machine the sender runs on (and, for --local, the one that runs the model)."""
    return {
        "node": socket.gethostname(),
        "machine": machine(),
        "versions": package_versions(),
        "load_at_start": load_average(),  # other work on the machine: a shared machine's timings are noisy
    }


def prepare(args: argparse.Namespace, images: list[ImageFile], info: RunInfo) -> Runner:
    """Load the local model or set up the nodes, warm them up, fill in the run's setup (`info`: the
    machines that run the model), and return the function that runs."""
    warm = images[: args.warmup]
    if args.local:
        from client.local import LocalRunner

        runner = LocalRunner(
            args.model,
            args.output_dir,
            args.output,
            notify=say,
            verbose=args.verbose,
            preprocess=preprocess_of(args),
            model_name=args.model_name,
        )
        info.sender = runner.info()
        if warm:
            say(f"warm-up: {len(warm)} images, not recorded")
            runner.warm(warm)
        return runner.run

    from client.remote import Dispatcher, RemoteSettings

    settings = RemoteSettings(
        nodes=args.nodes,
        mode=args.mode,
        remote_root=args.remote_root,
        save_image=args.output,
        per_node=args.per_node,
        model=args.model_name,
        timeout=args.timeout,
        retries=args.retries,
        give_up=args.give_up,
        bandwidth_mbps=args.bandwidth,
        fetch_dir=args.output_dir if args.fetch else None,
        rtt_ms=args.rtt,
        preprocess=preprocess_of(args),
    )
    dispatcher = Dispatcher(settings, notify=say)
    info.nodes = dispatcher.node_infos(timeout=min(10.0, args.timeout))
    if warm:
        say(f"warm-up: {len(warm)} images on each node, not recorded")
        dispatcher.warm(warm)
    return dispatcher.run


def _report(log_path: Path, out: Path) -> None:
    from reporting.build import write_report

    try:
        written = write_report([log_path], out)
    except Exception as exc:  # noqa: BLE001 - the run's own outcome stands; the report failing is reported
        say(f"report: failed: {type(exc).__name__}: {exc}")
        return
    say(f"report: {out / 'report.html'} ({len(written)} files)")


def run(args: argparse.Namespace) -> int:
    """Run the sender; returns the exit status (0 only if every image succeeded)."""
    now = datetime.now(UTC)
    log_path: Path = args.log or args.output_dir / f"sender-{now:%Y%m%d-%H%M%S}.jsonl"
    images = crawl(args.folder, args.limit, exclude=[args.output_dir])
    if not images:
        say(f"no images under {args.folder}")
        return 1
    if args.wait or args.discover:
        try:
            args.nodes = wait_for_nodes(args.nodes, args.discover, args.min_nodes, args.wait or 0.0, notify=say)
        except DiscoveryError as exc:
            say(f"no run: {exc}")
            return 1
        say(f"nodes: {' '.join(args.nodes)}")
    skipped = 0
    if args.resume:
        repair_tail(log_path)
        done = ok_files(log_path)
        todo = [i for i in images if i.rel not in done]
        skipped = len(images) - len(todo)
        images = todo
    where = "this process" if args.local else f"{len(args.nodes)} node(s) ({args.mode} mode)"
    say(f"{len(images)} images to {where}; {skipped} already ok in the log; log: {log_path}")
    if not images:
        if args.report:
            _report(log_path, args.report)
        return 0

    pre = preprocess_of(args)
    run_fields = {
        "run": f"{now:%Y%m%dT%H%M%SZ}-{os.getpid()}",
        "label": args.label or default_label(args),
        "mode": "local" if args.local else args.mode,
        "per_node": 1 if args.local else args.per_node,
        "bandwidth_mbps": args.bandwidth,
        "rtt_ms": args.rtt,
        "resize": pre.resize,
        "quality": pre.jpeg_quality if pre.active else None,
    }
    info = RunInfo(
        run_info=run_fields["run"],
        label=run_fields["label"],
        mode=run_fields["mode"],
        link={"bandwidth_mbps": args.bandwidth, "rtt_ms": args.rtt},
        preprocess={"resize": pre.resize, "quality": run_fields["quality"]},
        sender=sender_machine(),
    )
    log = RecordLog(log_path)
    records: list[Record] = []
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    bar: tqdm | None = None

    def emit(record: Record) -> None:
        for key, value in run_fields.items():
            setattr(record, key, value)
        log.write(record)
        with lock:
            records.append(record)
            counts["ok" if record.ok else "failed"] += 1
            if bar is not None:
                bar.set_postfix(counts, refresh=False)
                bar.update(1)

    status = 0
    try:
        runner = prepare(args, images, info)  # model load or node sessions, and the warm-up: not on the bar
        log.write_info(info)
        bar = tqdm(total=len(images), unit="img", disable=args.no_progress, dynamic_ncols=True)
        runner(images, emit)
    except KeyboardInterrupt:
        status = 130
    finally:
        if bar is not None:
            bar.close()
        log.close()
    with lock:
        done_records = list(records)
    print(format_table(summarize(done_records, node_order=[LOCAL] if args.local else args.nodes)))
    failed = [r for r in done_records if not r.ok]
    for r in failed[:MAX_FAILURES_SHOWN]:
        say(f"failed: {r.file}: {r.error}")
    if len(failed) > MAX_FAILURES_SHOWN:
        say(f"... and {len(failed) - MAX_FAILURES_SHOWN} more failures (see {log_path})")
    say(f"log: {log_path}")
    if args.report and status != 130:
        _report(log_path, args.report)
    if status:
        return status
    return 0 if not failed and len(done_records) == len(images) else 1
