"""Accuracy of a run from its log alone: its detections scored against a reference run's detections
(pseudo ground truth) or against a COCO instances file, with pycocotools' COCOeval.

Any run can be scored against any other run or ground truth, by file name:

- `truth_from_records(name, records, min_score)`: the reference run's detections with a score of at
  least `min_score` become the ground truth (DEFAULT_TRUTH_MIN_SCORE unless told).
- `truth_from_coco(path)`: a COCO instances JSON (`images`, `annotations`, `categories`); its images are
  matched to records by relative path, else by file name.
- `score(records, truth)`: mAP@0.5, mAP@[.5:.95] and recall at IoU 0.5 of one run's detections.

Boxes: records keep them normalised, [ymin, xmin, ymax, xmax]; COCO wants [x, y, w, h] in pixels. Both
the truth's and the run's boxes are put in the pixels of the truth's image (the reference run's
`image` size, or the COCO file's width and height): a downscaled upload keeps the aspect ratio, so its
normalised boxes land in the same frame. Labels map to category ids by name, case and spacing ignored
("TV" = "tv"), through the truth's own table, so every run scored against one truth uses the same ids;
a detection whose label the truth does not have is left out (COCO scores only the truth's categories).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from client.records import Record

# Reference detections at or above this score count as objects. A node's MIN_SCORE (0.1 by default)
# lets the reference's own guesses in ("Dog 0.24" on a cat), and a run would be marked down for not
# repeating them; 0.3 keeps what a person sees in the shared photos and little else.
DEFAULT_TRUTH_MIN_SCORE = 0.3


def label_key(label: str) -> str:
    """A label as category names are compared: lower case, single spaces."""
    return " ".join(label.lower().split())


def to_coco_box(box: list[float], width: int, height: int) -> list[float]:
    """Normalised [ymin, xmin, ymax, xmax] to COCO [x, y, w, h] in pixels of a `width` x `height` image."""
    ymin, xmin, ymax, xmax = box
    return [xmin * width, ymin * height, max(0.0, (xmax - xmin) * width), max(0.0, (ymax - ymin) * height)]


@dataclass
class TruthImage:
    """The objects of one image: its size in pixels and (category id, COCO box) per object."""

    width: int
    height: int
    objects: list[tuple[int, list[float]]] = field(default_factory=list)


@dataclass
class Truth:
    """Ground truth to score runs against, by file; `categories` maps label_key(name) to a category id."""

    name: str  # what the report calls it: the reference run's label, or the file's name
    images: dict[str, TruthImage]
    categories: dict[str, int]
    names: dict[int, str] = field(default_factory=dict)  # category id -> the name as the truth spells it
    by_basename: dict[str, str] = field(default_factory=dict)  # file name -> key, for names that are unique
    min_score: float | None = None  # a reference run's threshold (None for a ground-truth file)

    @property
    def objects(self) -> int:
        """Objects over all images."""
        return sum(len(i.objects) for i in self.images.values())

    def key_of(self, file: str) -> str | None:
        """The truth's key for a record's `file`: the same relative path, else the same unique file name."""
        if file in self.images:
            return file
        return self.by_basename.get(Path(file).name)


def _basenames(keys: Iterable[str]) -> dict[str, str]:
    seen: dict[str, list[str]] = {}
    for key in keys:
        seen.setdefault(Path(key).name, []).append(key)
    return {name: found[0] for name, found in seen.items() if len(found) == 1}


def truth_from_records(name: str, records: Iterable[Record], min_score: float = DEFAULT_TRUTH_MIN_SCORE) -> Truth:
    """Pseudo ground truth from a run: each ok image's detections with score >= min_score.

    Category ids are given in order of the sorted label names, so they do not depend on record order.
    """
    kept: dict[str, tuple[int, int, list[tuple[str, list[float]]]]] = {}
    for r in records:
        if not r.ok or r.detections is None or not r.image:
            continue
        objects = [(d["label"], d["box"]) for d in r.detections if d["score"] >= min_score]
        kept[r.file] = (int(r.image["width"]), int(r.image["height"]), objects)
    labels = sorted({label_key(label) for _, _, objects in kept.values() for label, _ in objects})
    categories = {label: i for i, label in enumerate(labels, 1)}
    spelled: dict[int, str] = {}
    images = {}
    for file, (width, height, objects) in kept.items():
        image = TruthImage(width, height)
        for label, box in objects:
            cid = categories[label_key(label)]
            spelled.setdefault(cid, label)
            image.objects.append((cid, to_coco_box(box, width, height)))
        images[file] = image
    return Truth(name, images, categories, spelled, _basenames(images), min_score)


def truth_from_coco(path: Path) -> Truth:
    """Ground truth from a COCO instances JSON; crowd annotations are left out (COCO ignores them too)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise ValueError(f"{path}: not a COCO instances file (needs the lists `images` and `categories`)")
    categories = {label_key(c["name"]): int(c["id"]) for c in data["categories"]}
    names = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    by_id = {}
    images: dict[str, TruthImage] = {}
    for im in data["images"]:
        key = str(im["file_name"])
        images[key] = TruthImage(int(im["width"]), int(im["height"]))
        by_id[im["id"]] = images[key]
    for ann in data.get("annotations") or []:
        if ann.get("iscrowd") or ann["image_id"] not in by_id or int(ann["category_id"]) not in names:
            continue
        by_id[ann["image_id"]].objects.append((int(ann["category_id"]), [float(v) for v in ann["bbox"]]))
    return Truth(path.name, images, categories, names, _basenames(images))


