"""How much each benchmark does: the full run, --quick, and the tiny --smoke run the tests use."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.configs import Config
from bench.distribution import DistPlan
from bench.overload import OverloadPlan


@dataclass
class ModelPlan:
    """Rounds and sizes for one model."""

    overhead_rounds: int
    overhead_images: int  # photos per condition per round
    pipeline_rounds: int
    pipeline_images: int
    startup_reps: int
    configs: list[Config]
    config_rounds: int
    config_per_slot: int  # requests per request slot per burst
    camera_rounds: int = 0  # section 1 again on camera-size photos (Plan.decode_size)
    camera_images: int = 0
    warm_each: bool = True  # section 1: an untimed image before each timed one (see bench/overhead.py)
    overload: OverloadPlan | None = None  # section 8


@dataclass
class Plan:
    """Everything the run does."""

    name: str
    shared: ModelPlan | None
    heavy: ModelPlan | None
    tiny: ModelPlan | None  # --smoke only: the tests' tiny model
    decode_size: tuple[int, int] = (4000, 3000)  # also the camera-size photos of section 1
    decode_rounds: int = 15
    distribution: DistPlan = field(default_factory=DistPlan)
    max_side: int = 1024  # MAX_IMAGE_SIDE, the service's default
    prestart: bool = False  # start every node at once at the beginning (only where timings do not matter)
    multimodel_rounds: int = 0  # section 6: passes over the photos per model on a two-model node (0: skipped)


# Two cores here, 4 requests in flight: one image in the model at a time; the default (2 at once); 4 at
# once; one request at a time; the old default (THREADS=2: 2 in flight, 2 in the model); and two
# processes with TensorFlow's own thread pools (oversubscribed) or one intra-op thread each.
SHARED_CONFIGS = [
    Config(1, 1, per_worker=1),
    Config(1, 1),
    Config(1, 2),
    Config(1, 4),
    Config(1, 2, per_worker=2, threads=2),
    Config(2, 1, per_worker=2),
    Config(2, 1, per_worker=2, intra=1),
]
HEAVY_CONFIGS = [Config(1, 1, per_worker=1), Config(1, 1), Config(1, 2), Config(2, 1, per_worker=2, intra=1)]


def full() -> Plan:
    """About 7 minutes on 2 idle cores (the first run also builds the heavy model, under a minute)."""
    return Plan(
        name="full",
        shared=ModelPlan(9, 8, 8, 8, 2, SHARED_CONFIGS, 7, 3, 5, 4, overload=OverloadPlan(15.0)),
        heavy=ModelPlan(
            3,
            4,
            3,
            4,
            1,
            HEAVY_CONFIGS,
            3,
            1,
            3,
            2,
            warm_each=False,
            overload=OverloadPlan(30.0, alone=4, saturated=12),
        ),
        tiny=None,
        multimodel_rounds=3,
    )


def quick() -> Plan:
    """About 2 minutes: the shared model only, fewer rounds, smaller distribution runs."""
    return Plan(
        name="quick",
        shared=ModelPlan(
            5,
            8,
            5,
            8,
            1,
            [Config(1, 1, per_worker=1), Config(1, 1), Config(1, 2)],
            3,
            3,
            3,
            2,
            overload=OverloadPlan(8.0),
        ),
        heavy=None,
        tiny=None,
        decode_rounds=9,
        distribution=DistPlan(nodes=3, jobs_single=24, jobs_per_node=24, jobs_mixed=120),
    )


def smoke() -> Plan:
    """Seconds, not minutes: the tiny test model, two small images, every code path once."""
    return Plan(
        name="smoke",
        shared=None,
        heavy=None,
        tiny=ModelPlan(
            1,
            2,
            1,
            2,
            1,
            [Config(2, 1, per_worker=1, intra=1)],
            1,
            1,
            1,
            1,
            overload=OverloadPlan(1.0, alone=2, saturated=4),
        ),
        decode_size=(400, 300),
        decode_rounds=2,
        distribution=DistPlan(service_s=0.02, nodes=2, jobs_single=4, jobs_per_node=3, jobs_mixed=6),
        max_side=128,
        prestart=True,
    )
