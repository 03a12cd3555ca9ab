"""8. Overload: open-loop Poisson arrivals against a node with the default settings; capacity, 2x overload,
and the probes' latency while every inference slot is busy and while 64 slow uploads are arriving.

Capacity is the highest offered rate whose p95 latency stays within the latency objective (SLO_FACTOR x
the median time of one image sent alone) with at most MAX_SHED of the requests refused, searched over
fractions of the rate the node sustains with requests always waiting. Every run offers Poisson arrivals
(client/open_loop.py), so slow answers show up as latency and refusals, never as less load.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from bench.corpus import ImagesRoot, Photo
from bench.nodes import BenchNode
from bench.report import Figure, Section, table
from client.http import DetectClient
from client.open_loop import HealthProbe, OpenLoopReport, run_open_loop
from measure.stats import median, percentile

SLO_FACTOR = 4.0  # latency objective: p95 within 4x one image's time alone (3 images' worth of queueing)
MAX_SHED = 0.01  # and at most 1 % of the requests refused (Poisson bursts may overfill a short queue now and then)
FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1)  # of the saturated rate, tried for the capacity
SLOW_UPLOADS = 64


@dataclass
class OverloadPlan:
    """How long each open-loop run lasts, per model."""

    run_seconds: float = 15.0
    alone: int = 10  # images sent one at a time for the service time
    saturated: int = 30  # images with 4 in flight for the saturated rate


@dataclass
class OverloadResult:
    """Everything section 8 reports for one model."""

    alone_s: float = 0.0
    saturated_rate: float = 0.0
    slo_s: float = 0.0
    tries: list[tuple[float, OpenLoopReport]] = field(default_factory=list)
    capacity: float = 0.0
    at_08: OpenLoopReport | None = None
    at_2x: OpenLoopReport | None = None
    slow_uploads: OpenLoopReport | None = None
    slow_cut: int = 0  # slow uploads the node cut off with 408 during that run
    ready_p99: float | None = None  # /api/ready and /metrics latency (s) during the 2x run
    metrics_p99: float | None = None
    probe_failures: int = 0
    slow_ready_p99: float | None = None  # the same during the slow-upload run
    slow_metrics_p99: float | None = None


def _alone_and_saturated(
    node: BenchNode, root: ImagesRoot, photos: list[Photo], tag: str, plan: OverloadPlan
) -> tuple[float, float]:
    placed = root.place(f"{tag}/overload/alone", [Photo(f"{i:03d}-{p.name}", p.data) for i, p in enumerate(photos)])
    client = DetectClient(node.url, pool_size=4, read_timeout=300)
    try:
        times = []
        for i in range(plan.alone):
            attempt = client.detect_path(placed[i % len(placed)].rel)
            if not attempt.ok:
                raise RuntimeError(f"overload: {attempt.error}")
            times.append(attempt.round_trip)
        done = []
        lock = threading.Lock()
        todo = list(range(plan.saturated))

        def slot() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                attempt = client.detect_path(placed[i % len(placed)].rel)
                with lock:
                    done.append(attempt.ok)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=slot) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = sum(done) / (time.perf_counter() - t0)
    finally:
        client.close()
    return median(times), rate


class SlowUploads:
    """SLOW_UPLOADS connections that each sent an upload's headers and trickle a byte now and then; the ones
    the node cuts off (408) are replaced, so that many are always arriving."""

    def __init__(self, port: int, count: int = SLOW_UPLOADS):
        self.port, self.count = port, count
        self.cut = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        head = "POST /api/detect HTTP/1.1\r\nHost: n\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n"
        sock.sendall(head.encode())
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        socks = [self._open() for _ in range(self.count)]
        while not self._stop.wait(0.5):
            for i, sock in enumerate(socks):
                try:
                    if sock.recv(4096):  # the node answered (408): it is done with this one
                        raise ConnectionError
                except BlockingIOError:
                    try:
                        sock.send(b"\x00")
                        continue
                    except OSError:
                        pass
                except OSError:
                    pass
                self.cut += 1
                sock.close()
                socks[i] = self._open()
        for sock in socks:
            sock.close()

    def __enter__(self) -> SlowUploads:
        self._thread.start()
        time.sleep(1.0)  # all of them connected and sending
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def measure(node: BenchNode, root: ImagesRoot, photos: list[Photo], tag: str, plan: OverloadPlan) -> OverloadResult:
    """Capacity search, then 0.8x and 2x capacity, then 0.8x with 64 slow uploads arriving."""
    result = OverloadResult()
    folder = root.root / tag / "overload" / "open"
    root.place(f"{tag}/overload/open", [Photo(f"{i:03d}-{p.name}", p.data) for i, p in enumerate(photos)])
    result.alone_s, result.saturated_rate = _alone_and_saturated(node, root, photos, tag, plan)
    result.slo_s = SLO_FACTOR * result.alone_s

    def run(rate: float, seed: int) -> OpenLoopReport:
        time.sleep(1.0)  # the queue of the run before has drained
        return run_open_loop(
            node.url,
            folder,
            rate=rate,
            duration=plan.run_seconds,
            seed=seed,
            remote_root=f"{tag}/overload/open",
            timeout=300,
        )

    for k, fraction in enumerate(FRACTIONS):
        rate = fraction * result.saturated_rate
        report = run(rate, seed=k)
        result.tries.append((rate, report))
        if report.errors == 0 and report.shed <= MAX_SHED * report.sent and report.p95 <= result.slo_s:
            result.capacity = rate
        elif result.capacity:
            break  # past the knee
    capacity = result.capacity or FRACTIONS[0] * result.saturated_rate
    result.at_08 = run(0.8 * capacity, seed=100)
    # /api/ready (200, or 503 while saturated: an answer either way) and /metrics beside the run's /api/health.
    with (
        HealthProbe(node.url, 0.1, path="/api/ready", ok_statuses=(200, 503)) as ready,
        HealthProbe(node.url, 0.1, path="/metrics") as metrics,
    ):
        result.at_2x = run(2.0 * capacity, seed=200)
    result.ready_p99 = percentile(ready.answered, 99) if ready.answered else None
    result.metrics_p99 = percentile(metrics.answered, 99) if metrics.answered else None
    result.probe_failures = ready.failures + metrics.failures
    with (
        SlowUploads(node.port) as slow,
        HealthProbe(node.url, 0.1, path="/api/ready", ok_statuses=(200, 503)) as ready,
        HealthProbe(node.url, 0.1, path="/metrics") as metrics,
    ):
        result.slow_uploads = run(0.8 * capacity, seed=300)
    result.slow_cut = slow.cut
    result.slow_ready_p99 = percentile(ready.answered, 99) if ready.answered else None
    result.slow_metrics_p99 = percentile(metrics.answered, 99) if metrics.answered else None
    return result


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f}"


def report(section: Section, result: OverloadResult, key: str, label: str) -> None:
    """The capacity search, the overload figures and the probe latencies."""
    section.text(
        f"**{label}**, default settings. One image alone: {result.alone_s * 1000:.0f} ms (median); with 4 in "
        f"flight the node sustains {result.saturated_rate:.2f} images/s. Objective: p95 ≤ "
        f"{SLO_FACTOR:g} × one image alone = {result.slo_s * 1000:.0f} ms, with at most {MAX_SHED:.0%} shed."
    )
    runs = [(f"{rate:.2f}", r) for rate, r in result.tries]
    for name, r in (
        ("0.8 × capacity", result.at_08),
        ("2 × capacity", result.at_2x),
        (f"0.8 × capacity + {SLOW_UPLOADS} slow uploads", result.slow_uploads),
    ):
        if r is not None:
            runs.append((f"{name}: {r.rate:.2f}", r))
    rows = [
        [offered, r.sent, r.ok, r.shed, r.errors, f"{r.throughput:.2f}"]
        + [_ms(v) for v in (r.p50, r.p95, r.p99, r.shed_p95, r.health_p99)]
        for offered, r in runs
    ]
    section.text(
        table(
            [
                "offered /s",
                "sent",
                "ok",
                "shed (503)",
                "errors",
                "results/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "503 answered p95 ms",
                "health p99 ms",
            ],
            rows,
        )
    )
    section.add(
        Figure(
            key=f"overload.{key}.capacity",
            name=f"{label}: capacity (highest rate within the objective)",
            value=result.capacity or None,
            unit="images/s",
            note=""
            if result.capacity
            else f"no rate tried met the objective; the runs below used {FRACTIONS[0]:g} × the saturated rate",
        )
    )
    at08, at2 = result.at_08, result.at_2x
    if at08 is not None and at2 is not None:
        ratio = at2.p95 / at08.p95 if at08.p95 > 0 else None
        section.add(
            Figure(
                key=f"overload.{key}.p95_2x_vs_08",
                name=f"{label}: p95 of accepted requests at 2× capacity vs at 0.8× capacity",
                value=ratio,
                op="<=",
                limit=1.5,
            )
        )
        section.add(
            Figure(
                key=f"overload.{key}.shed_answer",
                name=f"{label}: time to answer a shed request at 2× capacity (p95)",
                value=at2.shed_p95 * 1000 if at2.shed else None,
                unit="ms",
                op="<=",
                limit=50.0,
                note="" if at2.shed else "nothing was shed",
            )
        )
        _probe_figures(
            section,
            key,
            label,
            "saturated",
            "at 2× capacity (every slot busy, requests queued)",
            [("/api/health", at2.health_p99), ("/api/ready", result.ready_p99), ("/metrics", result.metrics_p99)],
        )
        section.text(f"Probes that did not answer during the 2× run: {result.probe_failures + at2.health_failures}.")
    slow = result.slow_uploads
    if slow is not None:
        _probe_figures(
            section,
            key,
            label,
            "slow_uploads",
            f"with {SLOW_UPLOADS} slow uploads arriving (and 0.8× capacity)",
            [
                ("/api/health", slow.health_p99),
                ("/api/ready", result.slow_ready_p99),
                ("/metrics", result.slow_metrics_p99),
            ],
        )
        section.text(
            f"During the slow-upload run the node cut off {result.slow_cut} trickling uploads with 408 "
            "(each replaced at once, so 64 were always arriving)."
        )


def _probe_figures(
    section: Section, key: str, label: str, case: str, when: str, probes: list[tuple[str, float | None]]
) -> None:
    """One figure per probe: its p99 in ms, held to 100 ms (the probes' timeouts are 4 and 5 s)."""
    for probe, p99 in probes:
        name = "health" if probe == "/api/health" else probe.strip("/").replace("/", "_")
        section.add(
            Figure(
                key=f"overload.{key}.{name}_{case}",
                name=f"{label}: {probe} p99 {when}",
                value=None if p99 is None else p99 * 1000,
                unit="ms",
                op="<=",
                limit=100.0,
            )
        )
