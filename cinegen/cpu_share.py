"""How many CPU threads a generation should use, given what else the machine is running.

PyTorch starts one OpenMP thread per core, and those threads meet at a barrier after every operator.
When another process keeps one of the cores busy, the thread that shares its core is descheduled for
whole time slices while the others spin at the barrier: on this project's 2-core machine, beside a
one-thread training run, the `fast` 4 s clip took 43.8 s on 2 threads and 3.2 s on 1 (docs/decisions.md).
`OMP_WAIT_POLICY=PASSIVE` avoids the spinning but costs a quiet machine 20-40%. So the CLI measures
the machine while it starts (the imports and the model load take about a second) and, if other
processes kept cores busy, generates on the cores they left.

Linux only (`/proc/stat`); elsewhere nothing is measured and PyTorch's default stands.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIN_WINDOW_S = 0.2  # shorter windows are a few clock ticks: too coarse to tell a busy core
BUSY_CORES_MIN = 0.5  # other processes' load, in cores, that takes a thread away


@dataclass(frozen=True)
class CpuSample:
    wall: float  # seconds (monotonic)
    busy: float  # CPU-seconds all processes spent busy since boot
    own: float  # CPU-seconds this process has spent (all its threads)


def sample(stat: Path = Path("/proc/stat")) -> CpuSample | None:
    """The machine's and this process's CPU time now; None where /proc/stat cannot be read."""
    try:
        first = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu" or len(first) < 8:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
    ticks = [int(v) for v in first[1:9]]
    busy_ticks = sum(ticks) - ticks[3] - ticks[4]
    t = os.times()
    return CpuSample(time.monotonic(), busy_ticks / os.sysconf("SC_CLK_TCK"), t.user + t.system)


def other_busy_cores(start: CpuSample, end: CpuSample) -> float | None:
    """Cores other processes kept busy between two samples (None: the window was too short)."""
    window = end.wall - start.wall
    if window < MIN_WINDOW_S:
        return None
    return max(0.0, ((end.busy - start.busy) - (end.own - start.own)) / window)


def threads_for(threads: int, other_busy: float | None) -> int:
    """Threads to keep of `threads` when other processes keep `other_busy` cores busy (never more)."""
    if other_busy is None or other_busy < BUSY_CORES_MIN:
        return threads
    return max(1, threads - math.floor(other_busy + 0.5))


STALE_WINDOW_S = 60.0  # a longer gap since the last job says little about the load now
MEASURE_S = 0.25  # a fresh measurement when there is no recent window


@dataclass
class JobThreads:
    """Threads for each job of a long-lived process (a service worker), by the same rule as the CLI.

    The window is from the last job's start to this one's: other processes' load while the previous
    job ran or the worker idled (this process's own time is left out). With no recent window it
    measures for MEASURE_S. `most` is the thread count the process started with; a quiet machine gets
    it back.
    """

    most: int
    stat: Path = Path("/proc/stat")
    last: CpuSample | None = None

    def for_next_job(self, sleep: Callable[[float], None] = time.sleep) -> int:
        now = sample(self.stat)
        if now is None:
            return self.most
        start = self.last
        if start is None or now.wall - start.wall > STALE_WINDOW_S:
            start = now
            sleep(MEASURE_S)
            now = sample(self.stat) or now
        self.last = now
        return threads_for(self.most, other_busy_cores(start, now))
