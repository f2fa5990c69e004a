"""Generation speed and memory of the shipped model on this machine.

Prints (and writes to --json): a 4 s clip at the default size, median of --reps runs, with per-stage
timings, for float32 and bfloat16 side by side; then time and peak memory against duration
(each duration in its own process, so peak RSS is that run's alone).

    .venv/bin/python benchmarks/generation_speed.py [--reps 5] [--durations 4,8,16,32,60] [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODEL = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1"
PROMPTS = (
    "a red ball bouncing on a grass field",
    "a blue box falling against a blue sky",
    "a yellow star drifting left at sunset",
    "a green triangle moving up at night",
    "a white ball growing in a grey studio",
)


def one_run(seconds: float, dtype: str, steps: int, reps: int) -> dict:
    import torch

    from cinegen.pipeline import CinegenPipeline

    torch.set_num_threads(torch.get_num_threads())
    pipe = CinegenPipeline.from_pretrained(MODEL, dtype=dtype)
    # first-call allocations; each timed run encodes a new prompt
    pipe("warm up", seconds=1.0, steps=2, seed=0)
    runs = []
    for r in range(reps):
        t = time.perf_counter()
        out = pipe(PROMPTS[r % len(PROMPTS)], seconds=seconds, steps=steps, seed=r)
        wall = time.perf_counter() - t
        runs.append({"wall": wall, **{k: round(v, 3) for k, v in out.timings.items()},
                     "frames": len(out.frames)})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds, "dtype": dtype, "steps": steps, "reps": reps,
        "median_wall_s": round(statistics.median(r["wall"] for r in runs), 3),
        "median_stages": {k: round(statistics.median(r[k] for r in runs if k in r), 3)
                          for k in runs[0] if k not in ("wall", "frames")},
        "frames": runs[0]["frames"], "peak_rss_mib": round(peak_mib, 1),
        "realtime_factor": round(seconds / statistics.median(r["wall"] for r in runs), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--durations", default="4,8,16,32,60")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        seconds, dtype, reps = a.child.split(":")
        print(json.dumps(one_run(float(seconds), dtype, a.steps, int(reps))))
        return

    def child(seconds: float, dtype: str, reps: int) -> dict:
        out = subprocess.run(
            [sys.executable, __file__, "--child", f"{seconds}:{dtype}:{reps}", "--steps", str(a.steps)],
            capture_output=True, text=True, check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    results = {"default_4s": [], "durations": []}
    for dtype in a.dtypes.split(","):
        r = child(4.0, dtype, a.reps)
        results["default_4s"].append(r)
        print(f"4 s clip, 128x128, {a.steps} steps, {dtype}: median {r['median_wall_s']} s over {a.reps} "
              f"(x{r['realtime_factor']} real time), stages {r['median_stages']}, peak RSS "
              f"{r['peak_rss_mib']} MiB")
    best = min(results["default_4s"], key=lambda r: r["median_wall_s"])["dtype"]
    for d in (float(x) for x in a.durations.split(",")):
        r = child(d, best, 1)
        results["durations"].append(r)
        print(f"{d:>5.0f} s clip ({best}): {r['median_wall_s']} s wall, x{r['realtime_factor']} real time, "
              f"peak RSS {r['peak_rss_mib']} MiB")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
