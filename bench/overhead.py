"""1. Service overhead: sequential /api/detect through gunicorn vs the model alone (a) and a plain script (b).

Interleaving is per image: for each image every condition runs once, in a shuffled order, each on
its own fresh copy of the file. A ratio is taken between two conditions' times for the same image,
measured seconds apart, so a burst of background load hits both sides; the figure is the median of
those paired ratios. With `warm_each`, every timed image is preceded by one untimed image (another
file) through the same condition: a node serving a stream and a script looping over files both run
with warm caches, while switching between processes after every image would leave whichever
condition follows the other process with cold ones (a few ms, which matters with a 50 ms model).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from bench.baselines import RawModel
from bench.client import Answer, Client
from bench.corpus import ImagesRoot, Photo
from bench.nodes import BenchNode
from bench.report import Figure, Section, table
from measure.stats import median, quartile_text

PAUSE = 0.05  # seconds between conditions: TensorFlow's pool threads spin briefly after work
CONDITIONS = ("a", "b", "path0", "path1", "upload")
LABELS = {
    "a": "(a) model alone, pre-decoded as the service decodes",
    "b": "(b) plain script: read, decode, model",
    "path0": "service, path mode, output=0",
    "path1": "service, path mode, output=1",
    "upload": "service, upload (multipart), output=0",
}
SERVICE = {"path0": ("path", False), "path1": ("path", True), "upload": ("upload", False)}


@dataclass
class OverheadResult:
    """Per condition, the seconds of every (round, image), in the same order; the node's own timings."""

    times: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONDITIONS})
    answers: dict[str, list[Answer]] = field(default_factory=lambda: {c: [] for c in SERVICE})
    health: list[float] = field(default_factory=list)  # GET /api/health round trips: the HTTP floor

    def ratios(self, ours: str, base: str) -> list[float]:
        """Paired ratios, ours / base, one per (round, image)."""
        return [o / b for o, b in zip(self.times[ours], self.times[base], strict=True)]


def _one(
    cond: str, i: int, raw: RawModel, client: Client, placed: dict, tensors: list, answers: list[Answer] | None
) -> float:
    if cond == "a":
        return raw.model_alone([tensors[i]])[0]
    if cond == "b":
        return raw.script([placed[cond][i].path])[0]
    mode, output = SERVICE[cond]
    answer = client.detect(placed[cond][i], mode, output)
    if answers is not None:
        answers.append(answer)
    return answer.round_trip


def measure(
    node: BenchNode,
    raw: RawModel,
    root: ImagesRoot,
    photos: list[Photo],
    tag: str,
    rounds: int,
    max_side: int,
    warm_each: bool = True,
) -> OverheadResult:
    """`rounds` passes over the photos; per image, every condition once, in a shuffled order.

    Each round's copies are deleted after it (camera-size photos would fill the disk otherwise)."""
    result = OverheadResult()
    client = Client(node.url)
    rng = random.Random(0)
    n = len(photos)
    try:
        warm = root.place(f"{tag}/overhead/warm", photos[:2])
        raw.warm_up([p.path for p in warm])
        for mode, output in SERVICE.values():
            client.sequential(warm, mode, output)
        for r in range(rounds):
            placed = {c: root.place(f"{tag}/overhead/r{r}/{c}", photos) for c in CONDITIONS}
            spare = {c: root.place(f"{tag}/overhead/r{r}/{c}-warm", photos) for c in CONDITIONS} if warm_each else {}
            tensors = raw.prepare([p.path for p in placed["a"]], max_side)
            for i in range(n):
                order = list(CONDITIONS)
                rng.shuffle(order)
                for cond in order:
                    time.sleep(PAUSE)
                    if warm_each:
                        _one(cond, (i + 1) % n, raw, client, spare, tensors, None)
                    result.times[cond].append(_one(cond, i, raw, client, placed, tensors, result.answers.get(cond)))
            root.clear(f"{tag}/overhead/r{r}")
        for _ in range(30):
            t0 = time.perf_counter()
            if not client.client.health(timeout=10):
                raise RuntimeError(f"{node.url}/api/health did not answer 200")
            result.health.append(time.perf_counter() - t0)
    finally:
        client.close()
    return result


def report(
    section: Section, result: OverheadResult, key: str, label: str, rounds: int, n_images: int, warm_each: bool
) -> None:
    """Add the figures (with targets) and the breakdown table for one model and photo set."""
    detail = f"median (quartiles) of {rounds} rounds × {n_images} images = {rounds * n_images} paired ratios"
    if warm_each:
        detail += ", each timed image after an untimed one through the same condition"
    targets = [
        ("path0", "b", "<=", 1.00, "path, output=0 vs (b)"),
        ("path0", "a", "<=", 1.10, "path, output=0 vs (a)"),
        ("path1", "b", "<=", 1.15, "path, output=1 (annotated image) vs (b)"),
        ("upload", "b", "<=", 1.10, "upload on loopback vs (b)"),
    ]
    for ours, base, op, limit, name in targets:
        ratios = result.ratios(ours, base)
        section.add(
            Figure(
                key=f"overhead.{key}.{ours}_vs_{base}",
                name=f"{label}: {name}",
                value=median(ratios),
                op=op,
                limit=limit,
                detail=f"{quartile_text(ratios)}; {detail}",
            )
        )
    rows = []
    for cond in CONDITIONS:
        row = [LABELS[cond], f"{median(result.times[cond]) * 1000:.1f}"]
        answers = result.answers.get(cond)
        if answers:
            t = {k: median([a.timings[k] for a in answers]) * 1000 for k in ("decode", "inference", "total")}
            aw = median([a.timings["annotate"] + a.timings["write"] for a in answers]) * 1000
            outside = median([a.round_trip - a.timings["total"] for a in answers]) * 1000
            row += [f"{t['decode']:.1f}", f"{t['inference']:.1f}", f"{aw:.1f}", f"{t['total']:.1f}", f"{outside:.1f}"]
        else:
            row += ["", "", "", "", ""]
        rows.append(row)
    section.text(f"**{label}** ({detail}):")
    section.text(
        table(
            [
                "condition",
                "per image (median, ms)",
                "node: decode",
                "node: inference",
                "node: annotate+write",
                "node: total",
                "HTTP + client (round trip − node total)",
            ],
            rows,
        )
    )
    section.text(
        "HTTP floor on this machine: `GET /api/health` (no body, no model) takes "
        f"{median(result.health) * 1000:.1f} ms "
        "round trip with the same client; `HTTP + client` above adds parsing the form or the upload, writing "
        "the result JSON atomically and logging."
    )
    ratio_rows = [[name, quartile_text(result.ratios(ours, base))] for ours, base, _, _, name in targets]
    ratio_rows.append(
        ["(b) vs (a): what reading and decoding cost a plain script", quartile_text(result.ratios("b", "a"))]
    )
    section.text(table(["paired ratio", "median (quartiles)"], ratio_rows))
