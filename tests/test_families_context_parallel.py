"""`cinegen generate --context-parallel ulysses` under torchrun: two CPU processes (gloo) on a tiny Wan
make the same frames as one process, and only rank 0 writes and prints; the refusals exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinegen.cli import main
from cinegen.families.family import FamilyError
from cinegen.families.random_models import save, wan_pipeline
from cinegen.families.switches import Switches
from tests.same_output import assert_frames_match


@pytest.fixture(scope="module")
def wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(wan_pipeline("t2v"), tmp_path_factory.mktemp("wan-cp") / "wan")


def _args(wan: Path, out: Path, frames: Path) -> list[str]:
    return ["generate", "a ball", "-o", str(out), "--model", str(wan), "--size", "32x32", "--seconds",
            "0.5625", "--steps", "2", "--frames-dir", str(frames)]


def _frames(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def test_two_processes_make_the_frames_of_one(wan: Path, tmp_path: Path) -> None:
    assert main(_args(wan, tmp_path / "one.mp4", tmp_path / "one")) == 0
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "cinegen",
           *_args(wan, tmp_path / "two.mp4", tmp_path / "two"), "--context-parallel", "ulysses"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert proc.stdout.count("wrote ") == 1  # rank 0 alone
    assert (tmp_path / "two.mp4").exists()
    one, two = _frames(tmp_path / "one"), _frames(tmp_path / "two")
    assert one.shape == two.shape == (9, 32, 32, 3)
    # equal up to rounding (diffusers' Ulysses all-to-all, SDPA per rank): bit-equal on AVX-512 CPUs,
    # one level in a few values on an AVX2-only one (tests/same_output.py)
    assert_frames_match(one, two)


def test_refusals(wan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.mp4"
    args = ["generate", "a ball", "-o", str(out), "--model", str(wan), "--size", "32x32", "--seconds",
            "0.5625", "--steps", "2"]
    assert main([*args, "--context-parallel", "ulysses"]) == 2  # not under torchrun
    assert "launch under torchrun" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--context-parallel", "ring"]) == 2
    assert "log-sum-exp" in capsys.readouterr().err and not out.exists()
    with pytest.raises(FamilyError, match="not been checked beside cache"):
        Switches(context_parallel="ulysses", cache="first-block")
    assert Switches(context_parallel="ulysses").describe() == {"context_parallel": "ulysses"}


def test_a_cpu_run_on_a_machine_with_an_accelerator_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from cinegen.families.context_parallel import World, start

    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda: torch.device("cuda"))
    with pytest.raises(FamilyError, match="give --device cuda, not 'cpu'"):
        start(World(rank=0, local_rank=0, size=2), "cpu")
