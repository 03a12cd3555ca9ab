"""6. Memory: resident set of a node after warm-up, with one worker and with N workers."""

from __future__ import annotations

from dataclasses import dataclass

from bench.report import Figure, Section, table


@dataclass
class Sample:
    """One node's memory at one moment."""

    model_key: str
    model_label: str
    workers: int
    concurrency: int  # INFERENCE_CONCURRENCY
    when: str  # "after warm-up", "after the overhead runs", ...
    memory: dict
    config: str = ""  # the configuration's environment, when not the defaults


def report(section: Section, samples: list[Sample]) -> None:
    """Figures per model (1 worker, and the largest N), and every sample."""
    rows = []
    seen: set[tuple[str, int]] = set()
    for s in samples:
        m = s.memory
        workers = ", ".join(f"{w:.0f}" for w in m["worker_rss"])
        rows.append(
            [
                s.model_label,
                s.config or f"WORKERS={s.workers} INFERENCE_CONCURRENCY={s.concurrency}",
                s.when,
                f"{m['master_rss']:.0f}",
                workers,
                f"{m['total_rss']:.0f}",
                f"{m['total_pss']:.0f}",
            ]
        )
        key = (s.model_key, s.workers)
        if s.when == "after warm-up" and key not in seen:
            seen.add(key)
            section.add(
                Figure(
                    key=f"memory.{s.model_key}.w{s.workers}",
                    unit="MiB",
                    value=m["total_rss"],
                    name=f"{s.model_label}: node RSS after warm-up, {s.workers} worker{'s' if s.workers > 1 else ''}",
                    detail=f"master {m['master_rss']:.0f} + workers {workers} MiB",
                )
            )
    section.text(
        "RSS from /proc/PID/status (master + workers); PSS from /proc/PID/smaps_rollup, which splits "
        "pages shared between processes (the TensorFlow libraries) among all processes mapping them, so a "
        "node's PSS is lower while other TensorFlow processes run. RSS is what one node alone needs. Every "
        "worker loads its own model: no preload, because TensorFlow state created before a fork hangs the workers."
    )
    section.text(table(["model", "configuration", "when", "master RSS", "worker RSS", "total RSS", "total PSS"], rows))
