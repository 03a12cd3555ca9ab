"""6b. Several models per node: the memory of a two-model node against a one-model node, and each model's
time per image on the two-model node (the shared OpenImages-style and COCO-style detectors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.client import Client
from bench.corpus import ImagesRoot, Photo
from bench.nodes import BenchNode, NodeSet
from bench.report import Figure, Section, table
from measure.stats import median


@dataclass
class MultiResult:
    """Memory (MiB, after warm-up) of each node, and per model the round trips and inference times (s)."""

    one_model: dict = field(default_factory=dict)
    two_models: dict = field(default_factory=dict)
    round_trip: dict[str, list[float]] = field(default_factory=dict)
    inference: dict[str, list[float]] = field(default_factory=dict)


def measure(
    nodes: NodeSet, models: Path, root: ImagesRoot, photos: list[Photo], base_env: dict[str, str], rounds: int
) -> MultiResult:
    """Start both nodes, read their memory once warm, then time `rounds` passes over the photos per model."""
    result = MultiResult()
    one = nodes.start("multi-one", {**base_env, "MODEL_HANDLE": str(models / "openimages-style")})
    two = nodes.start(
        "multi-two",
        {**base_env, "MODELS": f"openimages={models / 'openimages-style'},coco={models / 'coco-style'}"},
    )
    try:
        for node in (one, two):
            node.wait_ready()
        result.one_model, result.two_models = one.memory(), two.memory()
        placed = root.place("multimodel", [Photo(f"{i:02d}-{p.name}", p.data) for i, p in enumerate(photos)])
        for model in ("openimages", "coco"):
            _time_model(two, model, placed, rounds, result)
    finally:
        nodes.stop(one)
        nodes.stop(two)
    return result


def _time_model(node: BenchNode, model: str, placed: list, rounds: int, result: MultiResult) -> None:
    client = Client(node.url)
    try:
        client.client.detect_path(placed[0].rel, model=model)  # warm connection
        for _ in range(rounds):
            for item in placed:
                attempt = client.client.detect_path(item.rel, model=model)
                if attempt.timings is None:
                    raise RuntimeError(f"{model} {item.rel}: {attempt.error}")
                result.round_trip.setdefault(model, []).append(attempt.round_trip)
                result.inference.setdefault(model, []).append(attempt.timings["inference"])
    finally:
        client.close()


def report(section: Section, result: MultiResult) -> None:
    """The two nodes' memory and each model's time."""
    one, two = result.one_model, result.two_models
    extra = two["total_rss"] - one["total_rss"]
    section.add(
        Figure(
            key="memory.shared.second_model",
            name="shared models: what a second model costs a node (RSS after warm-up, two models minus one)",
            value=extra,
            unit="MiB",
            detail=f"{two['total_rss']:.0f} MiB with MODELS=openimages,coco vs {one['total_rss']:.0f} MiB with one",
        )
    )
    rows = [
        [name, f"{m['total_rss']:.0f}", ", ".join(f"{w:.0f}" for w in m["worker_rss"]), f"{m['total_pss']:.0f}"]
        for name, m in (("one model (openimages-style)", one), ("two models (openimages-style, coco-style)", two))
    ]
    section.text(
        "Several models per node (`MODELS`): one node with the shared OpenImages-style model, one with it and "
        "the COCO-style model, both after warm-up (each worker holds every model)."
    )
    section.text(table(["node", "total RSS (MiB)", "worker RSS (MiB)", "total PSS (MiB)"], rows))
    timing_rows = [
        [model, len(times), f"{median(times) * 1000:.1f}", f"{median(result.inference[model]) * 1000:.1f}"]
        for model, times in result.round_trip.items()
    ]
    section.text("Each model on the two-model node, one request at a time, path mode, output=0:")
    section.text(table(["model", "images", "round trip (median ms)", "inference (median ms)"], timing_rows))
