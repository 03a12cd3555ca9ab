"""A snapshot of a folder tree, to prove a request created or changed nothing outside a root."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path


def snapshot(base: Path, skip: Iterable[Path] = ()) -> dict[bytes, tuple]:
    """Every entry under `base` (links not followed) except the `skip` trees: path -> (type, size, mtime)."""
    found = {}
    skip_b = {os.fsencode(p) for p in skip}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(base)):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip_b]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if path in skip_b:
                continue
            try:
                info = os.lstat(path)
            except FileNotFoundError:  # removed while we walked (e.g. a temp file renamed into place)
                continue
            found[path] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
    return found
