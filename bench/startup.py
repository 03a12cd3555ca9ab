"""5. Start-up: process start to /api/ready vs a plain process that loads the model and runs one inference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.models import REPO
from bench.nodes import NodeSet
from bench.report import Figure, Section, table
from measure.stats import median

# The least any process must do before it can answer: import TF, load, one warm-up inference
# (the same 64x64 warm-up as the service). os._exit skips TensorFlow's slow teardown.
SCRIPT = r"""
import json, os, sys, time
t0 = time.time()
import tensorflow as tf
import tensorflow_hub as hub
t1 = time.time()
fn = hub.load(sys.argv[1]).signatures["default"]
t2 = time.time()
{k: v.numpy() for k, v in fn(images=tf.zeros([1, 64, 64, 3])).items()}
t3 = time.time()
times = {"interpreter_to_import": t0, "import": t1 - t0, "load": t2 - t1, "warmup": t3 - t2, "done": t3}
print(json.dumps(times), flush=True)
os._exit(0)
"""


def plain_process(handle: str) -> dict:
    """Spawn the plain script; seconds from spawn to warm, and its own split."""
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, handle],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if out.returncode != 0:
        raise RuntimeError(f"plain start-up script failed:\n{out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["spawn_to_warm"] = data["done"] - spawned
    data["interpreter"] = data["interpreter_to_import"] - spawned
    return data


def model_tag(env: dict[str, str]) -> str:
    """A short name for log files: the model folder's name."""
    return os.path.basename(env.get("MODEL_HANDLE", "model").rstrip("/"))


def measure(
    nodes: NodeSet, env: dict[str, str], handle: str, reps: int, first_ready: float | None, first_info: dict | None
) -> dict:
    """Node start-ups (the overhead section's node counts as the first) and plain processes, alternated."""
    ready = [first_ready] if first_ready is not None else []
    infos = [first_info] if first_info is not None else []
    plain = []
    extra_nodes = max(0, reps - len(ready))
    for rep in range(reps):
        kinds = ["plain"] + (["node"] if rep < extra_nodes else [])
        for kind in kinds if rep % 2 == 0 else reversed(kinds):
            time.sleep(0.5)
            if kind == "plain":
                plain.append(plain_process(handle))
                continue
            node = nodes.start(f"startup-{model_tag(env)}-{rep}", env)
            try:
                node.wait_ready()
                if node.ready_after is not None:
                    ready.append(node.ready_after)
                infos.append(node.info())
            finally:
                nodes.stop(node)
    return {"ready": ready, "plain": plain, "infos": infos}


def report(section: Section, data: dict, model_key: str, model_label: str) -> None:
    """Node start-up vs the plain process, and where the node's time goes."""
    ready = median(data["ready"])
    spawn = median([p["spawn_to_warm"] for p in data["plain"]])
    bare = median([p["load"] + p["warmup"] for p in data["plain"]])
    node_load = median([i["model"]["load_seconds"] + i["model"]["warmup_seconds"] for i in data["infos"]])
    section.add(
        Figure(
            key=f"startup.{model_key}.node_vs_plain",
            name=f"{model_label}: node start → /api/ready vs plain process start → warm",
            value=ready / spawn,
            detail=f"{ready:.2f} s vs {spawn:.2f} s",
        )
    )
    section.add(
        Figure(
            key=f"startup.{model_key}.node_vs_load",
            name=f"{model_label}: node start → /api/ready vs model load + one warm-up inference",
            value=ready / bare,
            detail=f"{ready:.2f} s vs {bare:.2f} s",
        )
    )
    section.text(
        f"**{model_label}** (medians of {len(data['ready'])} node start(s), {len(data['plain'])} plain process(es)):"
    )
    section.text(
        table(
            ["", "seconds"],
            [
                ["node: process start → /api/ready 200 (polled every 50 ms)", f"{ready:.2f}"],
                ["node: its own load + warm-up (/api/info)", f"{node_load:.2f}"],
                ["node: the rest (gunicorn, fork, imports, Flask app)", f"{ready - node_load:.2f}"],
                ["plain process: spawn → warm (interpreter, TF import, load, warm-up)", f"{spawn:.2f}"],
                ["plain process: model load + one warm-up inference only", f"{bare:.2f}"],
                [
                    "plain process: import tensorflow + tensorflow_hub",
                    f"{median([p['import'] for p in data['plain']]):.2f}",
                ],
            ],
        )
    )
