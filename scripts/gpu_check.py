"""Time the open families' switches on a GPU: mid-sized random-weight models of each family
(cinegen.families.random_models, scale "mid": 8 transformer blocks 512 wide), one row per switch set.

For each family and variant it loads the model through cinegen (`DiffusersVideoModel.load` with
those `Switches`), runs one warm-up call (compiles, fills caches), then --reps timed calls, and
prints seconds per denoising step (the call's time / steps, so VAE and text encoding are spread
in), the whole call, and peak GPU memory. A switch the machine or libraries cannot do prints its
refusal instead of a time. The models are noise: this measures speed and memory, not quality.

    scripts/gpu_check.sh [--families wan,ltx] [--steps 8] [--reps 3] [--size 832x480] [--frames 33]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "offload model": {"offload": "model"},
    "offload group": {"offload": "group"},
    "offload sequential": {"offload": "sequential"},
    "vae tiling": {"vae_tiling": True},
    "cache first-block": {"cache": "first-block"},
    "cache taylorseer": {"cache": "taylorseer"},
    "cache faster": {"cache": "faster"},
    "compile (regional)": {"compile": True},
}
# family -> (fps, frame step): the frame counts each takes are step * k + 1
FAMILIES = {"wan": (16, 4), "ltx": (24, 8)}


def build(family: str, root: Path) -> Path:
    from cinegen.families import random_models

    if family == "wan":
        return random_models.save(random_models.wan_pipeline("t2v", scale="mid"), root / family)
    pipe = random_models.ltx_pipeline("mid")
    return random_models.save(pipe, root / family)


def time_variant(path: Path, switches: dict[str, Any], call: dict[str, Any], reps: int,
                 device: str, dtype: str) -> str:
    from cinegen.families.family import FamilyError
    from cinegen.families.model import DiffusersVideoModel
    from cinegen.families.switches import Switches

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        model = DiffusersVideoModel.load(path, device=device, dtype=dtype, switches=Switches(**switches))
        model("warm up", **call)
    except (FamilyError, RuntimeError, ImportError) as e:
        return f"| refused or failed: {str(e)[:90]} | | |"
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model("a red ball rolls across a table", **call)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    total = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**30
    return f"| {total / int(call['steps']):.3f} | {total:.2f} | {peak:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="wan,ltx")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", default="832x480")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here (torch.cuda.is_available() is False)")
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    w, h = (int(v) for v in args.size.split("x"))
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"{args.dtype}, {args.size} x {args.frames} frames, {args.steps} steps, medians of {args.reps}")
    print("| family | variant | s/step | s/call | peak GiB |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            fps, step = FAMILIES[family]
            frames = (args.frames - 1) // step * step + 1
            call = {"seconds": frames / fps, "fps": fps, "width": w, "height": h, "steps": args.steps,
                    "fit": True}
            path = build(family, Path(tmp))
            for name in args.variants.split(","):
                row = time_variant(path, VARIANTS[name], call, args.reps, args.device, args.dtype)
                print(f"| {family} | {name} {row}", flush=True)


if __name__ == "__main__":
    main()
