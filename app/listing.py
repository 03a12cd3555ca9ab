"""GET /api/results: the result JSON and report.html files under OUTPUT_DIR, newest first, a page at a time.

Each worker keeps an index of those files (path, modification time, size), brought up to date on each
listing request without statting the whole tree: a folder whose own modification time and inode are
the ones seen last time is taken from the index as it was (its files are not looked at); a changed
folder is listed by name only (os.scandir: no stat) and only names whose inode is new are statted.
Results are written by renaming a temporary file over the final name (detector/outputs.py), which
changes the folder's modification time and gives the file a new inode, so a new or rewritten result is
seen. A folder modified in the last RACY_NS is listed again on every refresh: a second change within
the file system's timestamp granularity may leave its time as it was.

Per request that is one stat per folder, one listing per changed (or recently changed) folder, one stat
per new or replaced file, and the page's own JSON files read (at most MAX_LIMIT of them, each at most
MAX_JSON_BYTES); the first request of a worker stats every file once. Hidden names (temporary files)
and links are skipped.
"""

from __future__ import annotations

import bisect
import json
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app.errors import ApiError
from detector.outputs import result_url

bp = Blueprint("listing", __name__, url_prefix="/api")

KINDS = ("result", "report")
REPORT_NAME = "report.html"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000_000
MAX_JSON_BYTES = 1024 * 1024
MAX_LABELS = 10
# A folder changed this recently may change again within the file system's timestamp granularity without
# its modification time moving: such a folder is listed again on the next refresh (as git does with racy files).
RACY_NS = 2 * 10**9
ALLOWED_PARAMS = {"kind", "offset", "limit"}


def kind_of(name: str) -> str | None:
    """`result` for a .json file, `report` for report.html, None for anything else."""
    if name.endswith(".json"):
        return "result"
    if name == REPORT_NAME:
        return "report"
    return None


@dataclass(frozen=True)
class Entry:
    """One listed file: its path under the root (POSIX), kind, modification time (ns) and size."""

    path: str
    kind: str
    mtime_ns: int
    size: int


@dataclass
class _Folder:
    """What the index knows of one folder: its identity when last listed, its files by name, its subfolders."""

    mtime_ns: int
    inode: int
    racy: bool  # modified so recently when listed that a later change might not move mtime_ns
    files: dict[str, tuple[int, Entry]] = field(default_factory=dict)  # name -> (inode, entry)
    subfolders: list[str] = field(default_factory=list)


@dataclass
class ScanStats:
    """The work one refresh did: folders statted, folders listed, files statted."""

    folders: int = 0
    listed: int = 0
    stats: int = 0


