"""Run every benchmark and write bench/RESULTS.md: `python -m bench`, from the repository root.

    python -m bench            # the full run: about 7 minutes on 2 idle cores (the first also builds a model)
    python -m bench --quick    # the shared model only, about 2 minutes
    python -m bench --out /tmp/RESULTS.md

Nodes are started with the production command (harness/nodes.py) on free loopback ports and
stopped by their own PIDs at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import configs, decode, distribution, memory, multimodel, overhead, overload, pipelining, report, startup
from bench import plan as plans
from bench.baselines import RawModel
from bench.corpus import ImagesRoot, Photo, camera_photos, load_photos, mosaic
from bench.cpuload import CpuMeter
from bench.models import CACHE_DIR, REPO, ensure_heavy
from bench.nodes import NodeSet
from detector.quiet import quiet_tensorflow
from measure import sysinfo

DEFAULT_OUT = REPO / "bench" / "RESULTS.md"
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="shared model only, fewer rounds (a few minutes)")
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="tiny model and sizes, every code path once (for the tests; figures mean nothing)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})")
    p.add_argument("--cache", type=Path, default=CACHE_DIR, help=f"built models (default {CACHE_DIR})")
    p.add_argument("--shared", type=Path, default=SHARED, help=f"shared models and images (default {SHARED})")
    p.add_argument("--tiny-model", type=Path, help="--smoke: an OpenImages-style tiny model (default: built)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (node logs, images, outputs)")
    return p.parse_args(argv)


def _models(args: argparse.Namespace, plan: plans.Plan, work: Path) -> tuple[list[tuple], list[str]]:
    """(key, label, handle, ModelPlan) for each model to run, and the lines describing them."""
    runs, lines = [], []
    if plan.tiny is not None:
        tiny = args.tiny_model
        if tiny is None:
            from harness.tiny_models import build_openimages_style

            tiny = build_openimages_style(work / "tiny-model")
        runs.append(("tiny", "tiny test model", str(tiny), plan.tiny))
        lines.append(f"tiny test model (harness/tiny_models.py): {tiny}")
    if plan.shared is not None:
        shared = args.shared / "models" / "openimages-style"
        if (shared / "saved_model.pb").is_file():
            runs.append(("shared", "shared model", str(shared), plan.shared))
            lines.append(f"shared model: {shared} (MobileNetV3 CenterNet, OpenImages-style signature)")
        else:
            lines.append(f"shared model: **not found at {shared}: its figures are skipped**")
    if plan.heavy is not None:
        heavy = ensure_heavy(args.cache)
        runs.append(("heavy", "heavy model", str(heavy), plan.heavy))
        lines.append(
            f"heavy model: {heavy}, built by bench/models.py: Inception-ResNet-v2 backbone (54 M random weights) "
            "at 640×640 behind the OpenImages-style `default` signature (its time per image is in section 1). "
            "It stands in for the default TF Hub model (Faster R-CNN Inception-ResNet-v2, not downloadable "
            "here), which does even more work per image, so its overhead ratios would be closer still to 1."
        )
    return runs, lines


def _node_env(handle: str, root: ImagesRoot, work: Path, key: str, plan: plans.Plan) -> dict[str, str]:
    """A node's environment: the model, the shared images root, its own output folder."""
    return {
        "MODEL_HANDLE": handle,
        "IMAGES_DIR": str(root.root),
        "OUTPUT_DIR": str(work / "output" / key),
        "MAX_IMAGE_SIDE": str(plan.max_side),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks of the chosen plan and write the results file; returns the exit status."""
    args = parse_args(argv)
    quiet_tensorflow()  # before TensorFlow is first imported: none of its native log lines on stderr
    plan = plans.smoke() if args.smoke else plans.quick() if args.quick else plans.full()
    command = "python -m bench" + (" --smoke" if args.smoke else " --quick" if args.quick else "")
    t_start = time.perf_counter()
    info = sysinfo.collect(REPO)
    work = Path(tempfile.mkdtemp(prefix="objdet-bench-"))
    nodes = NodeSet(work / "logs")
    meter = CpuMeter(nodes.pids)
    sections = {
        1: report.Section(1, "Service overhead: sequential requests vs the model alone (a) and a plain script (b)"),
        2: report.Section(2, "Pipelining: 2 requests in flight per node vs the plain script's loop"),
        3: report.Section(3, "Distribution: the sender over nodes with a known service time"),
        4: report.Section(4, "Decode: big JPEG to the model's size"),
        5: report.Section(5, "Start-up: process start to /api/ready"),
        6: report.Section(6, "Memory per node"),
        7: report.Section(7, "Workers, inference concurrency and TensorFlow threads (for the guide)"),
        8: report.Section(8, "Overload: open-loop arrivals, capacity, 2× overload, probes under load"),
    }
    samples: list[memory.Sample] = []

    def phase(name: str) -> None:
        _say(name)
        meter.mark(name)

    try:
        phase("preparing models and images")
        runs, model_lines = _models(args, plan, work)
        if not runs:
            for s in (1, 2, 5, 7):
                sections[s].text("Skipped: no model to run (the shared model is absent and this plan builds none).")
        root = ImagesRoot(work / "images")
        photos = load_photos(
            args.shared / "images" if not args.smoke else None,
            count=2 if args.smoke else 8,
            size=(96, 64) if args.smoke else (640, 427),
        )
        cameras = camera_photos(photos, max((mp.camera_images for *_, mp in runs), default=0), plan.decode_size)
        prestarted: dict = {}
        for key, label, handle, mp in runs:
            env = _node_env(handle, root, work, key, plan)
            phase(f"{label}: starting a node ({configs.DEFAULT.name}, the defaults)")
            node = nodes.start(f"svc-{key}", env).wait_ready()
            if plan.prestart and not prestarted:
                prestarted = _prestart(nodes, runs, root, work, plan)
            first_ready, first_info = node.ready_after, node.info()
            samples.append(memory.Sample(key, label, 1, 1, "after warm-up", node.memory()))
            raw = RawModel(handle)
            sets = [
                ("photos", f"{label}, photos", photos[: mp.overhead_images], mp.overhead_rounds),
                ("camera", f"{label}, camera-size photos", cameras[: mp.camera_images], mp.camera_rounds),
            ]
            for set_key, set_label, set_photos, rounds in sets:
                if rounds and set_photos:
                    phase(f"{label}: 1. overhead, {set_label}, {rounds} rounds")
                    res = overhead.measure(
                        node, raw, root, set_photos, f"{key}-{set_key}", rounds, plan.max_side, mp.warm_each
                    )
                    overhead.report(
                        sections[1], res, f"{key}.{set_key}", set_label, rounds, len(set_photos), mp.warm_each
                    )
            phase(f"{label}: 2. pipelining, {mp.pipeline_rounds} rounds")
            pipe_photos = [photos[i % len(photos)] for i in range(mp.pipeline_images)]
            pipe_photos = [Photo(f"{i:02d}-{p.name}", p.data) for i, p in enumerate(pipe_photos)]
            pres = pipelining.measure(node, raw, root, pipe_photos, key, mp.pipeline_rounds, plan.max_side)
            pipelining.report(sections[2], pres, key, label, len(pipe_photos))
            if mp.overload is not None:
                phase(f"{label}: 8. overload ({mp.overload.run_seconds:g} s per open-loop run)")
                ores = overload.measure(node, root, photos, key, mp.overload)
                overload.report(sections[8], ores, key, label)
            samples.append(memory.Sample(key, label, 1, 1, "after the overhead and pipelining runs", node.memory()))
            nodes.stop(node)
            del raw
            phase(f"{label}: 5. start-up, {mp.startup_reps} repetition(s)")
            sdata = startup.measure(nodes, env, handle, mp.startup_reps, first_ready, first_info)
            startup.report(sections[5], sdata, key, label)
            phase(f"{label}: 7. configurations ({len(mp.configs)} nodes at once)")
            by_config = prestarted.pop(key, None) or configs.start(nodes, env, mp.configs, key)
            cres = configs.measure(nodes, by_config, root, photos, key, mp.config_rounds, mp.config_per_slot)
            configs.report(sections[7], cres, key, label, info["cores"])
            for c, mem in cres.memory.items():
                samples.append(memory.Sample(key, label, c.workers, c.concurrency, "after warm-up", mem, c.name))
                samples.append(
                    memory.Sample(key, label, c.workers, c.concurrency, "after the runs", cres.memory_end[c], c.name)
                )
        phase("4. decode")
        big = cameras[0].data if cameras else mosaic(photos, plan.decode_size)
        dtimes, facts = decode.measure(big, plan.decode_rounds, plan.max_side)
        decode.report(sections[4], dtimes, facts)
        phase("3. distribution")
        if not distribution.SENDER.is_file():
            sections[3].text(f"Skipped: {distribution.SENDER} does not exist yet.")
        else:
            dist_nodes = prestarted.pop("distribution", None) or distribution.start(
                nodes, work / "distribution", plan.distribution
            )
            dres = distribution.measure(nodes, dist_nodes, work / "distribution", plan.distribution)
            distribution.report(sections[3], dres, plan.distribution)
        memory.report(sections[6], samples)
        shared_models = args.shared / "models"
        if plan.multimodel_rounds and (shared_models / "coco-style" / "saved_model.pb").is_file():
            phase("6. memory: a two-model node against a one-model node")
            mres = multimodel.measure(
                nodes, shared_models, root, photos, _node_env("", root, work, "multi", plan), plan.multimodel_rounds
            )
            multimodel.report(sections[6], mres)
    finally:
        nodes.stop_all()
        meter.mark("end")
        if args.keep:
            _say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    info["load_at_end"] = sysinfo.load_average()
    info["phases"] = meter.phases
    ordered = [sections[k] for k in sorted(sections)]
    markdown = report.render(info, ordered, command, time.perf_counter() - t_start, model_lines)
    report.write(args.out, markdown, info, ordered)
    _say(f"wrote {args.out} in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 0


def _prestart(nodes: NodeSet, runs: list[tuple], root: ImagesRoot, work: Path, plan: plans.Plan) -> dict:
    """--smoke only (its figures mean nothing): start every other node now, so start-ups overlap the work."""
    started: dict = {}
    for key, _, handle, mp in runs:
        started[key] = configs.start(nodes, _node_env(handle, root, work, key, plan), mp.configs, key)
    if distribution.SENDER.is_file():
        started["distribution"] = distribution.start(nodes, work / "distribution", plan.distribution)
    return started


if __name__ == "__main__":
    sys.exit(main())
