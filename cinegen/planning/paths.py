"""User-drawn paths: a polyline the object's centre travels at constant speed over the clip.

`--path "0.1,0.5 0.5,0.2 0.9,0.5"`: points `x,y` separated by spaces, x in frame widths from the
left edge, y in frame heights from the top edge. Speed is constant along the polyline's length,
so the object reaches the last point at the clip's last frame.
"""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np

from cinegen.planning.plan import Box, PlanError, ShotPlan


def parse_path(text: str) -> list[tuple[float, float]]:
    """'x,y x,y ...' -> points; each coordinate must lie in [0, 1]."""
    if not isinstance(text, str) or not text.strip():
        raise PlanError("path must be points 'x,y' separated by spaces, e.g. '0.1,0.5 0.9,0.5'")
    points = []
    for tok in text.split():
        parts = tok.split(",")
        if len(parts) != 2:
            raise PlanError(f"path point {tok!r} must be 'x,y'")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise PlanError(f"path point {tok!r} must be two numbers 'x,y'") from None
        if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise PlanError(f"path point {tok!r} is outside the frame: x and y must be in [0, 1]")
        points.append((x, y))
    check_points(points)
    return points


def check_points(points: list[tuple[float, float]]) -> None:
    """At least two points, each inside the frame ([0, 1] on both axes)."""
    if len(points) < 2:
        raise PlanError(f"path needs at least two points, got {len(points)}")
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise PlanError(f"path point ({x:g}, {y:g}) is outside the frame: x and y must be in [0, 1]")


def polyline_positions(points: list[tuple[float, float]], num_frames: int) -> np.ndarray:
    """Centres (num_frames, 2) at constant speed along the polyline, first point at frame 0."""
    p = np.asarray(points, dtype=np.float64)  # (K, 2)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)  # (K-1,)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] == 0:
        return np.repeat(p[:1], num_frames, axis=0)
    s = np.linspace(0.0, cum[-1], num_frames) if num_frames > 1 else np.zeros(1)
    x = np.interp(s, cum, p[:, 0])
    y = np.interp(s, cum, p[:, 1])
    return np.stack([x, y], axis=1)


def apply_path(plan: ShotPlan, points: list[tuple[float, float]], index: int = 0) -> ShotPlan:
    """The plan with object `index` moved along the path (its size per frame is kept)."""
    check_points(points)
    if not 0 <= index < len(plan.objects):
        raise PlanError(f"path names object {index}; the plan has {len(plan.objects)}")
    obj = plan.objects[index]
    xy = polyline_positions(points, plan.num_frames)
    boxes = tuple(Box(float(x), float(y), b.size) for (x, y), b in zip(xy, obj.boxes, strict=True))
    objects = list(plan.objects)
    objects[index] = dataclasses.replace(obj, boxes=boxes)
    return dataclasses.replace(plan, objects=tuple(objects))


PATH_KINDS = ("zigzag", "circle", "diagonal", "s_curve")  # the families of drawn paths we test and train on
PATH_MARGIN = 0.12  # drawn paths keep the object's centre within [margin, 1 - margin] of the frame


def random_path(kind: str, rng: random.Random) -> list[tuple[float, float]]:
    """A path of one family as a user might draw it, inside [PATH_MARGIN, 1 - PATH_MARGIN]: a zig-zag of
    3-5 legs, a circle (17 points), a corner-to-corner diagonal, or an S-curve (a full sine period)."""
    lo, hi = PATH_MARGIN, 1.0 - PATH_MARGIN
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
        a_, b_ = lo + 0.05, hi - 0.05
        corners = [(a_, a_), (b_, b_), (a_, b_), (b_, a_)]
        a = rng.randrange(4)
        return [corners[a], corners[a ^ 1]]
    if kind == "s_curve":  # x across the frame, y a full sine period
        amp, y0 = rng.uniform(0.15, 0.25), rng.uniform(0.45, 0.55)
        flip = rng.choice([-1, 1])
        ts = np.linspace(0, 1, 13)
        return [(lo + (hi - lo) * t, y0 + flip * amp * math.sin(2 * math.pi * t)) for t in ts]
    raise ValueError(f"unknown path kind {kind!r}; known: {', '.join(PATH_KINDS)}")


# Above this speed the built-in VAE smears the object (its encoder folds 4 frames into one latent frame)
# and the tracker loses it in some frames: of benchmarks/plan_paths.py's 50 paths at 2 s, those at
# <= 5.5 pixels a frame kept the object whole in 24 of 27 clips, the faster ones in 11 of 23; at 4 s
# (all slower) in 48 of 50 (docs/benchmarks.md, session 17).
SHARP_PIXELS_PER_FRAME = 5.5


def pixels_per_frame(
    points: list[tuple[float, float]], seconds: float, fps: int, width: int, height: int
) -> float:
    """How far the object's centre moves between frames, in pixels, along a path travelled at constant
    speed over a clip of `seconds` at `fps` and `width` x `height`."""
    p = np.asarray(points, dtype=np.float64) * (width, height)  # (K, 2) pixels
    length = float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())
    frames = max(round(seconds * fps), 2)
    return length / (frames - 1)


def fast_path_note(
    points: list[tuple[float, float]], seconds: float, fps: int, width: int, height: int
) -> str | None:
    """A line for the user when a path is faster than the built-in model draws sharply, with the duration
    that would slow it to SHARP_PIXELS_PER_FRAME; None when it is not."""
    speed = pixels_per_frame(points, seconds, fps, width, height)
    if speed <= SHARP_PIXELS_PER_FRAME:
        return None
    slower = math.ceil(10 * seconds * speed / SHARP_PIXELS_PER_FRAME) / 10  # tenths of a second
    while pixels_per_frame(points, slower, fps, width, height) > SHARP_PIXELS_PER_FRAME:
        slower = round(slower + 0.1, 1)
    return (f"path: the object travels {speed:.1f} pixels a frame; above {SHARP_PIXELS_PER_FRAME:g} the "
            f"built-in model's VAE smears it and it can drop out of frames (--seconds {slower:g} or more "
            "keeps it sharp)")
