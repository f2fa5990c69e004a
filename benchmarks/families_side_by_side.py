"""cinegen against the plain diffusers call: same model, prompt, seed and settings, in one process.

For each model (random-weight tiny ones of each family by default, or `--model PATH`, repeatable)
it loads the directory once with `DiffusersVideoModel.load`, then alternates, --reps times after a
warm-up, between cinegen's call (`model(prompt, seconds=, fps=, width=, height=, seed=, steps=)`:
mode, frame and size checks, the seeded generator, uint8 frames) and the diffusers pipeline
object it wraps called directly with the same keyword arguments (its float frames converted to
uint8 the way diffusers' own `numpy_to_pil` does). Prints the largest pixel difference, both
medians and their ratio, and cinegen's own time per call (the call less the pipeline call inside it,
which on a shared CPU is a steadier measure of the overhead than the difference of two noisy
medians); --json writes the rows.

    .venv/bin/python benchmarks/families_side_by_side.py [--reps 7] [--steps 4] [--model DIR ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

# family -> (builder, width, height, fps, frames): the tiny models' shapes (frames valid for the family)
TINY: dict[str, tuple[str, int, int, int, int]] = {
    "wan": ("wan_pipeline:t2v", 32, 32, 16, 9),
    "ltx": ("ltx_pipeline", 32, 32, 24, 9),
    "cogvideox": ("cogvideox_pipeline:t2v", 16, 16, 8, 9),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def build_tiny(root: Path) -> list[tuple[Path, tuple[int, int, int, int]]]:
    from cinegen.families import random_models

    out = []
    for name, (builder, w, h, fps, frames) in TINY.items():
        fn, _, kind = builder.partition(":")
        pipe = getattr(random_models, fn)(kind) if kind else getattr(random_models, fn)()
        out.append((random_models.save(pipe, root / name), (w, h, fps, frames)))
    return out


def side_by_side(path: Path, shape: tuple[int, int, int, int], steps: int, reps: int,
                 device: str) -> dict[str, Any]:
    from cinegen.families.model import DiffusersVideoModel, to_uint8
    from cinegen.mode import Mode

    w, h, fps, frames = shape
    model = DiffusersVideoModel.load(path, device=device)
    call: dict[str, Any] = {"seconds": frames / fps, "fps": fps, "width": w, "height": h, "steps": steps,
                            "seed": 0}
    pipe = model.pipeline(Mode.TEXT)
    guidance = model.family.guidance

    own: list[float] = []  # cinegen's own time per call: the whole call less the pipeline call inside it

    def ours() -> np.ndarray:
        t0 = time.perf_counter()
        out = model("a red ball rolls", **call)
        own.append(time.perf_counter() - t0 - out.timings["denoise"])
        return out.frames

    def theirs() -> np.ndarray:
        from cinegen.families.family import ModeInputs

        x = ModeInputs(num_frames=frames, width=w, height=h, fps=fps)
        common = model.common_kwargs("a red ball rolls", "", x, steps, guidance, 0)
        kw = model.family.inputs(Mode.TEXT, x, common)
        return to_uint8(pipe(**kw).frames[0])

    ours(), theirs()  # warm-up
    times: dict[str, list[float]] = {"cinegen": [], "diffusers": []}
    diff = 0
    for _ in range(reps):
        for name, fn in (("cinegen", ours), ("diffusers", theirs)):
            t0 = time.perf_counter()
            frames_out = fn()
            times[name].append(time.perf_counter() - t0)
            if name == "cinegen":
                a = frames_out
            else:
                diff = max(diff, int(np.abs(a.astype(int) - frames_out.astype(int)).max()))
    c, d = statistics.median(times["cinegen"]), statistics.median(times["diffusers"])
    return {"model": path.name, "family": model.family.name, "pipeline": type(pipe).__name__,
            "size": f"{w}x{h}", "frames": frames, "steps": steps, "max_abs_diff": diff,
            "cinegen_s": round(c, 4), "diffusers_s": round(d, 4), "overhead": round(c / d - 1.0, 4),
            "cinegen_own_ms": round(1000 * statistics.median(own), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append", default=[],
                    help="a model directory (WxH,fps,frames from --shape); default: tiny random models")
    ap.add_argument("--shape", default="832,480,16,81", help="W,H,FPS,FRAMES for --model directories")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            w, h, fps, frames = (int(v) for v in args.shape.split(","))
            models = [(p, (w, h, fps, frames)) for p in args.model]
        else:
            models = build_tiny(Path(tmp))
        rows = [side_by_side(p, shape, args.steps, args.reps, args.device) for p, shape in models]
    print(f"# {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"diffusers {diffusers.__version__}; medians of {args.reps}")
    print("| model | pipeline | size x frames | steps | max abs diff | cinegen s | diffusers s | ratio - 1 "
          "| cinegen's own ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['pipeline']} | {r['size']} x {r['frames']} | {r['steps']} "
              f"| {r['max_abs_diff']} | {r['cinegen_s']:.4f} | {r['diffusers_s']:.4f} "
              f"| {100 * r['overhead']:+.1f}% | {r['cinegen_own_ms']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
