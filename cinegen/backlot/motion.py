"""Trajectories: where every object is, and how big, at every frame; and where the camera looks.

World coordinates are in frame heights: X in [0, aspect] left to right, Y in [0, 1] top to bottom.
Horizontal and vertical travel wraps around past the frame edge, so a minute-long "moving left"
keeps moving left instead of leaving the frame for good.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cinegen.backlot.scene import ObjectSpec, SceneSpec
from cinegen.backlot.vocab import GRAVITY, GROUND_Y, RESTITUTION

_SUBSTEPS = 8  # physics steps per frame for falls and bounces
GROW_FACTOR = 1.8  # size multiplier reached by the end of a "grow" segment
SHRINK_FACTOR = 0.5
BOUNCE_APEX = 0.32  # world units a bouncing object rises above the ground
PAN_SPEED = 0.09  # frame heights per second
ZOOM_RANGE = 1.35  # zoom factor reached at the end of a zoom


@dataclass(frozen=True)
class Track:
    """Per-frame state of one object: centre (world units) and radius (world units)."""

    x: np.ndarray  # (T,)
    y: np.ndarray  # (T,)
    r: np.ndarray  # (T,)


@dataclass(frozen=True)
class CameraPath:
    """Per-frame view centre (world X) and zoom factor."""

    cx: np.ndarray  # (T,)
    zoom: np.ndarray  # (T,)


def frame_times(scene: SceneSpec) -> np.ndarray:
    return np.arange(scene.num_frames, dtype=np.float64) / scene.fps


def object_track(obj: ObjectSpec, scene: SceneSpec) -> Track:
    """Integrate one object's motion (and its mid-clip change) at the clip's frame times."""
    aspect = scene.width / scene.height
    n = scene.num_frames
    dt = 1.0 / scene.fps
    h = dt / _SUBSTEPS
    t_change = obj.change_at * scene.seconds if obj.then is not None else float("inf")
    x, y = obj.x * aspect, obj.y
    vy = 0.0
    r0 = obj.size
    scale = 1.0
    xs, ys, rs = np.empty(n), np.empty(n), np.empty(n)
    seg_start, seg_scale0 = 0.0, 1.0
    motion = obj.motion
    initialised = False
    margin = 0.2
    for i in range(n):
        t = i * dt
        for k in range(_SUBSTEPS if i else 0):
            tt = (i - 1) * dt + (k + 1) * h
            if tt >= t_change and motion != obj.then:
                motion, seg_start, seg_scale0, initialised = obj.then or motion, tt, scale, False
                vy = 0.0
            r = r0 * scale
            ground = GROUND_Y - r
            if motion in ("fall", "bounce"):
                if not initialised and motion == "bounce":
                    # start rising from wherever it is, with the speed that reaches the apex
                    vy = -np.sqrt(2 * GRAVITY * max(BOUNCE_APEX - (ground - y), 0.05))
                initialised = True
                vy += GRAVITY * h
                y += vy * h
                if y >= ground:
                    y = ground - (y - ground)
                    keep = RESTITUTION if motion == "fall" else 1.0
                    vy = -abs(vy) * keep
                    if motion == "fall" and abs(vy) < 0.05:
                        vy, y = 0.0, ground
            elif motion == "left":
                x -= obj.speed * aspect * h
            elif motion == "right":
                x += obj.speed * aspect * h
            elif motion == "up":
                y -= obj.speed * h
            elif motion == "down":
                y += obj.speed * h
            elif motion in ("grow", "shrink"):
                seg_len = (t_change if t_change < float("inf") else scene.seconds) - seg_start
                if motion == obj.then:
                    seg_len = scene.seconds - seg_start
                p = min(max((tt - seg_start) / max(seg_len, 1e-6), 0.0), 1.0)
                target = GROW_FACTOR if motion == "grow" else SHRINK_FACTOR
                scale = seg_scale0 * (1 + (target - 1) * p)
            # wrap-around travel keeps long clips in motion
            r = r0 * scale
            if x < -r - margin:
                x += aspect + 2 * (r + margin)
            elif x > aspect + r + margin:
                x -= aspect + 2 * (r + margin)
            if y < -r - margin:
                y += 1 + 2 * (r + margin)
            elif y > 1 + r + margin and motion == "down":
                y -= 1 + 2 * (r + margin)
        xs[i], ys[i], rs[i] = x, y, r0 * scale
        del t
    return Track(xs, ys, rs)


def camera_path(scene: SceneSpec) -> CameraPath:
    aspect = scene.width / scene.height
    t = frame_times(scene)
    p = t / max(scene.seconds, 1e-6)
    cx = np.full_like(t, aspect / 2)
    zoom = np.ones_like(t)
    if scene.camera == "pan_left":
        cx = aspect / 2 - PAN_SPEED * t
    elif scene.camera == "pan_right":
        cx = aspect / 2 + PAN_SPEED * t
    elif scene.camera == "zoom_in":
        zoom = 1 + (ZOOM_RANGE - 1) * np.minimum(p, 1.0)
    elif scene.camera == "zoom_out":
        zoom = ZOOM_RANGE - (ZOOM_RANGE - 1) * np.minimum(p, 1.0)
    return CameraPath(cx, zoom)
