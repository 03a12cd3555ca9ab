"""Open-loop load: requests arrive at R per second (Poisson arrivals) whether or not earlier answers came
back, so a slow node shows up as long latencies and refusals, not as a lower load. A health probe can
sample /api/health meanwhile."""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from client.files import crawl
from client.http import DetectClient, attempt_record, path_request, upload_request
from client.records import Record
from measure.stats import percentile

LATE_SECONDS = 0.05  # a request sent this much after its arrival time counts as late (the client fell behind)


def poisson_arrivals(rate: float, duration: float, seed: int = 0) -> list[float]:
    """Arrival times (seconds from the start) of a Poisson process of `rate` per second over `duration`."""
    rng = random.Random(seed)
    times, t = [], rng.expovariate(rate)
    while t < duration:
        times.append(t)
        t += rng.expovariate(rate)
    return times


class HealthProbe:
    """GET a probe (/api/health by default) every `interval` seconds in a thread, keeping each answer's
    latency (None: no answer in `timeout`, or a status not in `ok_statuses`)."""

    def __init__(
        self,
        url: str,
        interval: float = 0.1,
        timeout: float = 5.0,
        path: str = "/api/health",
        ok_statuses: tuple[int, ...] = (200,),
    ):
        self.url = url.rstrip("/") + path
        self.interval = interval
        self.timeout = timeout
        self.ok_statuses = ok_statuses
        self.latencies: list[float | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 1)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = session.get(self.url, timeout=self.timeout).status_code in self.ok_statuses
                    self.latencies.append(time.perf_counter() - t0 if ok else None)
                except requests.RequestException:
                    self.latencies.append(None)
                self._stop.wait(max(0.0, self.interval - (time.perf_counter() - t0)))

    @property
    def answered(self) -> list[float]:
        """Latencies of the probes answered with one of `ok_statuses`."""
        return [v for v in self.latencies if v is not None]

    @property
    def failures(self) -> int:
        """Probes that timed out or answered another status."""
        return sum(v is None for v in self.latencies)


@dataclass
class OpenLoopReport:
    """The numbers of one open-loop run (seconds unless named otherwise)."""

    url: str
    rate: float  # offered requests per second
    duration: float
    sent: int
    ok: int
    shed: int  # answered 503 overloaded
    errors: int  # anything else that is not a result
    late: int  # sent more than LATE_SECONDS after their arrival time
    throughput: float  # results per second over the run (first arrival to last answer)
    p50: float  # latency of the ok answers
    p95: float
    p99: float
    shed_p95: float  # how long a refused request waited for its 503
    shed_max: float
    health_p50: float | None = None
    health_p99: float | None = None
    health_max: float | None = None
    health_failures: int = 0
    error_samples: list[str] = field(default_factory=list)
    records: list[Record] = field(default_factory=list, repr=False)


def run_open_loop(
    url: str,
    folder: str | os.PathLike[str],
    rate: float,
    duration: float,
    upload_share: float = 0.0,
    output_share: float = 0.0,
    remote_root: str | None = None,
    timeout: float = 60.0,
    seed: int = 0,
    max_in_flight: int = 256,
    probe_interval: float | None = 0.1,
) -> OpenLoopReport:
    """Send requests at Poisson arrival times for `duration` seconds and wait for every answer."""
    images = crawl(folder)
    if not images:
        raise ValueError(f"no images under {folder}")
    bodies = {image.rel: image.path.read_bytes() for image in images}
    rng = random.Random(seed + 1)
    arrivals = poisson_arrivals(rate, duration, seed)
    jobs = [
        (images[i % len(images)].rel, rng.random() < upload_share, rng.random() < output_share)
        for i in range(len(arrivals))
    ]
    client = DetectClient(url, pool_size=max_in_flight, read_timeout=timeout)
    records: list[Record] = []
    late = 0
    lock = threading.Lock()

    def send(rel: str, upload: bool, save: bool) -> None:
        if upload:
            request = upload_request(bodies[rel], Path(rel).name, save)
        else:
            request = path_request(f"{remote_root.rstrip('/')}/{rel}" if remote_root else rel, save)
        record = attempt_record(client.send(request), file=rel, size=len(bodies[rel]), node=url)
        record.mode = "upload" if upload else "path"
        with lock:
            records.append(record)

    probe = HealthProbe(url, probe_interval) if probe_interval else None
    try:
        if probe is not None:
            probe.__enter__()
        with ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="arrival") as pool:
            start = time.perf_counter()
            for at, job in zip(arrivals, jobs, strict=True):
                delay = start + at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif -delay > LATE_SECONDS:
                    late += 1
                pool.submit(send, *job)
        wall = time.perf_counter() - start
    finally:
        if probe is not None:
            probe.__exit__()
        client.close()
    return _report(url, rate, duration, records, late, wall, probe)


def _report(
    url: str, rate: float, duration: float, records: list[Record], late: int, wall: float, probe: HealthProbe | None
) -> OpenLoopReport:
    ok = [r.round_trip or 0.0 for r in records if r.ok]
    shed = [r.round_trip or 0.0 for r in records if r.refused_busy]
    errors = [r for r in records if not r.ok and not r.refused_busy]
    health = probe.answered if probe is not None else []
    return OpenLoopReport(
        url=url,
        rate=rate,
        duration=duration,
        sent=len(records),
        ok=len(ok),
        shed=len(shed),
        errors=len(errors),
        late=late,
        throughput=len(ok) / wall if wall > 0 else 0.0,
        p50=percentile(ok, 50),
        p95=percentile(ok, 95),
        p99=percentile(ok, 99),
        shed_p95=percentile(shed, 95),
        shed_max=max(shed, default=0.0),
        health_p50=percentile(health, 50) if health else None,
        health_p99=percentile(health, 99) if health else None,
        health_max=max(health) if health else None,
        health_failures=probe.failures if probe is not None else 0,
        error_samples=[r.error or "" for r in errors[:10]],
        records=records,
    )


def format_open_loop(report: OpenLoopReport) -> str:
    """The report as a few human-readable lines."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f} ms"

    lines = [
        f"node        {report.url}  (open loop: {report.rate:g} requests/s offered for {report.duration:g} s)",
        f"requests    {report.sent} sent ({report.late} late), {report.ok} ok, {report.shed} shed (503), "
        f"{report.errors} errors",
        f"latency     ok: p50 {ms(report.p50)}  p95 {ms(report.p95)}  p99 {ms(report.p99)}",
        f"shed        answered in p95 {ms(report.shed_p95)}, max {ms(report.shed_max)}",
        f"throughput  {report.throughput:.2f} results/s",
    ]
    if report.health_p99 is not None:
        lines.append(
            f"health      p50 {ms(report.health_p50)}  p99 {ms(report.health_p99)}  max {ms(report.health_max)}"
            f"  ({report.health_failures} probes failed)"
        )
    lines.extend(f"error       {e}" for e in report.error_samples)
    return "\n".join(lines)
