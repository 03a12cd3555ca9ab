"""How busy the machine was with other people's work while each phase ran.

The benchmark shares its machine; this separates our CPU time (this process, its children and the
nodes it runs) from everything else (/proc/stat), so RESULTS.md can say how noisy each phase was.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU-seconds spent not idle by all cores since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values[:8]) - idle - steal) / _TICK


def _process_cpu(pid: int) -> float:
    """utime + stime + reaped children's, in seconds, of one live process (0 if gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    parts = raw[raw.rindex(")") + 2 :].split()
    return sum(int(v) for v in parts[11:15]) / _TICK


@dataclass
class Phase:
    """One phase's wall time, our CPU and the others' CPU."""

    name: str
    wall: float
    ours: float
    others: float


@dataclass
class CpuMeter:
    """Call `mark(name)` at each phase boundary; `live_pids` returns the PIDs of our running nodes."""

    live_pids: Callable[[], list[int]]
    phases: list[Phase] = field(default_factory=list)
    _last: tuple | None = None

    def _snapshot(self) -> tuple[float, float, float]:
        t = os.times()
        ours = t.user + t.system + t.children_user + t.children_system
        ours += sum(_process_cpu(pid) for pid in self.live_pids())
        return time.perf_counter(), _machine_busy(), ours

    def mark(self, name: str) -> None:
        """Close the current phase (if any) and open `name`."""
        now = self._snapshot()
        if self._last is not None:
            label, (t0, busy0, ours0) = self._last
            wall, busy, ours = now[0] - t0, now[1] - busy0, now[2] - ours0
            self.phases.append(Phase(label, wall, ours, max(0.0, busy - ours)))
        self._last = (name, now)
