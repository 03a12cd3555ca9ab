"""detector.pipeline: the record, the files on disk, thresholds and timings."""

from __future__ import annotations

import json
import threading
import time

import pytest

from detector import STAGES, Detector, DetectorOptions, OutputTarget
from detector.slots import InferenceSlots, Reservation


@pytest.fixture
def detector(tiny_models):
    return Detector(tiny_models["openimages"], DetectorOptions(min_score=0.1, max_boxes=10), node="test-node")


def test_process_writes_json_identical_to_the_returned_bytes(detector, images_dir, tmp_path):
    target = OutputTarget(json=tmp_path / "out" / "red.jpg.json", image=tmp_path / "out" / "red.jpg")
    record, data = detector.process(images_dir / "red.jpg", target, "red.jpg", "red.jpg")
    assert target.json.read_bytes() == data
    assert json.loads(data) == record
    assert record["objects_found"] == len(record["detections"]) == 2  # Person (red) + Portrait (0.43)
    assert record["detection_class_entities"] == ["Person", "Portrait"]
    assert record["detection_scores"][0] == pytest.approx(1.0, abs=0.01)
    assert target.image is not None and target.image.is_file()
    assert record["annotated_image_path"] == str(target.image)
    assert record["image"] == {"width": 320, "height": 240}
    assert record["node"] == "test-node" and record["model"]["family"] == "openimages"
    assert set(record["timings"]) == set(STAGES)
    assert record["inference_time"] == record["timings"]["inference"]
    assert record["total_det_loop_time"] == record["timings"]["total"]
    stages = record["timings"]
    assert stages["total"] >= stages["decode"] + stages["inference"] + stages["annotate"] + stages["write"]
    assert all(stages[s] > 0 for s in STAGES if s != "queue")
    assert stages["queue"] == 0.0  # no inference slots given: nothing to wait for
    assert sorted(p.name for p in target.json.parent.iterdir()) == ["red.jpg", "red.jpg.json"]  # no temp files left


def test_no_annotated_image_when_not_asked(detector, images_dir, tmp_path):
    target = OutputTarget(json=tmp_path / "out" / "grey.png.json")
    record, _ = detector.process(images_dir / "grey.png", target, "grey.png", "grey.png")
    assert record["annotated_image_path"] == ""
    assert record["timings"]["annotate"] == 0 and record["timings"]["write"] == 0
    assert [p.name for p in target.json.parent.iterdir()] == ["grey.png.json"]


def test_min_score_filters_and_scores_are_sorted(tiny_models, images_dir):
    low = Detector(tiny_models["openimages"], DetectorOptions(min_score=0.0)).detect(images_dir / "grey.png")
    assert [d.label for d in low.detections][-1] == "Kite"  # 0.05: kept at 0.0
    default = Detector(tiny_models["openimages"]).detect(images_dir / "grey.png")
    assert "Kite" not in [d.label for d in default.detections]
    scores = [d.score for d in low.detections]
    assert scores == sorted(scores, reverse=True)


def test_annotated_image_has_the_input_size_even_when_downscaled_for_the_model(tiny_models, images_dir, tmp_path):
    from PIL import Image

    detector = Detector(tiny_models["openimages"], DetectorOptions(max_image_side=100))
    run = detector.detect(images_dir / "exif_rotated.jpg", annotate_to=tmp_path / "rot.jpg")
    with Image.open(tmp_path / "rot.jpg") as annotated:
        assert annotated.size == (100, 200)  # EXIF-rotated, full size
    portrait = {d.label: d.score for d in run.detections}["Portrait"]
    assert portrait == pytest.approx(2 / 3, abs=0.01)  # the model saw the rotated image, uncropped


def test_png_and_unknown_formats_keep_a_readable_annotated_copy(detector, images_dir, tmp_path):
    from detector import annotated_name

    assert annotated_name("x.png") == "x.png" and annotated_name("x.gif") == "x.gif.png"
    target = OutputTarget(json=tmp_path / "p.gif.json", image=tmp_path / annotated_name("p.gif"))
    detector.process(images_dir / "palette.gif", target, "palette.gif", "palette.gif")
    from PIL import Image

    assert target.image is not None
    with Image.open(target.image) as im:
        assert im.format == "PNG" and im.size == (120, 80)


def test_with_a_reservation_the_model_waits_for_its_slot_and_the_wait_is_the_queue_stage(
    detector, images_dir, tmp_path
):
    slots = InferenceSlots(concurrency=1)
    target = OutputTarget(json=tmp_path / "q" / "red.jpg.json")
    with slots.reserve() as first:
        holder = threading.Thread(target=_hold, args=(first, 0.3))
        holder.start()
        time.sleep(0.05)  # the slot is taken for 0.3 s
        with slots.reserve() as second:
            record, _ = detector.process(images_dir / "red.jpg", target, "red.jpg", "red.jpg", reservation=second)
        holder.join()
    assert record["timings"]["queue"] == pytest.approx(0.25, abs=0.1)
    assert slots.snapshot().busy == slots.snapshot().waiting == 0


def _hold(reservation: Reservation, seconds: float) -> None:
    with reservation.slot():
        time.sleep(seconds)
