"""The heavy model the benchmark builds itself and caches outside the repository.

An Inception-ResNet-v2 backbone (54 M random weights, 640x640 input, as in the TF2 zoo's
faster_rcnn/inception_resnet_v2_640x640) behind the OpenImages-style `default` signature. It stands
in for the default TF Hub model, which cannot be downloaded here: same call contract, about a
second of real compute per image on 2 cores, so service overhead is measured against real work.

Building imports TensorFlow; `python -m bench.models heavy DEST` builds the heavy model in its own
process so the benchmark process does not keep Keras and the build's memory around.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("OBJDET_BENCH_CACHE", Path.home() / ".cache" / "objdet-bench"))
HEAVY_VERSION = "irv2-640-v1"
HEAVY_SIDE = 640
_LABELS = REPO / "detector" / "coco_labels.txt"


def _label_names() -> list[bytes]:
    names = [line.split(" ", 1)[1].strip() for line in _LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [n.encode("utf-8") for n in names]


def _save_atomic(dest: Path, save) -> Path:
    """Save into a temporary sibling folder and rename it into place, so a killed build leaves no half model."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        save(tmp / "model")
        os.replace(tmp / "model", dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def build_heavy(dest: Path) -> Path:
    """Save the heavy stand-in model (OpenImages-style signature) at `dest`."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    backbone = keras.applications.InceptionResNetV2(
        weights=None, include_top=False, input_shape=(HEAVY_SIDE, HEAVY_SIDE, 3)
    )
    names = tf.constant(_label_names())
    rng = np.random.default_rng(0)

    class Heavy(tf.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.class_w = tf.Variable(rng.standard_normal((1536, 100)).astype(np.float32) / 40)
            self.box_w = tf.Variable(rng.standard_normal((1536, 400)).astype(np.float32) / 40)

        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="images")])
        def detect(self, images):
            x = tf.image.resize(images, (HEAVY_SIDE, HEAVY_SIDE)) * 2.0 - 1.0
            pooled = tf.reduce_mean(self.backbone(x, training=False), axis=[1, 2])
            logits = tf.matmul(pooled, self.class_w)[0]
            order = tf.argsort(logits, direction="DESCENDING")
            # Scores fall with rank, so about a dozen pass the default threshold, like a real photo.
            rank = tf.cast(tf.range(100), tf.float32)
            scores = tf.minimum(1.8 * tf.exp(-rank / 5.0) * tf.sigmoid(tf.gather(logits, order)), 1.0)
            raw = tf.sigmoid(tf.reshape(tf.matmul(pooled, self.box_w)[0], [100, 4]))
            boxes = tf.stack(
                [
                    tf.minimum(raw[:, 0], raw[:, 2]),
                    tf.minimum(raw[:, 1], raw[:, 3]),
                    tf.maximum(raw[:, 0], raw[:, 2]),
                    tf.maximum(raw[:, 1], raw[:, 3]),
                ],
                axis=1,
            )
            ids = order % tf.size(names)
            return {
                "detection_boxes": boxes,
                "detection_scores": scores,
                "detection_class_entities": tf.gather(names, ids),
                "detection_class_names": tf.strings.as_string(ids),
                "detection_class_labels": tf.cast(ids, tf.int64),
            }

    module = Heavy()
    module.detect(tf.zeros([1, 64, 64, 3]))
    return _save_atomic(
        dest, lambda path: tf.saved_model.save(module, str(path), signatures={"default": module.detect})
    )


def heavy_dir(cache: Path = CACHE_DIR) -> Path:
    """Where the heavy model is cached (one folder per model version and TensorFlow version)."""
    from importlib import metadata

    return cache / f"heavy-{HEAVY_VERSION}-tf{metadata.version('tensorflow')}"


def ensure_heavy(cache: Path = CACHE_DIR) -> Path:
    """The heavy model's folder, built first (in a child process, about a minute) if not cached."""
    dest = heavy_dir(cache)
    if not (dest / "saved_model.pb").is_file():
        print(f"building the heavy model into {dest} (once; about a minute)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "bench.models", "heavy", str(dest)], cwd=REPO, check=True)
    return dest


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if len(sys.argv) != 3 or sys.argv[1] != "heavy":
        sys.exit("usage: python -m bench.models heavy DEST")
    build_heavy(Path(sys.argv[2]))
