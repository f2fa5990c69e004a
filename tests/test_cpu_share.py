"""Threads for a generation on a shared machine: the measurement and the rule (cinegen/cpu_share.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cinegen.cpu_share import CpuSample, other_busy_cores, sample, threads_for


def test_sample_reads_busy_time_without_idle_or_iowait(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    hz = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text(f"cpu  {3 * hz} {hz} {2 * hz} {50 * hz} {7 * hz} 0 {hz} 0 {5 * hz} 0\ncpu0 1 2 3 4\n")
    s = sample(stat)
    assert s is not None and s.busy == pytest.approx(7.0)  # guest time is already inside user
    assert s.own >= 0 and s.wall > 0
    assert sample(tmp_path / "missing") is None
    (tmp_path / "odd").write_text("intr 1 2 3\n")
    assert sample(tmp_path / "odd") is None


def test_other_busy_cores_leaves_out_this_process() -> None:
    a = CpuSample(wall=10.0, busy=100.0, own=1.0)
    b = CpuSample(wall=11.0, busy=102.0, own=2.0)  # 2 CPU-seconds in 1 s, 1 of them this process's
    assert other_busy_cores(a, b) == pytest.approx(1.0)
    assert other_busy_cores(a, CpuSample(10.05, 100.1, 1.0)) is None  # too short to tell
    assert other_busy_cores(a, CpuSample(11.0, 100.5, 1.9)) == 0.0  # clock-tick rounding: never negative


@pytest.mark.parametrize(("threads", "other", "want"), [
    (2, None, 2), (2, 0.3, 2), (2, 1.0, 1), (2, 2.0, 1), (8, 2.6, 5), (1, 1.0, 1), (4, 0.5, 3),
])
def test_threads_for_gives_up_the_cores_others_use_and_never_adds(threads: int, other: float | None,
                                                                   want: int) -> None:
    assert threads_for(threads, other) == want


def test_a_real_sample_on_this_machine_is_plausible() -> None:
    a = sample()
    assert a is not None  # Linux: the platform the project runs and tests on
    x = 0
    for i in range(3_000_000):  # keep this process busy: its own time must not count as others'
        x += i
    b = sample()
    assert b is not None and b.own > a.own and b.busy >= a.busy
    other = other_busy_cores(a, b)
    assert other is None or 0.0 <= other <= (os.cpu_count() or 1)


def test_generate_gives_up_a_thread_to_a_busy_neighbour_unless_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from cinegen.generate_command import _share_cpu

    before = torch.get_num_threads()
    now = sample()
    assert now is not None
    busy_neighbour = CpuSample(wall=now.wall - 1.0, busy=now.busy - 1.0, own=now.own)  # one core, 1 s
    try:
        torch.set_num_threads(2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        _share_cpu(busy_neighbour, "cpu")
        assert torch.get_num_threads() == 2  # the user's choice stands
        monkeypatch.delenv("OMP_NUM_THREADS")
        _share_cpu(busy_neighbour, "cuda")
        assert torch.get_num_threads() == 2  # the model is not on the CPU
        _share_cpu(busy_neighbour, "cpu")
        assert torch.get_num_threads() == 1
        assert "generating on 1 of 2 threads" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


def _stat(path: Path, busy_seconds: float) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    path.write_text(f"cpu  {round(busy_seconds * hz)} 0 0 {1000 * hz} 0 0 0 0 0 0\n")


def test_job_threads_measures_a_fresh_window_then_uses_the_one_since_the_last_job(tmp_path: Path) -> None:
    import time

    from cinegen.cpu_share import MEASURE_S, JobThreads

    stat = tmp_path / "stat"
    _stat(stat, 100.0)
    waited: list[float] = []

    def neighbour_busy(s: float) -> None:  # another process keeps one core busy while we measure
        waited.append(s)
        _stat(stat, 100.0 + s)
        time.sleep(s)

    share = JobThreads(most=2, stat=stat)
    assert share.for_next_job(sleep=neighbour_busy) == 1 and waited == [MEASURE_S]
    # the next job: the window since the last one; the neighbour stopped, so both threads come back
    time.sleep(0.3)
    assert share.for_next_job(sleep=neighbour_busy) == 2 and waited == [MEASURE_S]
    assert JobThreads(most=2, stat=tmp_path / "missing").for_next_job(sleep=neighbour_busy) == 2
