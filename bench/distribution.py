"""3. Distribution: the sender (scripts/sender.py, shared queue, K in flight per node) over nodes with a
known service time, against the old contiguous-split, one-at-a-time design (bench/contiguous_baseline.py).

The nodes run the production command (gunicorn.conf.py) serving harness/sleep_app.py: the real app and
pipeline with a model that only sleeps, and THREADS=1, so each node's capacity is one request per
service time and the figures measure how well the sender keeps the nodes busy, not the model.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.contiguous_baseline import send_contiguous
from bench.corpus import jpeg, synthetic_photo
from bench.models import REPO
from bench.nodes import BenchNode, NodeSet
from bench.report import Figure, Section, table
from client.records import Record, read_records
from measure.stats import median, ratio_text

SENDER = REPO / "scripts" / "sender.py"
SLEEP_APP = "harness.sleep_app:app"


@dataclass
class DistPlan:
    """Sizes of the distribution benchmark."""

    service_s: float = 0.1  # the fast nodes' sleep per image
    slow_factor: float = 3.0
    nodes: int = 4  # equal nodes; the mixed case uses nodes - 1 fast ones plus one slow one
    per_node: int = 2  # the sender's --per-node K
    jobs_single: int = 40  # jobs for the single-node capacity runs (slow node: half)
    jobs_per_node: int = 40  # equal case: jobs per node
    jobs_mixed: int = 240
    reps: int = 1


@dataclass
class DistResult:
    """Makespans (s) per run name, one per repetition, and the job counts."""

    makespan: dict[str, list[float]] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)


def _folder(root: Path, name: str, count: int, image: bytes) -> list[Path]:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img_{i:04d}.jpg"
        path.write_bytes(image)
        paths.append(path)
    return paths


def _makespan(records: list[Record], expected: int) -> float:
    bad = [r for r in records if not r.ok]
    if bad or len(records) != expected:
        raise RuntimeError(f"{len(bad)} failed of {len(records)} records (expected {expected}): {bad[:2]}")
    return max(r.finished_at for r in records) - min(r.started_at for r in records)


def run_sender(folder: Path, addresses: list[str], per_node: int, log: Path) -> list[Record]:
    """Run scripts/sender.py (its CLI, as a user does) in path mode and return its records."""
    cmd = [
        sys.executable,
        str(SENDER),
        str(folder),
        "--nodes",
        *addresses,
        "--per-node",
        str(per_node),
        "--log",
        str(log),
        "--no-progress",
        "--output-dir",
        str(log.parent),
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"sender exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return read_records(log)


def start(nodes: NodeSet, work: Path, plan: DistPlan) -> dict[str, BenchNode]:
    """Launch the sleeping nodes (without waiting for them)."""
    base = {"IMAGES_DIR": str(work / "images"), "OUTPUT_DIR": str(work / "output"), "THREADS": "1", "WORKERS": "1"}
    started = {}
    for i in range(plan.nodes):
        env = {**base, "SLEEP_SECONDS": str(plan.service_s)}
        started[f"sleep-fast-{i}"] = nodes.start(f"sleep-fast-{i}", env, app=SLEEP_APP)
    env = {**base, "SLEEP_SECONDS": str(plan.service_s * plan.slow_factor)}
    started["sleep-slow"] = nodes.start("sleep-slow", env, app=SLEEP_APP)
    return started


def measure(nodes: NodeSet, started: dict[str, BenchNode], work: Path, plan: DistPlan) -> DistResult:
    """Wait for the nodes, interleave new-sender and old-sender runs, stop the nodes."""
    result = DistResult()
    images = work / "images"
    for node in started.values():
        node.wait_ready()
    fast = [started[f"sleep-fast-{i}"] for i in range(plan.nodes)]
    slow = started["sleep-slow"]
    tiny = jpeg(synthetic_photo(7, (48, 32)))
    mixed = fast[: plan.nodes - 1] + [slow]
    runs = {
        "single_fast": ([fast[0]], plan.jobs_single, "new"),
        "single_slow": ([slow], max(4, plan.jobs_single // 2), "new"),
        "single_fast_old": ([fast[0]], plan.jobs_single, "old"),
        "equal_new": (fast, plan.jobs_per_node * plan.nodes, "new"),
        "equal_old": (fast, plan.jobs_per_node * plan.nodes, "old"),
        "mixed_new": (mixed, plan.jobs_mixed, "new"),
        "mixed_old": (mixed, plan.jobs_mixed, "old"),
    }
    try:
        for rep in range(plan.reps):
            names = list(runs) if rep % 2 == 0 else list(reversed(runs))
            for name in names:
                targets, jobs, kind = runs[name]
                folder = images / f"{name}-{rep}"
                paths = _folder(images, f"{name}-{rep}", jobs, tiny)
                time.sleep(0.2)
                if kind == "new":
                    records = run_sender(
                        folder, [f"127.0.0.1:{n.port}" for n in targets], plan.per_node, work / f"{name}-{rep}.jsonl"
                    )
                else:
                    records = send_contiguous([n.url for n in targets], paths)
                result.makespan.setdefault(name, []).append(_makespan(records, jobs))
                result.jobs[name] = jobs
    finally:
        for node in list(started.values()):
            nodes.stop(node)
    return result


def report(section: Section, result: DistResult, plan: DistPlan) -> None:
    """The two figures with targets, the same for the old design, and the raw runs."""
    thr = {name: [result.jobs[name] / m for m in spans] for name, spans in result.makespan.items()}
    n = plan.nodes
    single = median(thr["single_fast"])
    slow_single = median(thr["single_slow"])
    equal_new = [t / (n * single) for t in thr["equal_new"]]
    equal_old = [t / (n * single) for t in thr["equal_old"]]
    ideal = result.jobs["mixed_new"] / ((n - 1) * single + slow_single)
    mixed_new = [m / ideal for m in result.makespan["mixed_new"]]
    mixed_old = [m / ideal for m in result.makespan["mixed_old"]]
    reps = len(result.makespan["equal_new"])
    section.add(
        Figure(
            key="distribution.equal",
            name=f"{n} equal nodes: throughput vs {n} × one node (sender, K={plan.per_node})",
            value=median(equal_new),
            op=">=",
            limit=0.95,
            detail=ratio_text(equal_new),
        )
    )
    section.add(
        Figure(
            key="distribution.mixed",
            name=f"one node {plan.slow_factor:g}× slower: makespan vs ideal (sender)",
            value=median(mixed_new),
            op="<=",
            limit=1.10,
            detail=ratio_text(mixed_new),
        )
    )
    section.add(
        Figure(
            key="distribution.equal_old",
            name=f"baseline, old contiguous one-at-a-time sender: {n} equal nodes vs {n} × one node",
            value=median(equal_old),
            detail=ratio_text(equal_old),
        )
    )
    section.add(
        Figure(
            key="distribution.mixed_old",
            name="baseline, old sender: one slow node, makespan vs ideal",
            value=median(mixed_old),
            detail=ratio_text(mixed_old),
        )
    )
    section.text(
        f"Nodes: `gunicorn -c gunicorn.conf.py harness.sleep_app:app` with `THREADS=1`: the real app and pipeline "
        f"with a test-only model that sleeps {plan.service_s * 1000:.0f} ms per image (the slow node "
        f"{plan.service_s * plan.slow_factor * 1000:.0f} ms) and no TensorFlow; "
        f"tiny 48×32 JPEGs, path mode, output=0. New design: `scripts/sender.py --per-node {plan.per_node}` "
        "(one shared queue), run as a user runs it; makespan = last answer − first request, from its log. "
        "Old design: `bench/contiguous_baseline.py`. One node's capacity is measured with the sender on that node "
        f"alone; ideal makespan with one slow node = jobs / ({n - 1} × fast capacity + slow capacity) "
        f"= {ideal:.2f} s. {reps} repetition(s), interleaved."
    )
    rows = []
    for name, spans in result.makespan.items():
        rows.append([name, result.jobs[name], f"{median(spans):.2f}", f"{median(thr[name]):.2f}"])
    section.text(table(["run", "jobs", "makespan (s, median)", "images/s"], rows))
