"""Getting a detector ready to serve: TensorFlow's thread pools, the load, one warm-up inference.

Every process that runs a model (a node's worker, the sender's --local runner, fetch_model's check)
goes through load_ready_model, so they all start the same way.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from detector.handles import DEFAULT_HANDLE, is_remote, local_path
from detector.model import DetectionModel, ModelLoadError
from detector.sources import DEFAULT_TFHUB_HOSTS, FallbackError, short_reason, with_fallback

log = logging.getLogger(__name__)


def _load_failure_message(handle: str, reason: str) -> str:
    cache = os.environ.get("TFHUB_CACHE_DIR") or "(not set: a temporary folder is used)"
    return (
        f"Could not load model {handle!r}: {reason}. "
        "What to do: if this machine is offline, or TF Hub and Kaggle Models refuse the download "
        "(tfhub.dev now redirects to Kaggle; some Kaggle models need an account: set KAGGLE_USERNAME and "
        "KAGGLE_KEY), fetch the model once on a machine that can download it "
        "(python scripts/fetch_model.py HANDLE --dest DIR) and set MODEL_HANDLE to that local "
        "SavedModel directory; or point TFHUB_CACHE_DIR at a cache that already holds it "
        f"(TFHUB_CACHE_DIR is {cache}). Any TF Hub URL, Kaggle model URL or local SavedModel "
        "directory is accepted."
    )


def load_hub_object(handle: str, tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS) -> Any:
    """`tensorflow_hub.load(handle)`, with Kaggle Models as the second source of the TF Hub handles it
    knows (detector.sources), and one clear ModelLoadError instead of a traceback wall."""
    remote = is_remote(handle)
    if not remote:
        local = local_path(handle)
        if not os.path.isdir(local):
            raise ModelLoadError(_load_failure_message(handle, "no such local directory"))
        if not (Path(local) / "saved_model.pb").is_file():
            raise ModelLoadError(_load_failure_message(handle, "the directory holds no saved_model.pb"))
        handle = os.path.abspath(local)
    try:
        import tensorflow_hub as hub

        obj, source = with_fallback(handle, lambda: hub.load(handle), lambda folder: hub.load(str(folder)), tfhub_hosts)
    except Exception as exc:  # every failure becomes one readable message; FallbackError names both sources
        raise ModelLoadError(
            _load_failure_message(handle, str(exc) if isinstance(exc, FallbackError) else short_reason(exc))
        ) from exc
    if remote:
        log.info("model %s served by %s", handle, source)
    return obj


def configure_threads(intra_op: int = 0, inter_op: int = 0) -> None:
    """Set TensorFlow's thread pools (0 keeps TF's default); must run before the first TF op."""
    import tensorflow as tf

    try:
        if intra_op > 0:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op > 0:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as exc:  # TF already initialised in this process: keep what it has
        log.warning("TensorFlow thread settings not applied: %s", exc)


def load_model(handle: str = DEFAULT_HANDLE, tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS) -> DetectionModel:
    """Load a detector from a TF Hub URL, Kaggle URL or local SavedModel directory."""
    t0 = time.perf_counter()
    obj = load_hub_object(handle, tfhub_hosts)
    return DetectionModel(handle, obj, load_seconds=time.perf_counter() - t0)


def load_ready_model(
    handle: str, intra_op: int = 0, inter_op: int = 0, tfhub_hosts: tuple[str, ...] = DEFAULT_TFHUB_HOSTS
) -> DetectionModel:
    """Thread pools, load, one warm-up inference: the model as a process serves it (load_seconds and
    warmup_seconds set)."""
    configure_threads(intra_op, inter_op)
    model = load_model(handle, tfhub_hosts)
    model.warm_up()
    return model
