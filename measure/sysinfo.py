"""What the figures were measured on: CPU, cores, memory, load, versions, commit and date; and, in a
process that has TensorFlow loaded, the devices it runs on (never call tensorflow_devices elsewhere:
it imports TensorFlow, which must not happen in a gunicorn master)."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("tensorflow", "tensorflow-hub", "keras", "numpy", "pillow", "flask", "gunicorn", "requests")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's answer)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, Any]:
    """The hardware and OS of this machine, cheap to read (no TensorFlow): CPU, cores, memory, kernel."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(memory_gib() or 0.0, 1) or None,
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "arch": platform.machine(),
    }


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Python's version and each installed package's (None when it is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def tensorflow_devices() -> dict[str, Any]:
    """The devices TensorFlow sees in this process and the one it runs models on (GPU:0 when there is a
    GPU, else CPU:0), with each GPU's name. Imports TensorFlow: call it only where a model is loaded."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (RuntimeError, ValueError):
            details = {}
        names.append(str(details.get("device_name") or gpu.name))
    return {
        "device": "GPU:0" if gpus else "CPU:0",
        "gpus": names,
        "cpus": len(tf.config.list_physical_devices("CPU")),
        "built_with_cuda": bool(tf.test.is_built_with_cuda()),
        "version": tf.__version__,
    }


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def collect(repo: Path) -> dict:
    """Everything RESULTS.md states about the machine and the software."""
    versions = package_versions()
    dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "load_at_start": load_average(),
        "versions": versions,
        "commit": f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown",
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
    }
