"""The DiT trainer's DDP path: two processes under torchrun (gloo on CPU) on a tiny config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cinegen.models.vae import VAE_PRESETS, VideoVAE


def test_two_process_ddp_run_keeps_ranks_in_sync_and_sums_the_ledger(tmp_path: Path) -> None:
    vae_dir = tmp_path / "vae"
    VideoVAE(VAE_PRESETS["tiny"]).save_pretrained(vae_dir)
    out = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [
        str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "cinegen.training.dit",
        "--out", str(out), "--vae", str(vae_dir), "--preset", "tiny", "--steps", "3", "--tokens-per-batch", "256",
        "--max-batch", "4", "--warmup", "1", "--frames", "1,9", "--frame-weights", "0.5,0.5", "--aspect-weights", "1.0",
        "--sizes", "64x64", "--bank-size", "8", "--fill-seconds", "0", "--refresh-per-step", "1", "--workers", "0",
        "--bf16", "false", "--log-every", "1", "--ckpt-every", "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "world size 2" in log
    finished = re.findall(r"rank (\d) finished at step (\d+), samples (\d+), parameter checksum (\S+)", log)
    assert sorted(r for r, *_ in finished) == ["0", "1"], log[-2000:]
    # gradients are averaged across ranks, so both hold the same weights after every step
    assert len({c for *_, c in finished}) == 1
    assert all(s == "3" for _, s, _, _ in finished)
    # the saved ledger counts what both ranks learned from
    meta = json.loads((out / "pretrained" / "cinegen.json").read_text())
    assert meta["steps"] == 3
    assert sum(meta["training_data"]["counts"].values()) == sum(int(n) for _, _, n, _ in finished)
