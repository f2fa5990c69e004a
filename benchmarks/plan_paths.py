"""Paths no planner makes: the object follows a drawn path (zig-zags, circles, diagonals, S-curves).

For each of N paths (a seeded mix of the four families, kept inside [0.12, 0.88] of the frame),
the built-in model renders "a <colour> <shape> on <setting>" with `path=` and the backlot oracle's
tracker (an independent pixel check: segmentation by colour, linking, no knowledge of the plan)
finds the object. Per clip: the median distance between the tracked centre and where the path
puts it at that frame (in frame widths; the frames are square), and whether the object is seen in
at least 95% of the frames. Prints the median over clips, the share within 0.05, and the share
kept, with the CPU's flags.

    .venv/bin/python benchmarks/plan_paths.py [--paths 50] [--seconds 2] [--model DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from pathlib import Path

import numpy as np

from cinegen.backlot.vocab import COLORS, SHAPES
from cinegen.eval.oracle import analyze
from cinegen.pipeline import CinegenPipeline
from cinegen.planning.paths import polyline_positions

MODEL = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1"
# settings each colour shows against (the backlot's own contrast rule)
_LOW = {("green", "grass"), ("white", "studio"), ("blue", "sky"), ("purple", "night"), ("orange", "sunset")}
_SETTINGS = {
    "studio": "in a studio",
    "sky": "against a blue sky",
    "grass": "on a grass field",
    "night": "at night",
    "sunset": "at sunset",
    "black": "on a plain black background",
}


def make_path(kind: str, rng: random.Random) -> list[tuple[float, float]]:
    lo, hi = 0.12, 0.88
    if kind == "zigzag":
        k = rng.randint(3, 5)
        xs = np.linspace(rng.uniform(lo, 0.3), rng.uniform(0.7, hi), k + 1)
        a, b = rng.uniform(0.25, 0.4), rng.uniform(0.6, 0.75)
        return [(float(x), a if i % 2 == 0 else b) for i, x in enumerate(xs)]
    if kind == "circle":
        cx, cy, r = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), rng.uniform(0.2, 0.28)
        start = rng.uniform(0, 2 * math.pi)
        return [
            (cx + r * math.cos(start + 2 * math.pi * i / 16), cy + r * math.sin(start + 2 * math.pi * i / 16))
            for i in range(17)
        ]
    if kind == "diagonal":
        corners = [
            (lo + 0.05, lo + 0.05),
            (hi - 0.05, hi - 0.05),
            (lo + 0.05, hi - 0.05),
            (hi - 0.05, lo + 0.05),
        ]
        a = rng.randrange(4)
        return [corners[a], corners[a ^ 1]]
    # S-curve: x across the frame, y a full sine period
    amp, y0 = rng.uniform(0.15, 0.25), rng.uniform(0.45, 0.55)
    flip = rng.choice([-1, 1])
    return [(lo + (hi - lo) * t, y0 + flip * amp * math.sin(2 * math.pi * t)) for t in np.linspace(0, 1, 13)]


def grade_path(frames: np.ndarray, fps: float, color: str, target: np.ndarray) -> tuple[float, float]:
    """(median distance in frame widths over the frames the object is seen, fraction of frames seen)."""
    an = analyze(frames, fps)
    h, w = frames.shape[1:3]
    tracks = [t for t in an.tracks if t.color_name == color]
    if not tracks:
        return math.inf, 0.0
    tr = max(tracks, key=lambda t: len(t.frames))
    cy = np.array([b.cy for b in tr.blobs])
    d = np.hypot(tr.cx / w - target[tr.frames, 0], cy / h - target[tr.frames, 1])
    return float(np.median(d)), len(tr.frames) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    pipe = CinegenPipeline.from_pretrained(a.model, dtype=a.dtype)
    if pipe.planner is None:
        raise SystemExit(f"{a.model} declares no planner: it cannot follow paths")
    rng = random.Random(a.seed)
    kinds = ["zigzag", "circle", "diagonal", "s_curve"]
    rows = []
    for i in range(a.paths):
        kind = kinds[i % 4]
        points = make_path(kind, rng)
        setting = rng.choice(list(_SETTINGS))
        color = rng.choice([c for c in COLORS if (c, setting) not in _LOW])
        prompt = f"a {color} {rng.choice(SHAPES)} {_SETTINGS[setting]}"
        out = pipe(prompt, seconds=a.seconds, seed=i, path=points)
        target = polyline_positions(points, len(out.frames))
        dist, seen = grade_path(out.frames, out.fps, color, target)
        rows.append({"kind": kind, "prompt": prompt, "median_distance": dist, "seen": seen})
        print(f"{i:3d} {kind:9s} {prompt:45s} distance {dist:.3f}  seen {seen:.2f}", flush=True)
    dists = [r["median_distance"] for r in rows]
    report = {
        "paths": len(rows),
        "median_distance": round(statistics.median(dists), 4),
        "within_0.05": round(float(np.mean([d <= 0.05 for d in dists])), 3),
        "kept_whole_clip": round(float(np.mean([r["seen"] >= 0.95 for r in rows])), 3),
        "by_kind": {
            k: round(statistics.median([r["median_distance"] for r in rows if r["kind"] == k]), 4)
            for k in kinds
            if any(r["kind"] == k for r in rows)
        },
        "settings": {"model": str(a.model), "seconds": a.seconds, "dtype": a.dtype},
    }
    print(json.dumps({k: v for k, v in report.items() if k != "settings"}))
    if a.json:
        a.json.write_text(json.dumps({**report, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