class ResultIndex:
    """The listed files under one root, newest first per kind, kept up to date incrementally (thread-safe)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = os.path.realpath(root)
        self._folders: dict[str, _Folder] = {}
        # Per kind, (-mtime_ns, path) in ascending order, i.e. newest first; tuples compare in C.
        self._order: dict[str, list[tuple[int, str]]] = {kind: [] for kind in KINDS}
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self.last_scan = ScanStats()

    def refresh(self) -> ScanStats:
        """Bring the index up to date with the disk; the work it took."""
        with self._lock:
            scan = ScanStats()
            seen: dict[str, _Folder] = {}
            added: list[Entry] = []
            removed: list[Entry] = []
            self._walk(scan, seen, added, removed)
            for rel in self._folders.keys() - seen.keys():  # folders that are gone, with their files
                removed.extend(entry for _, entry in self._folders[rel].files.values())
            self._folders = seen
            self._update(added, removed)
            self.last_scan = scan
            return scan

    def _update(self, added: list[Entry], removed: list[Entry]) -> None:
        for kind in KINDS:
            order = self._order[kind]
            gone = {(-e.mtime_ns, e.path) for e in removed if e.kind == kind}
            if gone:
                order = [key for key in order if key not in gone]
            new = [(-e.mtime_ns, e.path) for e in added if e.kind == kind]
            if len(new) < 100:
                for key in new:
                    bisect.insort(order, key)
            else:
                order.extend(new)
                order.sort()
            self._order[kind] = order
        for entry in removed:
            self._entries.pop(entry.path, None)
        for entry in added:
            self._entries[entry.path] = entry

    def _walk(self, scan: ScanStats, seen: dict[str, _Folder], added: list[Entry], removed: list[Entry]) -> None:
        pending = [""]
        while pending:
            rel = pending.pop()
            path = os.path.join(self.root, rel) if rel else self.root
            try:
                info = os.stat(path, follow_symlinks=False)
            except OSError:
                continue  # removed while we looked
            scan.folders += 1
            if not stat.S_ISDIR(info.st_mode):
                continue
            known = self._folders.get(rel)
            unchanged = known is not None and (known.mtime_ns, known.inode) == (info.st_mtime_ns, info.st_ino)
            if known is not None and unchanged and not known.racy:
                folder = known
            else:
                folder = self._list(rel, path, info, known, scan, added, removed)
            seen[rel] = folder
            pending.extend(folder.subfolders)

    def _list(
        self,
        rel: str,
        path: str,
        info: os.stat_result,
        known: _Folder | None,
        scan: ScanStats,
        added: list[Entry],
        removed: list[Entry],
    ) -> _Folder:
        scan.listed += 1
        folder = _Folder(info.st_mtime_ns, info.st_ino, racy=info.st_mtime_ns > time.time_ns() - RACY_NS)
        old = known.files if known is not None else {}
        files = folder.files
        try:
            with os.scandir(path) as entries:
                for item in entries:
                    name = item.name
                    if name.startswith("."):
                        continue  # temporary files of writes in progress, and anything hidden
                    try:
                        inode = item.inode()
                        previous = old.get(name)
                        if previous is not None and previous[0] == inode:
                            files[name] = previous  # the same file as last time: nothing to look at
                            continue
                        child = f"{rel}/{name}" if rel else name
                        if item.is_dir(follow_symlinks=False):
                            folder.subfolders.append(child)
                            continue
                        kind = kind_of(name)
                        if kind is None or not item.is_file(follow_symlinks=False):
                            continue
                        scan.stats += 1
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed while we looked
                    entry = Entry(child, kind, st.st_mtime_ns, st.st_size)
                    files[name] = (inode, entry)
                    added.append(entry)
        except OSError:
            pass  # unreadable or removed: listed as empty
        for name, (_, entry) in old.items():
            if files.get(name, (None, None))[1] is not entry:
                removed.append(entry)  # gone, or replaced by a new file of the same name
        return folder

    def page(self, kind: str, offset: int, limit: int) -> tuple[list[Entry], int]:
        """Entries `offset` to `offset + limit` of one kind, newest first, and how many there are."""
        with self._lock:
            order = self._order[kind]
            return [self._entries[path] for _, path in order[offset : offset + limit]], len(order)


def _index() -> ResultIndex:
    index = current_app.extensions.get("result_index")
    if index is None:  # the first listing of this worker; setdefault: two threads end up with one index
        index = current_app.extensions.setdefault("result_index", ResultIndex(current_app.config["OUTPUT_DIR"]))
    return index


def _int_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be an integer from {low} to {high}, not {raw[:40]!r}")
    return int(raw)


def _read_result(path: Path) -> dict[str, Any] | None:
    """A result JSON's content, or None when it is not one (too big, unreadable, not an object)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_JSON_BYTES:
        return None
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def describe(entry: Entry, root: Path, configured_root: Path) -> dict[str, Any]:
    """One item of the listing: the file and its URL, and for a result JSON what it found.

    `root` is OUTPUT_DIR with links resolved, `configured_root` as configured (the result JSON's paths use it).
    """
    path = root / entry.path
    item: dict[str, Any] = {
        "kind": entry.kind,
        "path": entry.path,
        "url": result_url(root, path),
        "modified": datetime.fromtimestamp(entry.mtime_ns / 1e9, UTC).isoformat(timespec="milliseconds"),
        "size": entry.size,
    }
    if entry.kind != "result":
        return item
    body = _read_result(path) or {}
    image_url = body.get("annotated_image_url")
    if not isinstance(image_url, str):  # a result written before the URL keys existed
        image_path = body.get("annotated_image_path")
        image_url = ""
        if isinstance(image_path, str) and image_path:
            image_url = result_url(configured_root, Path(image_path)) or result_url(root, Path(image_path))
    objects = body.get("objects_found")
    labels = body.get("detection_class_entities")
    item.update(
        objects_found=objects if isinstance(objects, int) else None,
        labels=[str(x) for x in labels[:MAX_LABELS]] if isinstance(labels, list) else [],
        annotated_image_url=image_url,
        file=str(body.get("file", "")),
        created_at=str(body.get("created_at", "")),
    )
    return item


@bp.get("/results")
def list_results() -> Response:
    """A page of result JSON (kind=result) or report.html files (kind=report) under OUTPUT_DIR, newest first."""
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        raise ApiError(400, f"parameter {repeated[0][:40]!r} given more than once")
    unknown = sorted(set(request.args) - ALLOWED_PARAMS)
    if unknown:
        raise ApiError(
            400, f"unknown parameter(s) {', '.join(repr(u[:40]) for u in unknown)}; allowed: kind, offset, limit"
        )
    kind = request.args.get("kind", "result")
    if kind not in KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(KINDS)}, not {kind[:40]!r}")
    offset = _int_param("offset", 0, 0, MAX_OFFSET)
    limit = _int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    index = _index()
    index.refresh()
    entries, total = index.page(kind, offset, limit)
    root = Path(index.root)
    configured = Path(current_app.config["OUTPUT_DIR"])
    return jsonify(
        kind=kind,
        offset=offset,
        limit=limit,
        total=total,
        items=[describe(entry, root, configured) for entry in entries],
    )
