#!/usr/bin/env python3
"""Load test for one detection node: N concurrent clients mixing path and upload requests.

Reports requests, errors, latency percentiles, throughput and the node's memory (RSS of the gunicorn
master plus its workers) after a warm-up and after the measured phase. Exit status 1 on any error
(or when RSS grew more than --max-rss-growth percent).

    python scripts/load_test.py --url http://127.0.0.1:5000 --images ./images --clients 16 --requests 500
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a file: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from scripts.sender_files import crawl  # noqa: E402

CONNECT_TIMEOUT = 5.0
MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
        ".bmp": "image/bmp", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff"}


# --- the node's processes and memory ------------------------------------------------------------


def _ppid(pid: int) -> int | None:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    return int(stat_line.rsplit(")", 1)[1].split()[1])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a gunicorn master and its workers)."""
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        parent = _ppid(p)
        if parent is not None:
            children.setdefault(parent, []).append(p)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return sorted(tree)


def rss_bytes(pids: list[int]) -> int:
    """Sum of VmRSS over `pids` (processes that vanished count 0)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(inode)
    return inodes


def find_master_pid(port: int) -> int | None:
    """The PID of the process tree's root among the processes holding the listening socket on `port`."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    holders = set()
    for pid in _all_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    holders.add(pid)
                    break
            except OSError:
                continue
    # gunicorn workers inherit the socket from the master: the master is the holder whose parent is not one.
    roots = [pid for pid in holders if _ppid(pid) not in holders]
    return min(roots) if roots else None


# --- requests -----------------------------------------------------------------------------------


@dataclass
class Job:
    """One planned request."""

    kind: str  # "path" or "upload"
    rel: str
    save_image: bool


@dataclass
class Outcome:
    """What one request gave."""

    kind: str
    ok: bool
    latency: float
    status: int | None = None
    error: str | None = None


@dataclass
class LoadReport:
    """The numbers of one load test."""

    url: str
    clients: int
    requests: int
    errors: int
    warmup_requests: int
    by_kind: dict
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


class Client:
    """Sends jobs to one node; one requests.Session per thread (sessions are not thread-safe)."""

    def __init__(self, url: str, folder: Path, remote_root: str | None, timeout: float, bodies: dict[str, bytes]):
        self.url = url.rstrip("/") + "/api/detect"
        self.folder = folder
        self.remote_root = remote_root
        self.timeout = (CONNECT_TIMEOUT, timeout)
        self.bodies = bodies
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def send(self, job: Job) -> Outcome:
        """Run one job; any non-200 or exception is an error."""
        output = "1" if job.save_image else "0"
        t0 = time.perf_counter()
        try:
            if job.kind == "upload":
                mime = MIME.get(Path(job.rel).suffix.lower(), "application/octet-stream")
                response = self._session().post(
                    self.url, files={"image": (Path(job.rel).name, self.bodies[job.rel], mime)},
                    data={"output": output}, timeout=self.timeout)
            else:
                given = f"{self.remote_root.rstrip('/')}/{job.rel}" if self.remote_root else job.rel
                response = self._session().post(self.url, data={"input": given, "output": output},
                                                timeout=self.timeout)
            latency = time.perf_counter() - t0
            if response.status_code != 200:
                return Outcome(job.kind, False, latency, response.status_code,
                               f"{job.kind} {job.rel}: HTTP {response.status_code} {response.text[:200]}")
            if "timings" not in response.json():
                return Outcome(job.kind, False, latency, 200, f"{job.kind} {job.rel}: 200 without a result JSON")
            return Outcome(job.kind, True, latency, 200)
        except (requests.RequestException, ValueError) as exc:
            return Outcome(job.kind, False, time.perf_counter() - t0, None,
                           f"{job.kind} {job.rel}: {type(exc).__name__}: {str(exc)[:200]}")


def plan(rels: list[str], count: int, upload_share: float, output_share: float, seed: int) -> list[Job]:
    """`count` jobs cycling over the images; kinds and `output` drawn with a fixed seed."""
    rng = random.Random(seed)
    return [Job("upload" if rng.random() < upload_share else "path", rels[i % len(rels)], rng.random() < output_share)
            for i in range(count)]


