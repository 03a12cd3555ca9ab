"""Processes and their memory, read from /proc: the one RSS reader (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KIB = 1024


@dataclass(frozen=True)
class Memory:
    """Resident (RSS) and proportional (PSS: shared pages split between their users) set sizes in bytes."""

    rss: int
    pss: int


def memory(pid: int) -> Memory:
    """RSS and PSS of one process; zeros for a process that is gone or not ours to read."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * KIB
                break
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * KIB
                break
    except OSError:
        pass
    return Memory(rss, pss)


def rss_bytes(pids: list[int]) -> int:
    """Sum of RSS over `pids` (processes that vanished count 0)."""
    return sum(memory(pid).rss for pid in pids)


def parent_pid(pid: int) -> int | None:
    """The parent of `pid`, or None when it is gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    return int(stat_line.rsplit(")", 1)[1].split()[1])


def all_pids() -> list[int]:
    """Every process id on the machine."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a gunicorn master and its workers)."""
    children: dict[int, list[int]] = {}
    for p in all_pids():
        parent = parent_pid(p)
        if parent is not None:
            children.setdefault(parent, []).append(p)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return sorted(tree)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(inode)
    return inodes


def find_master_pid(port: int) -> int | None:
    """The PID of the process tree's root among the processes holding the listening socket on `port`."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    holders = set()
    for pid in all_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    holders.add(pid)
                    break
            except OSError:
                continue
    # gunicorn workers inherit the socket from the master: the master is the holder whose parent is not one.
    roots = [pid for pid in holders if parent_pid(pid) not in holders]
    return min(roots) if roots else None
