"""client/records.py on its own: the Record type, RecordLog, reading and repairing logs, final records."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from client.records import Record, RecordLog, final_records, ok_files, read_records, repair_tail, stage_seconds


def full_record(file: str = "a/img-0001.jpg") -> Record:
    """A record with every field set to something other than its default."""
    return Record(
        run="20260101T000000Z-123",
        label="cluster",
        mode="upload",
        per_node=2,
        bandwidth_mbps=1.1,
        file=file,
        size=12345,
        node="10.0.0.1:5000",
        host="node-1",
        ok=True,
        status=200,
        error=None,
        attempts=2,
        tried=["10.0.0.2:5000", "10.0.0.1:5000"],
        bytes_sent=12345,
        request_bytes=12600,
        round_trip=0.75,
        timings={"decode": 0.01, "inference": 0.5, "total": 0.6},
        transfer=0.15,
        started_at=1767225600.25,
        finished_at=1767225601.0,
        objects_found=2,
        labels=["Cat", "Café"],
        scores=[0.91, 0.42],
        result_path="/output/a/img-0001.json",
    )


def write_log(path: Path, records: list[Record]) -> None:
    """Write `records` with a RecordLog and close it."""
    log = RecordLog(path)
    for record in records:
        log.write(record)
    log.close()


def test_a_record_written_by_record_log_reads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "run.jsonl"  # the folder does not exist yet
    record = full_record()
    write_log(path, [record, Record(file="b.jpg")])
    assert read_records(path) == [record, Record(file="b.jpg")]


def test_each_record_is_one_json_line_with_the_keys_in_field_order(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_log(path, [full_record(), full_record("c.jpg")])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == list(full_record().to_dict())
    assert list(first)[:2] == ["run", "label"]
    assert first["labels"] == ["Cat", "Café"]
    assert "Café" in lines[0]  # written as UTF-8, not \\u escapes


def test_from_dict_ignores_unknown_keys_and_defaults_missing_ones() -> None:
    old_line = {"file": "x.jpg", "ok": True, "node": "a:1", "round_trip": 0.5, "a_key_from_the_future": [1, 2]}
    record = Record.from_dict(old_line)
    assert record == Record(file="x.jpg", ok=True, node="a:1", round_trip=0.5)
    assert record.per_node == 1
    assert record.tried == []
    assert record.timings is None
    assert record.run == ""


def test_stage_seconds_reads_one_node_stage_and_none_when_a_record_has_no_timings() -> None:
    inference = stage_seconds("inference")
    assert inference(Record(file="x.jpg", timings={"inference": 0.25, "total": 0.3})) == 0.25
    assert inference(Record(file="x.jpg", timings={"total": 0.3})) is None
    assert inference(Record(file="x.jpg")) is None


def test_read_records_understands_an_older_log_without_newer_keys(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text('{"file": "x.jpg", "ok": false, "error": "timeout", "retired_key": 1}\n', encoding="utf-8")
    assert read_records(path) == [Record(file="x.jpg", ok=False, error="timeout")]


def test_read_records_skips_a_torn_last_line_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.jsonl"
    write_log(path, [full_record("a.jpg"), full_record("b.jpg")])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"run":"r","file":"c.jpg","ok":tr')
    records = read_records(path)
    assert [r.file for r in records] == ["a.jpg", "b.jpg"]
    err = capsys.readouterr().err
    assert f"{path}:3:" in err
    assert "skipped" in err
    assert f"{path}:1:" not in err and f"{path}:2:" not in err


def test_read_records_skips_lines_that_are_json_but_not_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('[1, 2]\n{"ok": true}\n{"file": 7}\n\n{"file": "good.jpg"}\n', encoding="utf-8")
    assert read_records(path) == [Record(file="good.jpg")]
    err = capsys.readouterr().err
    assert [f"{path}:{n}:" in err for n in (1, 2, 3, 4, 5)] == [True, True, True, False, False]


def test_read_records_without_warn_is_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"file": "a.jpg"}\n{"file": "b.j', encoding="utf-8")
    assert read_records(path, warn=False) == [Record(file="a.jpg")]
    assert capsys.readouterr().err == ""


def test_repair_tail_cuts_a_torn_last_line_and_returns_the_bytes_removed(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_log(path, [full_record("a.jpg"), full_record("b.jpg")])
    clean = path.read_bytes()
    torn = '{"run":"r","file":"c.jpg","labels":["Café'.encode()
    with open(path, "ab") as fh:
        fh.write(torn)
    assert repair_tail(path) == len(torn)
    assert path.read_bytes() == clean


def test_records_appended_after_repair_tail_start_on_a_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"file": "a.jpg", "ok": true}\n{"file": "b.jpg", "o', encoding="utf-8")
    repair_tail(path)
    write_log(path, [Record(file="b.jpg", ok=True)])
    assert [(r.file, r.ok) for r in read_records(path)] == [("a.jpg", True), ("b.jpg", True)]
    assert capsys.readouterr().err == ""


def test_repair_tail_leaves_a_clean_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_log(path, [full_record("a.jpg")])
    before = path.read_bytes()
    assert repair_tail(path) == 0
    assert path.read_bytes() == before


def test_repair_tail_empties_a_log_whose_only_line_is_torn(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"file": "a.j')
    assert repair_tail(path) == 13
    assert path.read_bytes() == b""


def test_repair_tail_of_a_missing_or_empty_log_removes_nothing(tmp_path: Path) -> None:
    assert repair_tail(tmp_path / "missing.jsonl") == 0
    assert not (tmp_path / "missing.jsonl").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert repair_tail(empty) == 0
    assert empty.read_bytes() == b""


def test_final_records_keeps_an_ok_record_over_a_later_failure() -> None:
    ok = Record(file="a.jpg", ok=True, run="r1")
    later_failure = Record(file="a.jpg", ok=False, error="timeout", run="r2")
    assert final_records([ok, later_failure]) == [ok]


def test_final_records_keeps_the_last_record_otherwise() -> None:
    first_failure = Record(file="a.jpg", ok=False, error="refused", run="r1")
    second_failure = Record(file="a.jpg", ok=False, error="timeout", run="r2")
    retried_ok = Record(file="b.jpg", ok=True, run="r2")
    b_failure = Record(file="b.jpg", ok=False, run="r1")
    ok_again = Record(file="c.jpg", ok=True, run="r1", round_trip=1.0)
    newer_ok = Record(file="c.jpg", ok=True, run="r2", round_trip=2.0)
    chosen = final_records([first_failure, b_failure, ok_again, second_failure, retried_ok, newer_ok])
    assert chosen == [second_failure, retried_ok, newer_ok]


def test_ok_files_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert ok_files(tmp_path / "never-written.jsonl") == set()


def test_ok_files_lists_the_files_with_an_ok_record(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_log(
        path,
        [
            Record(file="a.jpg", ok=True),
            Record(file="b.jpg", ok=False),
            Record(file="c.jpg", ok=False),
            Record(file="c.jpg", ok=True),
            Record(file="a.jpg", ok=False),
        ],
    )
    assert ok_files(path) == {"a.jpg", "c.jpg"}


def test_add_result_takes_the_result_fields_and_computes_the_transfer_share() -> None:
    record = Record(file="a.jpg", round_trip=0.4)
    record.add_result(
        {
            "node": "node-2",
            "timings": {"decode": 0.02, "inference": 0.2, "total": 0.25},
            "objects_found": 3,
            "detection_class_entities": ["Cat", "Dog", "Cat"],
            "detection_scores": [0.9, 0.8, 0.7],
            "result_path": "/output/a.json",
            "image": "ignored.jpg",
        }
    )
    assert record.host == "node-2"
    assert record.timings == {"decode": 0.02, "inference": 0.2, "total": 0.25}
    assert record.server_total == 0.25
    assert record.objects_found == 3
    assert record.labels == ["Cat", "Dog", "Cat"]
    assert record.scores == [0.9, 0.8, 0.7]
    assert record.result_path == "/output/a.json"
    assert record.transfer == 0.15  # round_trip - timings.total, to the microsecond


def test_add_result_rounds_the_transfer_to_the_microsecond() -> None:
    record = Record(file="a.jpg", round_trip=1.23456789)
    record.add_result({"timings": {"total": 1.0}})
    assert record.transfer == 0.234568


def test_add_result_leaves_the_transfer_unset_without_a_server_total_or_a_round_trip() -> None:
    no_timings = Record(file="a.jpg", round_trip=0.4)
    no_timings.add_result({"node": "node-1", "objects_found": 0})
    assert no_timings.host == "node-1"
    assert no_timings.objects_found == 0
    assert no_timings.timings is None
    assert no_timings.transfer is None
    no_round_trip = Record(file="b.jpg")
    no_round_trip.add_result({"timings": {"total": 0.3}})
    assert no_round_trip.server_total == 0.3
    assert no_round_trip.transfer is None


def test_record_log_written_from_many_threads_has_one_complete_line_per_record(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    log = RecordLog(path)
    threads, per_thread = 8, 100
    barrier = threading.Barrier(threads)

    def write(k: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            record = full_record(f"t{k}/img-{i:03d}.jpg")
            record.labels = [f"label-{k}-{i}"] * 50  # long lines, so a torn write would show
            log.write(record)

    workers = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    log.close()
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")[:-1]
    assert len(lines) == threads * per_thread
    parsed = [json.loads(line) for line in lines]
    assert sorted(p["file"] for p in parsed) == sorted(
        f"t{k}/img-{i:03d}.jpg" for k in range(threads) for i in range(per_thread)
    )
    assert all(p["labels"] == [f"label-{p['file'][1]}-{int(p['file'][-7:-4])}"] * 50 for p in parsed)


def test_writes_after_close_are_dropped_without_error(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    log = RecordLog(path)
    log.write(Record(file="a.jpg"))
    log.close()
    before = path.read_bytes()
    log.write(Record(file="late.jpg"))  # a request finishing after Ctrl-C closed the log
    log.close()  # closing twice is harmless too
    assert path.read_bytes() == before
    assert read_records(path) == [Record(file="a.jpg")]


def test_record_log_appends_to_an_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_log(path, [Record(file="a.jpg", run="r1")])
    write_log(path, [Record(file="b.jpg", run="r2")])
    assert [(r.file, r.run) for r in read_records(path)] == [("a.jpg", "r1"), ("b.jpg", "r2")]
