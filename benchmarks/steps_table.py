"""Steps against score and time: the teacher ('full') and a distilled student ('fast') at several
step counts, on the same held-out prompts and seeds, in one process with one loaded model.

For each configuration: colour, shape and motion accuracy (the backlot oracle), median flicker, and
the median denoising time of one clip (the same clip length and size for every row). Prints a
markdown table and writes --json.

    .venv/bin/python benchmarks/steps_table.py --model weights/backlot-v1 --prompts 60 \\
        --configs full:12,full:8,full:4,fast:4,fast:3,fast:2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from model_adherence import MODEL, prompt_sets  # noqa: E402

from cinegen.eval.oracle import grade  # noqa: E402
from cinegen.pipeline import CinegenPipeline  # noqa: E402

ATTRIBUTES = ("color", "shape", "motion")


def run_config(pipe: CinegenPipeline, items: list, quality: str, steps: int, seconds: float) -> dict:
    acc: dict[str, list[bool]] = defaultdict(list)
    flicker, denoise = [], []
    for i, (prompt, scene) in enumerate(items):
        out = pipe(prompt, seconds=seconds, quality=quality, steps=steps, seed=i, width=scene.width,
                   height=scene.height)
        denoise.append(out.timings["denoise"])
        g = grade(out.frames, out.fps, scene)
        for k, v in g.attribute_results().items():
            acc[k] += v
        flicker.append(g.flicker)
    row = {k: round(float(np.mean(acc[k])), 3) for k in ATTRIBUTES if acc[k]}
    row.update(flicker=round(statistics.median(flicker), 4), denoise_s=round(statistics.median(denoise), 3),
               quality=quality, steps=steps, n=len(items))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--prompts", type=int, default=60, help="held-out single-object prompts")
    ap.add_argument("--configs", default="full:12,full:8,full:4,fast:4,fast:3,fast:2",
                    help="comma-separated quality:steps")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    pipe = CinegenPipeline.from_pretrained(a.model, dtype=a.dtype)
    items = prompt_sets(1, a.seconds, 0, heldout=a.prompts)["heldout_single"]
    pipe(items[0][0], seconds=a.seconds, steps=1, seed=0)  # warm-up: first-call allocations
    rows = []
    for cfg in a.configs.split(","):
        quality, steps = cfg.split(":")
        t0 = time.perf_counter()
        rows.append(run_config(pipe, items, quality, int(steps), a.seconds))
        print(f"{cfg}: {rows[-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n{len(items)} held-out prompts, {a.seconds:g} s clips, dtype {a.dtype}\n")
    print("| quality | steps | evaluations per window | colour | shape | motion | flicker | denoise |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        calls = r["steps"] * (1 if r["quality"] != "full" else 2)  # guided: conditional + unconditional
        scores = " | ".join(f"{r.get(k, 0):.2f}" for k in ATTRIBUTES)
        cells = [r["quality"], str(r["steps"]), str(calls), scores, f"{r['flicker']:.3f}",
                 f"{r['denoise_s']:.2f} s"]
        print("| " + " | ".join(cells) + " |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
