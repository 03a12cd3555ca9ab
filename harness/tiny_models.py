"""Tiny real SavedModels with the two TF Hub detector signatures, built by the tests.

Their answers are simple functions of the pixels, so tests can predict them exactly:
- "Person" (COCO id 1) scores the mean red level, "Cat" (17) the mean green, "Dog" (18) the mean blue,
  each in [0, 1];
- "Portrait" (COCO id 90 in the zoo model, named "Toothbrush" by the COCO map) scores H / (H + W)
  of the array the model received, which shows whether the image was rotated, cropped or squashed;
- a "Kite" (38) row always scores 0.05, below the default threshold of 0.1.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

_BOXES = [
    [0.10, 0.10, 0.90, 0.50],
    [0.20, 0.40, 0.80, 0.95],
    [0.00, 0.00, 0.50, 0.50],
    [0.50, 0.50, 1.00, 1.00],
    [0.30, 0.30, 0.40, 0.40],
]


def _scores(images: tf.Tensor) -> tf.Tensor:
    """[5] scores in [0, 1] from a float [1, H, W, 3] batch in [0, 1]."""
    means = tf.reduce_mean(images[0], axis=[0, 1])
    shape = tf.cast(tf.shape(images), tf.float32)
    portrait = shape[1] / (shape[1] + shape[2])
    return tf.stack([means[0], means[1], means[2], portrait, tf.constant(0.05)])


class _OpenImagesStyle(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="images")])
    def detect(self, images):
        scores = _scores(images)
        order = tf.argsort(scores, direction="DESCENDING")
        entities = tf.constant([b"Person", b"Cat", b"Dog", b"Portrait", b"Kite"])
        labels = tf.constant([1, 17, 18, 90, 38], tf.int64)
        return {
            "detection_boxes": tf.gather(tf.constant(_BOXES), order),
            "detection_scores": tf.gather(scores, order),
            "detection_class_entities": tf.gather(entities, order),
            "detection_class_names": tf.strings.as_string(tf.gather(labels, order)),
            "detection_class_labels": tf.gather(labels, order),
        }


class _ZooStyle(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
    def __call__(self, input_tensor):
        scores = _scores(tf.cast(input_tensor, tf.float32) / 255.0)
        order = tf.argsort(scores, direction="DESCENDING")
        classes = tf.constant([1.0, 17.0, 18.0, 90.0, 38.0])
        pad = 100 - 5
        # Padding rows copy the TF2 OD-API exporter: box 0, score 0, class 1.0.
        boxes = tf.concat([tf.gather(tf.constant(_BOXES), order), tf.zeros([pad, 4])], 0)
        return {
            "detection_boxes": boxes[tf.newaxis],
            "detection_scores": tf.concat([tf.gather(scores, order), tf.zeros([pad])], 0)[tf.newaxis],
            "detection_classes": tf.concat([tf.gather(classes, order), tf.ones([pad])], 0)[tf.newaxis],
            "num_detections": tf.constant([5.0]),
        }


def build_openimages_style(dest: Path) -> Path:
    """Save a model with signature `default` like google/faster_rcnn/openimages_v4 at `dest`."""
    module = _OpenImagesStyle()
    tf.saved_model.save(module, str(dest), signatures={"default": module.detect})
    return dest


def build_zoo_style(dest: Path) -> Path:
    """Save a callable model with signature `serving_default` like the TF2 Detection Zoo at `dest`."""
    module = _ZooStyle()
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.__call__})
    return dest


def build_without_detection_signature(dest: Path) -> Path:
    """Save a SavedModel whose only signature is not a detector."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x * 2.0}, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.f})
    return dest