def _run_phase(client: Client, jobs: list[Job], clients: int) -> tuple[list[Outcome], float]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="client") as pool:
        outcomes = list(pool.map(client.send, jobs))
    return outcomes, time.perf_counter() - t0


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    cuts = statistics.quantiles(sorted_values, n=100, method="inclusive")
    return cuts[int(pct) - 1]


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def run_load(
    url: str,
    folder: str | os.PathLike,
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
    client = Client(url, Path(folder), remote_root, timeout, bodies)
    if pid is None and _is_loopback(url):
        pid = find_master_pid(urlsplit(url).port or 80)

    if warmup:
        _run_phase(client, plan(rels, warmup, upload_share, output_share, seed + 1), clients)
    pids_before = process_tree(pid) if pid else []
    rss_before = rss_bytes(pids_before) if pid else None
    outcomes, seconds = _run_phase(client, plan(rels, requests_count, upload_share, output_share, seed), clients)
    pids_after = process_tree(pid) if pid else []
    rss_after = rss_bytes(pids_after) if pid else None

    latencies = sorted(o.latency for o in outcomes)
    failed = [o for o in outcomes if not o.ok]
    by_kind: dict[str, int] = {}
    for o in outcomes:
        by_kind[o.kind] = by_kind.get(o.kind, 0) + 1
    growth = None
    if rss_before and rss_after is not None:
        growth = round((rss_after - rss_before) / rss_before * 100, 2)
    return LoadReport(
        url=url, clients=clients, requests=len(outcomes), errors=len(failed), warmup_requests=warmup,
        by_kind=by_kind,
        p50=round(_percentile(latencies, 50), 4), p95=round(_percentile(latencies, 95), 4),
        p99=round(_percentile(latencies, 99), 4), mean=round(statistics.fmean(latencies), 4),
        max=round(latencies[-1], 4), seconds=round(seconds, 3), throughput=round(len(outcomes) / seconds, 1),
        master_pid=pid, pids_before=pids_before, pids_after=pids_after,
        rss_before=rss_before, rss_after=rss_after, rss_growth_pct=growth,
        error_samples=[o.error for o in failed[:10]],
    )


def format_report(report: LoadReport) -> str:
    """The report as a few human-readable lines."""
    mib = 1024 * 1024
    lines = [
        f"node        {report.url}  ({report.clients} clients, {report.warmup_requests} warm-up requests)",
        f"requests    {report.requests}  ({', '.join(f'{k} {v}' for k, v in sorted(report.by_kind.items()))})",
        f"errors      {report.errors}",
        f"latency     p50 {report.p50 * 1000:.1f} ms  p95 {report.p95 * 1000:.1f} ms  "
        f"p99 {report.p99 * 1000:.1f} ms  max {report.max * 1000:.1f} ms",
        f"throughput  {report.throughput:.1f} requests/s over {report.seconds:.1f} s",
    ]
    if report.rss_before is not None:
        lines.append(f"RSS         {report.rss_before / mib:.1f} MiB after warm-up -> {report.rss_after / mib:.1f} MiB "
                     f"after the run ({report.rss_growth_pct:+.2f} %), master {report.master_pid}, "
                     f"{len(report.pids_after)} processes")
        if report.pids_before != report.pids_after:
            lines.append(f"warning     the node's processes changed during the run: {report.pids_before} -> "
                         f"{report.pids_after} (a worker restarted?)")
    else:
        lines.append("RSS         unknown (give --pid, or run on the node's host against a loopback URL)")
    lines.extend(f"error       {e}" for e in report.error_samples)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="load_test.py", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--url", default="http://127.0.0.1:5000", help="the node (default http://127.0.0.1:5000)")
    p.add_argument("--images", required=True, type=Path, metavar="DIR",
                   help="images to send: uploads read them here; path requests name them relative to this folder")
    p.add_argument("--remote-root", metavar="DIR",
                   help="path requests: the node's path of --images (default: relative paths, i.e. --images "
                        "is the node's IMAGES_DIR)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    p.add_argument("--requests", type=int, default=500, help="measured requests (500)")
    p.add_argument("--warmup", type=int, default=300,
                   help="requests before measuring, not counted (300: a fresh node's allocator settles first)")
    p.add_argument("--upload-share", type=float, default=0.5, help="fraction of upload requests (0.5)")
    p.add_argument("--output-share", type=float, default=0.25, help="fraction asking for annotated images (0.25)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer (60)")
    p.add_argument("--pid", type=int, help="gunicorn master PID (default: found from the URL's port via /proc)")
    p.add_argument("--max-rss-growth", type=float, metavar="PCT", help="also fail if RSS grew more than PCT %%")
    p.add_argument("--seed", type=int, default=0, help="seed of the request mix (0)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    return p


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
    report = run_load(args.url, args.images, args.clients, args.requests, args.warmup, args.upload_share,
                      args.output_share, args.remote_root, args.timeout, args.pid, args.seed)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    if report.errors:
        return 1
    growth = report.rss_growth_pct
    if args.max_rss_growth is not None and (growth is None or growth > args.max_rss_growth):
        print(f"RSS growth {growth} % is over --max-rss-growth {args.max_rss_growth} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
