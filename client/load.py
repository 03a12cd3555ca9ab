"""Load test of one node: N concurrent clients mixing path and upload requests, plus the node's memory
(RSS of the gunicorn master and its workers) after a warm-up and after the measured phase."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from client.files import crawl
from client.http import DetectClient, attempt_record, path_request, upload_request
from client.records import Record, RecordLog
from measure.proc import find_master_pid, process_tree, rss_bytes
from measure.stats import percentile


@dataclass
class Job:
    """One planned request."""

    kind: str  # "path" or "upload"
    rel: str
    save_image: bool


@dataclass
class LoadReport:
    """The numbers of one load test."""

    url: str
    clients: int
    requests: int
    errors: int  # answers that are not results, 503 overloaded excepted
    shed: int  # 503 overloaded: the node was busy (its MAX_QUEUE was full)
    warmup_requests: int
    by_kind: dict[str, int]
    p50: float
    p95: float
    p99: float
    mean: float
    max: float
    seconds: float
    throughput: float  # requests per second over the measured phase
    master_pid: int | None = None
    pids_before: list[int] = field(default_factory=list)
    pids_after: list[int] = field(default_factory=list)
    rss_before: int | None = None  # bytes, after the warm-up
    rss_after: int | None = None
    rss_growth_pct: float | None = None
    error_samples: list[str] = field(default_factory=list)
    records: list[Record] = field(default_factory=list, repr=False)  # one per measured request


class LoadClient:
    """Sends jobs to one node through one DetectClient (a connection per concurrent client)."""

    def __init__(self, url: str, remote_root: str | None, timeout: float, bodies: dict[str, bytes], clients: int):
        self.url = url.rstrip("/")
        self.remote_root = remote_root
        self.bodies = bodies
        self.client = DetectClient(self.url, pool_size=clients, read_timeout=timeout)

    def send(self, job: Job) -> Record:
        """Run one job; its record says whether the node answered with a result."""
        if job.kind == "upload":
            data = self.bodies[job.rel]
            request = upload_request(data, Path(job.rel).name, job.save_image)
        else:
            given = f"{self.remote_root.rstrip('/')}/{job.rel}" if self.remote_root else job.rel
            request = path_request(given, job.save_image)
        attempt = self.client.send(request)
        record = attempt_record(attempt, file=job.rel, size=len(self.bodies[job.rel]), node=self.url)
        record.mode = job.kind
        if not record.ok:
            record.error = f"{job.kind} {job.rel}: {record.error}"
        return record


def plan(rels: list[str], count: int, upload_share: float, output_share: float, seed: int) -> list[Job]:
    """`count` jobs cycling over the images; kinds and `output` drawn with a fixed seed."""
    rng = random.Random(seed)
    return [
        Job("upload" if rng.random() < upload_share else "path", rels[i % len(rels)], rng.random() < output_share)
        for i in range(count)
    ]


def _run_phase(client: LoadClient, jobs: list[Job], clients: int) -> tuple[list[Record], float]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="client") as pool:
        records = list(pool.map(client.send, jobs))
    return records, time.perf_counter() - t0


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def run_load(
    url: str,
    folder: str | os.PathLike[str],
    clients: int = 16,
    requests_count: int = 500,
    warmup: int = 300,
    upload_share: float = 0.5,
    output_share: float = 0.25,
    remote_root: str | None = None,
    timeout: float = 60.0,
    pid: int | None = None,
    seed: int = 0,
) -> LoadReport:
    """Warm the node up, measure RSS, run the measured phase, measure RSS again; return the numbers."""
    images = crawl(folder)
    if not images:
        raise ValueError(f"no images under {folder}")
    rels = [image.rel for image in images]
    bodies = {image.rel: image.path.read_bytes() for image in images}  # uploads come from memory, not the disk
    client = LoadClient(url, remote_root, timeout, bodies, clients)
    if pid is None and _is_loopback(url):
        pid = find_master_pid(urlsplit(url).port or 80)
    try:
        if warmup:
            _run_phase(client, plan(rels, warmup, upload_share, output_share, seed + 1), clients)
        pids_before = process_tree(pid) if pid else []
        rss_before = rss_bytes(pids_before) if pid else None
        records, seconds = _run_phase(client, plan(rels, requests_count, upload_share, output_share, seed), clients)
        pids_after = process_tree(pid) if pid else []
        rss_after = rss_bytes(pids_after) if pid else None
    finally:
        client.client.close()

    latencies = [r.round_trip or 0.0 for r in records]
    failed = [r for r in records if not r.ok and not r.refused_busy]
    by_kind: dict[str, int] = {}
    for r in records:
        by_kind[r.mode] = by_kind.get(r.mode, 0) + 1
    growth = None
    if rss_before and rss_after is not None:
        growth = round((rss_after - rss_before) / rss_before * 100, 2)
    return LoadReport(
        url=url,
        clients=clients,
        requests=len(records),
        errors=len(failed),
        shed=sum(r.refused_busy for r in records),
        warmup_requests=warmup,
        by_kind=by_kind,
        p50=round(percentile(latencies, 50), 4),
        p95=round(percentile(latencies, 95), 4),
        p99=round(percentile(latencies, 99), 4),
        mean=round(statistics.fmean(latencies), 4),
        max=round(max(latencies), 4),
        seconds=round(seconds, 3),
        throughput=round(len(records) / seconds, 1),
        master_pid=pid,
        pids_before=pids_before,
        pids_after=pids_after,
        rss_before=rss_before,
        rss_after=rss_after,
        rss_growth_pct=growth,
        error_samples=[r.error or "" for r in failed[:10]],
        records=records,
    )


def format_report(report: LoadReport) -> str:
    """The report as a few human-readable lines."""
    mib = 1024 * 1024
    lines = [
        f"node        {report.url}  ({report.clients} clients, {report.warmup_requests} warm-up requests)",
        f"requests    {report.requests}  ({', '.join(f'{k} {v}' for k, v in sorted(report.by_kind.items()))})",
        f"errors      {report.errors}  (and {report.shed} refused with 503 overloaded: the node's queue was full)",
        f"latency     p50 {report.p50 * 1000:.1f} ms  p95 {report.p95 * 1000:.1f} ms  "
        f"p99 {report.p99 * 1000:.1f} ms  max {report.max * 1000:.1f} ms",
        f"throughput  {report.throughput:.1f} requests/s over {report.seconds:.1f} s",
    ]
    if report.rss_before is not None and report.rss_after is not None:
        lines.append(
            f"RSS         {report.rss_before / mib:.1f} MiB after warm-up -> {report.rss_after / mib:.1f} MiB "
            f"after the run ({report.rss_growth_pct:+.2f} %), master {report.master_pid}, "
            f"{len(report.pids_after)} processes"
        )
        if report.pids_before != report.pids_after:
            lines.append(
                f"warning     the node's processes changed during the run: {report.pids_before} -> "
                f"{report.pids_after} (a worker restarted?)"
            )
    else:
        lines.append("RSS         unknown (give --pid, or run on the node's host against a loopback URL)")
    lines.extend(f"error       {e}" for e in report.error_samples)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="load_test.py",
        description="Load test for one detection node: N concurrent clients mixing path and upload requests.",
        allow_abbrev=False,
    )
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
    loop = p.add_argument_group(
        "open loop",
        "with --rate, requests arrive at R per second (Poisson) whether or not earlier answers came back, "
        "instead of N clients each waiting for its answer",
    )
    loop.add_argument("--rate", type=float, metavar="R", help="offered requests per second (switches to open loop)")
    loop.add_argument("--duration", type=float, default=30.0, metavar="S", help="seconds of arrivals (30)")
    loop.add_argument("--max-in-flight", type=int, default=256, metavar="N", help="client threads at most (256)")
    loop.add_argument(
        "--probe-interval",
        type=float,
        default=0.1,
        metavar="S",
        help="GET /api/health every S seconds meanwhile and report its latency (0: no probe; 0.1)",
    )
    return p


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """scripts/load_test.py after parsing: check the options, run either mode, print and write the results."""
    if args.clients < 1 or args.requests < 1 or args.warmup < 0:
        parser.error("--clients and --requests must be >= 1, --warmup >= 0")
    if not 0 <= args.upload_share <= 1 or not 0 <= args.output_share <= 1:
        parser.error("--upload-share and --output-share are fractions between 0 and 1")
    if args.rate is not None and (args.rate <= 0 or args.duration <= 0 or args.max_in_flight < 1):
        parser.error("--rate and --duration must be > 0, --max-in-flight >= 1")
    if not args.images.is_dir():
        parser.error(f"{args.images} is not a folder")
    if args.rate is not None:
        from client.open_loop import format_open_loop, run_open_loop

        loop = run_open_loop(
            args.url,
            args.images,
            rate=args.rate,
            duration=args.duration,
            upload_share=args.upload_share,
            output_share=args.output_share,
            remote_root=args.remote_root,
            timeout=args.timeout,
            seed=args.seed,
            max_in_flight=args.max_in_flight,
            probe_interval=args.probe_interval or None,
        )
        print(format_open_loop(loop))
        _write_outputs(args, asdict(loop), loop.records, "open-loop load test")
        return 1 if loop.errors else 0
    report = run_load(
        args.url,
        args.images,
        clients=args.clients,
        requests_count=args.requests,
        warmup=args.warmup,
        upload_share=args.upload_share,
        output_share=args.output_share,
        remote_root=args.remote_root,
        timeout=args.timeout,
        pid=args.pid,
        seed=args.seed,
    )
    print(format_report(report))
    _write_outputs(args, asdict(report), report.records, "load test")
    if report.errors:
        return 1
    growth = report.rss_growth_pct
    if args.max_rss_growth is not None and (growth is None or growth > args.max_rss_growth):
        print(f"RSS growth {growth} % is over --max-rss-growth {args.max_rss_growth} %", file=sys.stderr)
        return 1
    return 0


def _write_outputs(args: argparse.Namespace, summary: dict[str, Any], records: list[Record], label: str) -> None:
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in summary.items() if k != "records"}, indent=2) + "\n")
    if args.log:
        log = RecordLog(args.log)
        for record in records:
            record.label = record.label or label
            log.write(record)
        log.close()
