"""reporting/accuracy.py: runs scored against runs and against a COCO file with pycocotools, on
hand-built records whose right answers are known: 1.0 against itself, 0 for boxes that miss, recall
for missed objects, labels matched by name, boxes in the truth's pixels, files matched by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.records import Record
from reporting.accuracy import label_key, score, to_coco_box, truth_from_coco, truth_from_records

CAT = [0.1, 0.1, 0.5, 0.6]  # ymin, xmin, ymax, xmax
DOG = [0.5, 0.5, 0.9, 0.95]


def rec(file: str, detections: list[tuple[str, float, list[float]]], size: tuple[int, int] = (400, 300)) -> Record:
    """An ok record with these detections, on an image of `size` (width, height)."""
    return Record(
        file=file,
        ok=True,
        detections=[{"label": label, "score": s, "box": box} for label, s, box in detections],
        image={"width": size[0], "height": size[1]},
    )


def reference() -> list[Record]:
    return [
        rec("a.jpg", [("Cat", 0.9, CAT), ("Dog", 0.6, DOG), ("Bed", 0.15, [0, 0, 1, 1])]),
        rec("b.jpg", [("Dog", 0.8, DOG)]),
        rec("c.jpg", []),
    ]


def test_a_run_scored_against_itself_gives_one() -> None:
    runs = reference()
    truth = truth_from_records("ref", runs, min_score=0.3)
    assert truth.objects == 3  # the 0.15 bed is below the threshold: not an object
    acc = score(runs, truth)
    assert acc is not None
    assert (acc.map50, acc.map, acc.recall) == (1.0, 1.0, 1.0)
    assert (acc.images, acc.objects, acc.reference) == (3, 3, "ref")


def test_boxes_that_miss_score_zero_and_shifted_boxes_lose_only_the_strict_thresholds() -> None:
    truth = truth_from_records("ref", reference(), 0.3)
    far = [rec("a.jpg", [("Cat", 0.9, DOG), ("Dog", 0.6, CAT)]), rec("b.jpg", [("Dog", 0.8, CAT)])]
    acc = score(far, truth)
    assert acc is not None and acc.map50 == 0.0 and acc.recall == 0.0
    # Every box moved by 2 % of the image: IoU about 0.85, a hit at 0.5 but not at 0.9 or 0.95.
    moved = [
        rec("a.jpg", [("Cat", 0.9, [v + 0.02 for v in CAT]), ("Dog", 0.6, [v + 0.02 for v in DOG])]),
        rec("b.jpg", [("Dog", 0.8, [v + 0.02 for v in DOG])]),
        rec("c.jpg", []),
    ]
    acc = score(moved, truth)
    assert acc is not None and acc.map50 == pytest.approx(1.0) and 0.5 < acc.map < 1.0


def test_missed_objects_lower_recall_and_map() -> None:
    truth = truth_from_records("ref", reference(), 0.3)
    run = [rec("a.jpg", [("Cat", 0.9, CAT)]), rec("b.jpg", []), rec("c.jpg", [])]
    acc = score(run, truth)
    assert acc is not None
    assert acc.recall == pytest.approx(0.5)  # cat: 1 of 1, dog: 0 of 2; averaged over the two categories
    assert acc.map50 == pytest.approx(0.5)


def test_labels_match_by_name_whatever_the_case_and_unknown_labels_are_left_out() -> None:
    truth = truth_from_records("ref", reference(), 0.3)
    run = [
        rec("a.jpg", [("cat", 0.9, CAT), ("DOG", 0.6, DOG), ("Zebra", 0.99, CAT)]),
        rec("b.jpg", [("dog", 0.8, DOG)]),
        rec("c.jpg", []),
    ]
    acc = score(run, truth)
    assert acc is not None and acc.map50 == 1.0
    assert label_key("  Traffic   Light ") == "traffic light"


def test_a_downscaled_run_is_scored_in_the_reference_image_s_pixels() -> None:
    truth = truth_from_records("ref", reference(), 0.3)
    small = [
        rec(r.file, [(d["label"], d["score"], d["box"]) for d in r.detections or []], (40, 30)) for r in reference()
    ]
    acc = score(small, truth)
    assert acc is not None and acc.map == 1.0
    assert to_coco_box([0.1, 0.2, 0.5, 0.6], width=400, height=300) == pytest.approx([80.0, 30.0, 160.0, 120.0])


def test_only_images_both_have_are_scored_and_nothing_to_score_is_none() -> None:
    truth = truth_from_records("ref", reference(), 0.3)
    acc = score([rec("a.jpg", [("Cat", 0.9, CAT), ("Dog", 0.6, DOG)]), rec("zzz.jpg", [])], truth)
    assert acc is not None and (acc.images, acc.objects, acc.map50) == (1, 2, 1.0)
    assert score([rec("c.jpg", [("Cat", 0.9, CAT)])], truth) is None  # no object on the only common image
    assert score([Record(file="a.jpg", ok=False)], truth) is None
    empty = score([rec("a.jpg", []), rec("b.jpg", [])], truth)
    assert empty is not None and (empty.map50, empty.recall) == (0.0, 0.0)


def test_a_coco_file_is_matched_by_file_name(tmp_path: Path) -> None:
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 400, "height": 300}],
        "categories": [{"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 17, "bbox": to_coco_box(CAT, 400, 300), "area": 1, "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 18, "bbox": to_coco_box(DOG, 400, 300), "area": 1, "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 18, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 1},
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    truth = truth_from_coco(path)
    assert truth.objects == 2  # the crowd region is no object
    run = [rec("photos/a.jpg", [("Cat", 0.9, CAT), ("Dog", 0.5, DOG)], (40, 30))]  # matched by its file name
    acc = score(run, truth)
    assert acc is not None and (acc.map50, acc.recall, acc.images, acc.reference) == (1.0, 1.0, 1, "instances.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(ValueError):
        truth_from_coco(bad)
