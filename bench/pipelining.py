"""2. Pipelining: 2 requests in flight per node vs the plain script's sequential loop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench.baselines import RawModel
from bench.client import Client
from bench.corpus import ImagesRoot, Photo
from bench.nodes import BenchNode
from bench.report import Figure, Section, table
from measure.stats import median, ratio_text

PAUSE = 0.05  # seconds between conditions, so neither process's threads are still busy
CONDITIONS = ("b", "a", "k2_out1", "k2_out0", "k1_out1")
LABELS = {
    "b": "(b) plain script, sequential loop",
    "a": "(a) model alone, sequential, pre-decoded",
    "k2_out1": "service, 2 in flight, output=1",
    "k2_out0": "service, 2 in flight, output=0",
    "k1_out1": "service, 1 in flight, output=1",
}


@dataclass
class PipeResult:
    """Images per second, per condition and round."""

    throughput: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONDITIONS})

    def ratios(self, ours: str, base: str) -> list[float]:
        """Per-round throughput ratio, ours / base."""
        return [o / b for o, b in zip(self.throughput[ours], self.throughput[base], strict=True)]


def measure(
    node: BenchNode, raw: RawModel, root: ImagesRoot, photos: list[Photo], tag: str, rounds: int, max_side: int
) -> PipeResult:
    """Interleaved rounds of the same images through each condition (fresh copies each time)."""
    result = PipeResult()
    client = Client(node.url, slots=2)
    try:
        for r in range(rounds):
            placed = {c: root.place(f"{tag}/pipeline/r{r}/{c}", photos) for c in CONDITIONS}
            tensors = raw.prepare([p.path for p in placed["a"]], max_side)
            order = CONDITIONS[r % len(CONDITIONS) :] + CONDITIONS[: r % len(CONDITIONS)]
            for cond in order:
                time.sleep(PAUSE)
                n = len(placed[cond])
                if cond == "b":
                    wall = sum(raw.script([p.path for p in placed[cond]]))
                elif cond == "a":
                    wall = sum(raw.model_alone(tensors))
                else:
                    k, output = int(cond[1]), cond.endswith("1")
                    wall, _ = client.in_flight(placed[cond], "path", output, k)
                result.throughput[cond].append(n / wall)
    finally:
        client.close()
    return result


def report(section: Section, result: PipeResult, model_key: str, model_label: str, n_images: int) -> None:
    """Add the figure with its target, and the throughput table, for one model."""
    rounds = len(result.throughput["b"])
    detail = f"median (min–max) of {rounds} rounds × {n_images} images"
    main = result.ratios("k2_out1", "b")
    section.add(
        Figure(
            key=f"pipelining.{model_key}.k2_out1_vs_b",
            name=f"{model_label}: 2 in flight, output=1, throughput vs (b)",
            value=median(main),
            op=">=",
            limit=1.0,
            detail=f"{ratio_text(main)}; {detail}",
        )
    )
    rows = [[LABELS[c], f"{median(result.throughput[c]):.2f}"] for c in CONDITIONS]
    section.text(f"**{model_label}** ({detail}):")
    section.text(table(["condition", "images/s (median)"], rows))
    extra = [
        ["2 in flight, output=1 vs (b)", ratio_text(main)],
        ["2 in flight, output=0 vs (b)", ratio_text(result.ratios("k2_out0", "b"))],
        ["2 in flight, output=0 vs (a) model alone", ratio_text(result.ratios("k2_out0", "a"))],
        ["2 in flight vs 1 in flight, output=1", ratio_text(result.ratios("k2_out1", "k1_out1"))],
    ]
    section.text(table(["throughput ratio", "median (min–max)"], extra))
