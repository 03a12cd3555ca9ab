"""app/listing.py's index on real folders: newest first, and the work a refresh does is bounded by what changed
(folders statted, changed folders listed, new files statted), not by how many files there are."""

from __future__ import annotations

import os
from pathlib import Path

from app.listing import ResultIndex, kind_of
from detector.outputs import write_bytes_atomic

FILES_PER_FOLDER = 2000


def _touch(path: Path, ns: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    os.utime(path, ns=(ns, ns))


def _age(root: Path, ns: int = 10**18) -> None:
    """Give every folder under (and including) `root` an old modification time, as folders not written lately."""
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]:
        os.utime(folder, ns=(ns, ns))


def _paths(index: ResultIndex, kind: str = "result", limit: int = 10_000) -> list[str]:
    return [entry.path for entry in index.page(kind, 0, limit)[0]]


def test_kinds():
    assert kind_of("a.jpg.json") == "result" and kind_of("report.html") == "report"
    assert kind_of("a.jsonl") is None and kind_of("a.jpg") is None and kind_of("other.html") is None


def test_newest_first_ties_by_path_and_paged(tmp_path: Path):
    base = 1_700_000_000 * 10**9
    _touch(tmp_path / "b.json", base + 2)
    _touch(tmp_path / "a.json", base + 2)
    _touch(tmp_path / "x" / "y" / "old.json", base)
    _touch(tmp_path / "new.json", base + 5)
    _touch(tmp_path / "r" / "report.html", base + 1)
    index = ResultIndex(tmp_path)
    index.refresh()
    assert _paths(index) == ["new.json", "a.json", "b.json", "x/y/old.json"]
    assert _paths(index, "report") == ["r/report.html"]
    page, total = index.page("result", 1, 2)
    assert [e.path for e in page] == ["a.json", "b.json"] and total == 4
    assert index.page("result", 10, 2) == ([], 4)


def test_a_refresh_after_one_new_file_stats_only_the_folders_and_that_file(tmp_path: Path):
    folders = [tmp_path / "uploads", tmp_path / "a", tmp_path / "a" / "b"]
    for folder in folders:
        for i in range(FILES_PER_FOLDER):
            _touch(folder / f"img-{i:05d}.jpg.json", 10**18 + i)
        (folder / "img.jpg").write_bytes(b"not listed: an annotated image")
    _age(tmp_path)
    index = ResultIndex(tmp_path)
    first = index.refresh()
    assert first.stats == 3 * FILES_PER_FOLDER and first.listed == 4  # the first refresh reads everything once
    assert len(_paths(index)) == 3 * FILES_PER_FOLDER

    quiet = index.refresh()
    assert (quiet.folders, quiet.listed, quiet.stats) == (4, 0, 0)  # nothing changed: one stat per folder

    write_bytes_atomic(b"{}", tmp_path / "uploads" / "newest.jpg.json")  # as a node writes a result
    after = index.refresh()
    assert (after.folders, after.listed, after.stats) == (4, 1, 1)
    assert _paths(index)[0] == "uploads/newest.jpg.json"

    # uploads/ changed just now: it is listed again until its time is older than the racy window (names only).
    again = index.refresh()
    assert (again.folders, again.listed, again.stats) == (4, 1, 0)


def test_a_change_that_leaves_a_recent_folder_time_as_it_was_is_still_seen(tmp_path: Path):
    _touch(tmp_path / "a.json", 10**18)
    index = ResultIndex(tmp_path)
    index.refresh()
    same = os.stat(tmp_path).st_mtime_ns  # recent: the folder was just written
    write_bytes_atomic(b"{}", tmp_path / "b.json")
    os.utime(tmp_path, ns=(same, same))  # as a coarse clock would leave it
    index.refresh()
    assert "b.json" in _paths(index)


def test_a_rewritten_result_moves_to_the_top_and_a_removed_one_disappears(tmp_path: Path):
    for i in range(5):
        _touch(tmp_path / f"r{i}.json", 10**18 + i)
    _touch(tmp_path / "gone" / "g.json", 10**18 + 10)
    _age(tmp_path)
    index = ResultIndex(tmp_path)
    index.refresh()
    assert _paths(index)[0] == "gone/g.json"
    write_bytes_atomic(b'{"again": 1}', tmp_path / "r0.json")  # the same image detected again: a new inode
    (tmp_path / "gone" / "g.json").unlink()
    (tmp_path / "gone").rmdir()
    scan = index.refresh()
    assert scan.stats == 1
    assert _paths(index) == ["r0.json", "r4.json", "r3.json", "r2.json", "r1.json"]


def test_hidden_files_links_and_other_files_are_never_listed(tmp_path: Path):
    outside = tmp_path / "outside"
    _touch(outside / "secret.json", 10**18)
    root = tmp_path / "out"
    _touch(root / "ok.json", 10**18)
    _touch(root / ".r.json.abc.tmp", 10**18)
    _touch(root / ".hidden" / "h.json", 10**18)
    (root / "link.json").symlink_to(outside / "secret.json")
    (root / "linked-dir").symlink_to(outside)
    os.mkfifo(root / "fifo.json")
    (root / "log.jsonl").write_text("{}\n")
    index = ResultIndex(root)
    index.refresh()
    assert _paths(index) == ["ok.json"]
