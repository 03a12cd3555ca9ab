"""7. Workers, inference concurrency, threads and TensorFlow thread pools on this machine: throughput of
each configuration.

All configurations' nodes are started together, then measured in interleaved rounds, path mode,
output=0, each burst with `in_flight` requests at once (a sender's --per-node). INFERENCE_CONCURRENCY
is how many images one worker runs through the model at once; THREADS only bounds how many requests a
worker handles at once (reading, decoding, waiting for the model, writing). Every burst opens fresh
keep-alive connections, as a new sender run does: which gunicorn worker accepts a connection is up to
the workers' race for it, and that choice then holds for the connection's life, so for WORKERS > 1 the
node log is read to count how many workers served each burst.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from bench.client import Client
from bench.corpus import ImagesRoot, Photo
from bench.nodes import BenchNode, NodeSet
from bench.report import Figure, Section, table
from measure.stats import median, ratio_text

PAUSE = 0.1


@dataclass(frozen=True)
class Config:
    """One node configuration (the environment variables of app/config.py)."""

    workers: int
    concurrency: int  # INFERENCE_CONCURRENCY
    per_worker: int = 4  # requests in flight per worker (the sender's --per-node over all workers)
    threads: int = 0  # THREADS; 0 = the default
    intra: int = 0  # TF_INTRA_OP_THREADS; 0 = TensorFlow's default (all cores)
    inter: int = 0

    @property
    def name(self) -> str:
        """E.g. `WORKERS=2 INFERENCE_CONCURRENCY=1 TF_INTRA_OP_THREADS=1`."""
        text = f"WORKERS={self.workers} INFERENCE_CONCURRENCY={self.concurrency}"
        if self.threads:
            text += f" THREADS={self.threads}"
        if self.intra:
            text += f" TF_INTRA_OP_THREADS={self.intra}"
        if self.inter:
            text += f" TF_INTER_OP_THREADS={self.inter}"
        return text

    @property
    def in_flight(self) -> int:
        """Requests kept in flight."""
        return self.workers * self.per_worker

    def env(self) -> dict[str, str]:
        """Its environment variables."""
        env = {
            "WORKERS": str(self.workers),
            "INFERENCE_CONCURRENCY": str(self.concurrency),
            "TF_INTRA_OP_THREADS": str(self.intra),
            "TF_INTER_OP_THREADS": str(self.inter),
            # This section measures throughput, not shedding: room for every request it keeps in flight.
            "MAX_QUEUE": str(max(2, self.per_worker)),
        }
        if self.threads:
            env["THREADS"] = str(self.threads)
        return env


DEFAULT = Config(1, 2)  # app/config.py today: INFERENCE_CONCURRENCY=2


@dataclass
class ConfigResult:
    """Per configuration: images/s and median latency per round; memory after warm-up and at the end."""

    throughput: dict[Config, list[float]] = field(default_factory=dict)
    latency: dict[Config, list[float]] = field(default_factory=dict)
    memory: dict[Config, dict] = field(default_factory=dict)
    memory_end: dict[Config, dict] = field(default_factory=dict)
    workers_used: dict[Config, list[int]] = field(default_factory=dict)  # per round, WORKERS > 1 only


def start(nodes: NodeSet, base_env: dict[str, str], configs: list[Config], tag: str) -> dict[Config, BenchNode]:
    """Launch one node per configuration (without waiting for them)."""
    return {c: nodes.start(f"{tag}-cfg{i}", {**base_env, **c.env()}) for i, c in enumerate(configs)}


def measure(
    nodes: NodeSet,
    by_config: dict[Config, BenchNode],
    root: ImagesRoot,
    photos: list[Photo],
    tag: str,
    rounds: int,
    per_slot: int,
) -> ConfigResult:
    """Wait for the nodes, then interleave bursts of `per_slot` × in_flight requests; stop the nodes."""
    result = ConfigResult()
    configs = list(by_config)
    folders: dict[Config, list[str]] = {c: [] for c in configs}
    try:
        for node in by_config.values():
            node.wait_ready()
        for c, node in by_config.items():
            # Every worker warmed its model at start; one burst per node before the timed ones.
            warm = root.place(f"{tag}/configs/warm-{_slug(c)}", photos[:2])
            _burst(node, c, warm * c.in_flight)
            result.memory[c] = node.memory()
        for r in range(rounds):
            order = configs[r % len(configs) :] + configs[: r % len(configs)]
            for c in order:
                count = per_slot * c.in_flight
                items = [photos[i % len(photos)] for i in range(count)]
                folder = f"{tag}/configs/r{r}/{_slug(c)}"
                placed = root.place(folder, _unique(items))
                folders[c].append(folder)
                time.sleep(PAUSE)
                wall, answers = _burst(by_config[c], c, placed)
                result.throughput.setdefault(c, []).append(len(placed) / wall)
                result.latency.setdefault(c, []).append(median([a.round_trip for a in answers]))
        time.sleep(0.5)  # let the nodes flush their logs
        for c, node in by_config.items():
            result.memory_end[c] = node.memory()
            if c.workers > 1:
                result.workers_used[c] = _workers_used(node, folders[c])
    finally:
        for node in by_config.values():
            nodes.stop(node)
    return result


def _slug(c: Config) -> str:
    return f"w{c.workers}c{c.concurrency}f{c.per_worker}t{c.threads}i{c.intra}n{c.inter}"


def _burst(node: BenchNode, c: Config, items: list) -> tuple[float, list]:
    """One burst on fresh connections (closed after), in_flight requests at a time."""
    client = Client(node.url, slots=c.in_flight)
    try:
        return client.in_flight(items, "path", False, c.in_flight)
    finally:
        client.close()


def _workers_used(node: BenchNode, folders: list[str]) -> list[int]:
    """Per burst, how many worker processes logged a request for one of its files (from the node's log)."""
    text = node.log_path.read_text(errors="replace")
    workers = set(node.worker_pids())
    used = []
    for folder in folders:
        pids = set()
        for line in text.splitlines():
            if folder + "/" in line:
                m = re.search(r"\[(\d+)\] \[", line)
                if m and int(m.group(1)) in workers:
                    pids.add(int(m.group(1)))
        used.append(len(pids))
    return used


def _unique(photos: list[Photo]) -> list[Photo]:
    """The same pictures under distinct names (a burst may use a photo more than once)."""
    return [Photo(f"{i:03d}-{p.name}", p.data) for i, p in enumerate(photos)]


def report(section: Section, result: ConfigResult, model_key: str, model_label: str, cores: int) -> None:
    """Throughput and latency per configuration, relative to one-at-a-time and to today's default."""
    configs = list(result.throughput)
    base = next((c for c in configs if c.in_flight == 1), DEFAULT if DEFAULT in configs else configs[0])
    rows = []
    for c in configs:
        rel = [t / b for t, b in zip(result.throughput[c], result.throughput[base], strict=True)]
        mem = result.memory_end.get(c) or result.memory[c]
        rows.append(
            [
                f"`{c.name}`" + (" (default)" if c == DEFAULT else ""),
                c.in_flight,
                f"{median(result.throughput[c]):.2f}",
                ratio_text(rel),
                f"{median(result.latency[c]) * 1000:.0f}",
                f"{mem['total_rss']:.0f}",
            ]
        )
    rounds = len(result.throughput[base])
    section.text(
        f"**{model_label}** on {cores} cores ({rounds} interleaved rounds; path mode, output=0; "
        "fresh connections for every burst; MAX_QUEUE raised to the requests in flight, so nothing is shed):"
    )
    section.text(
        table(
            ["configuration", "in flight", "images/s", f"vs `{base.name}`", "latency (median ms)", "node RSS (MiB)"],
            rows,
        )
    )
    spread = [
        f"`{c.name}`: {sum(1 for n in used if n == 1)} of {len(used)} bursts were served by one worker alone"
        for c, used in result.workers_used.items()
        if used and all(n >= 1 for n in used)
    ]
    if spread:
        section.text("Which workers served the bursts (from the node log): " + "; ".join(spread) + ".")
    best = max(configs, key=lambda c: median(result.throughput[c]))
    if DEFAULT in result.throughput:
        rel = [t / d for t, d in zip(result.throughput[best], result.throughput[DEFAULT], strict=True)]
        section.add(
            Figure(
                key=f"configs.{model_key}.best_vs_default",
                name=f"{model_label}: best configuration (`{best.name}`) vs the default, throughput",
                value=median(rel),
                detail=ratio_text(rel),
            )
        )