@dataclass(frozen=True)
class Accuracy:
    """One run scored against one truth."""

    reference: str  # the truth's name
    map50: float  # mAP at IoU 0.5
    map: float  # mAP averaged over IoU 0.50:0.05:0.95 (COCO's AP)
    recall: float  # recall at IoU 0.5 with up to 100 detections per image, averaged over categories
    images: int  # images scored: in the truth and processed ok by the run
    objects: int  # truth objects on those images

    def as_dict(self) -> dict[str, Any]:
        """The `accuracy` object of summary.json."""
        return {
            "reference": self.reference,
            "map50": round(self.map50, 4),
            "map": round(self.map, 4),
            "recall": round(self.recall, 4),
            "images": self.images,
            "objects": self.objects,
        }


def _quiet(call: Any, *args: Any) -> Any:
    """pycocotools prints its progress on stdout: keep it out of the report's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args)


def score(records: Iterable[Record], truth: Truth) -> Accuracy | None:
    """Score a run's ok records against `truth` over the images both have; None when there is nothing to
    score (no image in common, or no truth object on those images)."""
    pairs = []
    for r in records:
        key = truth.key_of(r.file) if r.ok and r.detections is not None else None
        if key is not None:
            pairs.append((key, r))
    pairs = list({key: (key, r) for key, r in pairs}.values())  # one record per truth image
    objects = sum(len(truth.images[key].objects) for key, _ in pairs)
    if not pairs or objects == 0:
        return None
    gt_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for image_id, (key, r) in enumerate(pairs, 1):
        image = truth.images[key]
        gt_images.append({"id": image_id, "width": image.width, "height": image.height})
        for cid, box in image.objects:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cid,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
        for d in r.detections or []:
            found = truth.categories.get(label_key(d["label"]))
            if found is not None:
                detections.append(
                    {
                        "image_id": image_id,
                        "category_id": found,
                        "bbox": to_coco_box(d["box"], image.width, image.height),
                        "score": float(d["score"]),
                    }
                )
    used: list[int] = sorted({int(a["category_id"]) for a in annotations})
    if not detections:
        return Accuracy(truth.name, 0.0, 0.0, 0.0, len(pairs), objects)
    gt = COCO()
    gt.dataset = {
        "images": gt_images,
        "annotations": annotations,
        "categories": [{"id": cid, "name": truth.names.get(cid, str(cid))} for cid in used],
    }
    _quiet(gt.createIndex)
    dt = _quiet(gt.loadRes, detections)
    evaluation = COCOeval(gt, dt, "bbox")
    evaluation.params.catIds = used
    _quiet(evaluation.evaluate)
    _quiet(evaluation.accumulate)
    _quiet(evaluation.summarize)
    # eval["recall"] is [IoU threshold, category, area range, max detections]: IoU 0.5, all areas, 100.
    recall = np.asarray(evaluation.eval["recall"])[0, :, 0, -1]
    recall = recall[recall > -1]
    stats = evaluation.stats
    # Rounded to 6 decimals: COCOeval's sums leave 0.9999999999999999 where every detection matches.
    return Accuracy(
        reference=truth.name,
        map50=round(max(0.0, float(stats[1])), 6),
        map=round(max(0.0, float(stats[0])), 6),
        recall=round(float(np.mean(recall)), 6) if recall.size else 0.0,
        images=len(pairs),
        objects=objects,
    )


def fmt(value: float | None) -> str:
    """Three decimals, or `-`."""
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"
