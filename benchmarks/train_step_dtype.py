"""One DiT training step (forward + backward, 2,400 tokens) in float32 against bf16 autocast, side by side.

Interleaved repetitions in one process, so a shared machine's noise hits both alike; prints the
median seconds per step for each and the ratio, with the CPU's bf16 flags.

    .venv/bin/python benchmarks/train_step_dtype.py [--reps 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from cinegen.models.transformer import DIT_PRESETS, VelocityModel, build_transformer
from cinegen.planning.raster import LAYOUT_CHANNELS


def cpu_flags() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return ",".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text) or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import dataclasses

    cfg = dataclasses.replace(DIT_PRESETS["small"], layout_channels=LAYOUT_CHANNELS)
    model = VelocityModel(build_transformer(cfg)).train()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 16, 9, 16, 16, generator=g)  # 4 clips x 576 tokens
    lay = torch.rand(4, LAYOUT_CHANNELS, 9, 16, 16, generator=g)
    sigma = torch.rand(4, 9, generator=g)
    text = torch.randn(4, 16, 384, generator=g)
    times: dict[str, list[float]] = {"float32": [], "bf16 autocast": []}

    def step(bf16: bool) -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            v = model(x, sigma, text, lay)
        v.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    step(False), step(True)  # warm-up
    for _ in range(args.reps):
        times["float32"].append(step(False))
        times["bf16 autocast"].append(step(True))
    print(f"CPU flags: {cpu_flags()}; threads {torch.get_num_threads()}")
    for k, v in times.items():
        print(f"{k:14s} median {statistics.median(v):.3f} s/step over {len(v)}")
    ratio = statistics.median(times["bf16 autocast"]) / statistics.median(times["float32"])
    print(f"bf16 / fp32 time ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
