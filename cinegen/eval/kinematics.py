"""Name an object's motion from its camera-compensated trajectory, and fit its physics.

Inputs are world units: positions in frame heights (x to the right, y down) at the world's zoom 1,
sizes as sqrt(area) in frame heights, times in seconds. The motions of `vocab.MOTIONS` separate on
a few robust features:

- grow / shrink: the trend of log size over the segment (the world scales by 1.8 or 0.5);
- fall / bounce: downward acceleration near gravity over the first flight (up to the first ground
  contact); a bounce starts by rising, a fall starts from rest;
- left / right / up / down: the median frame-to-frame velocity (robust to an object wrapping
  round the frame edge, which is one huge step);
- still: none of the above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cinegen.backlot.motion import BOUNCE_APEX
from cinegen.backlot.vocab import GRAVITY, RESTITUTION

SIZE_CHANGE_MIN_LOG = 0.25  # |log size change| over a segment that is grow/shrink (world: +0.59 / -0.69)
SPEED_MIN = 0.04  # frame heights per second that is moving (world: 0.10..0.14 frame widths/s)
ACCEL_MIN = 0.45 * GRAVITY  # downward acceleration over the first flight that is a fall/bounce
RISE_MIN_SPEED = 0.15  # initial upward speed (frame heights/s) that makes a bounce, not a fall
MAX_FIT_POINTS = 240  # points per run used by the robust velocity (pairs grow as the square)
JUMP_MAX = 0.2  # frame heights per frame; a larger step is a wrap-around or a tracking swap
REBOUND_MIN = 0.015  # frame heights an object must rise after a ground contact to count as a bounce
SIZE_ERRATIC_MIN = 0.12  # the same for log size of a changing size (true clips < 0.08)
MIN_CONSECUTIVE = 0.5  # a track with fewer consecutive-frame steps than this is scraps of shuffled frames
ERRATIC_MIN = 0.015  # median |second difference| of position (frame heights); true motions stay < 0.008
# physics tolerances
GRAVITY_RATIO_RANGE = (0.75, 1.33)
TIMING_TOL_FRAMES = 1.5  # bounce timing error allowed, frames, plus ...
TIMING_TOL_FRAC = 0.15  # ... this fraction of the predicted interval


@dataclass(frozen=True)
class Segment:
    """A stretch of one object's trajectory, already camera-compensated (world units)."""

    t: np.ndarray  # (N,) seconds
    x: np.ndarray  # (N,)
    y: np.ndarray  # (N,)
    size: np.ndarray  # (N,) sqrt(area)
    whole: np.ndarray  # (N,) bool: blob not cut by frame edge, pillar or a neighbour
    fps: float
    uncut: np.ndarray | None = None  # (N,) bool: blob not cut by the frame edge or pillar


@dataclass(frozen=True)
class MotionFit:
    motion: str  # one of vocab.MOTIONS, or "erratic" / "unknown"
    vx: float  # frame heights / s
    vy: float
    size_log_change: float
    accel: float | None  # fitted downward acceleration of the first flight, frame heights / s^2
    v0: float | None  # fitted initial vertical velocity of the first flight
    contacts: tuple[float, ...]  # times of ground contacts (s)
    jerkiness: float  # median |second difference| of position per frame (frame heights)

    def to_dict(self) -> dict[str, object]:
        return {
            "motion": self.motion,
            "vx": round(self.vx, 4),
            "vy": round(self.vy, 4),
            "size_log_change": round(self.size_log_change, 4),
            "accel": None if self.accel is None else round(self.accel, 4),
            "contacts": [round(c, 3) for c in self.contacts],
        }


def _robust_velocity(t: np.ndarray, v: np.ndarray, fps: float) -> float:
    """Theil-Sen slope of v(t), over pairs within jump-free runs.

    Long baselines average out the one-pixel quantisation of blob centroids (a median of
    frame-to-frame steps does not: steps of 0 and 1 px for a 0.7 px/frame motion have median 0 or
    1); splitting at jumps keeps a wrap-around from counting as motion.
    """
    if len(t) < 2:
        return 0.0
    steps = np.abs(np.diff(v)) / np.maximum(np.diff(t) * fps, 1e-9)
    run = np.concatenate([[0], np.cumsum(steps > JUMP_MAX)])
    slopes = []
    for r in np.unique(run):
        idx = np.nonzero(run == r)[0]
        if len(idx) < 2:
            continue
        if len(idx) > MAX_FIT_POINTS:
            idx = idx[np.linspace(0, len(idx) - 1, MAX_FIT_POINTS).round().astype(int)]
        i, j = np.triu_indices(len(idx), k=1)
        dt = t[idx[j]] - t[idx[i]]
        ok = dt > 0
        slopes.append((v[idx[j]] - v[idx[i]])[ok] / dt[ok])
    if not slopes:
        return 0.0
    return float(np.median(np.concatenate(slopes)))


def _jerkiness(t: np.ndarray, x: np.ndarray, y: np.ndarray, fps: float) -> float:
    """Median |second difference| of position over runs of three consecutive frames."""
    if len(t) < 3:
        return 0.0
    f = np.round(t * fps).astype(np.int64)
    ok = (f[1:-1] - f[:-2] == 1) & (f[2:] - f[1:-1] == 1)
    if ok.sum() < 3:
        return 0.0
    d2 = np.hypot(x[2:] - 2 * x[1:-1] + x[:-2], y[2:] - 2 * y[1:-1] + y[:-2])
    return float(np.median(d2[ok]))


def _continuous_prefix(t: np.ndarray, y: np.ndarray, fps: float) -> int:
    """Length of the leading run with no wrap-around jump."""
    steps = np.abs(np.diff(y)) / np.maximum(np.diff(t) * fps, 1)
    bad = np.nonzero(steps > JUMP_MAX)[0]
    return int(bad[0] + 1) if len(bad) else len(y)


def ground_contacts(t: np.ndarray, y: np.ndarray) -> list[int]:
    """Indices where y (down) peaks and then rises again by REBOUND_MIN: the object hit the ground."""
    out = []
    i, n = 0, len(y)
    while i < n - 1:
        # walk down to a local maximum of y
        j = i
        while j + 1 < n and y[j + 1] >= y[j] - 1e-4:
            j += 1
        if j >= n - 1:
            break
        # it must rise (y decrease) by REBOUND_MIN afterwards, before going back down
        k = j
        while k + 1 < n and y[k + 1] <= y[k] + 1e-4:
            k += 1
        if j > i and y[j] - y[k] >= REBOUND_MIN:  # j > i: it came down into this peak
            out.append(j)
        i = k if k > j else j + 1
    return out


def classify_motion(seg: Segment) -> MotionFit:
    """Name the motion of one segment (see the module docstring)."""
    t, x, y, size, whole = seg.t, seg.x, seg.y, seg.size, seg.whole
    if len(t) < 3:
        return MotionFit("unknown", 0.0, 0.0, 0.0, None, None, (), 0.0)
    w = whole
    sizes_known = True
    if w.sum() < 3:  # objects that stay close all clip are never "whole": use what edges leave alone
        if seg.uncut is not None and seg.uncut.sum() >= 3:
            w = seg.uncut
        else:  # cut by the frame edge all along: positions still tell direction, sizes tell nothing
            w, sizes_known = np.ones_like(whole), False
    # size trend (whole blobs only: cut blobs are small for another reason)
    tw, sw = t[w], np.log(np.maximum(size[w], 1e-6))
    slope = float(np.polyfit(tw, sw, 1)[0]) if np.ptp(tw) > 0 and sizes_known else 0.0
    size_change = slope * float(np.ptp(t))
    vx = _robust_velocity(t[w], x[w], seg.fps)
    vy = _robust_velocity(t[w], y[w], seg.fps)
    jerk = _jerkiness(t[w], x[w], y[w], seg.fps)
    size_jerk = _jerkiness(t[w], np.log(np.maximum(size[w], 1e-6)), np.zeros(int(w.sum())), seg.fps)
    # vertical flight: up to the first ground contact, without wrap jumps
    n = _continuous_prefix(t, y, seg.fps)
    ty, yy = t[:n], y[:n]
    contacts = ground_contacts(ty, yy)
    accel = v0 = None
    end = contacts[0] if contacts else len(yy)  # the contact frame itself is mid-reflection
    if end >= 4:
        c = np.polyfit(ty[:end] - ty[0], yy[:end], 2)
        accel, v0 = float(2 * c[0]), float(c[1])
    contact_t = tuple(float(ty[i]) for i in contacts)
    fit = dict(vx=vx, vy=vy, size_log_change=size_change, accel=accel, v0=v0, contacts=contact_t,
               jerkiness=jerk)
    sizes_erratic = (sizes_known and abs(size_change) >= SIZE_CHANGE_MIN_LOG / 2
                     and size_jerk > SIZE_ERRATIC_MIN)
    f = np.round(t * seg.fps)
    scattered = len(f) >= 5 and float(np.mean(np.diff(f) == 1)) < MIN_CONSECUTIVE  # seen in scraps
    if jerk > ERRATIC_MIN or sizes_erratic or scattered:
        return MotionFit("erratic", **fit)  # type: ignore[arg-type]
    if size_change >= SIZE_CHANGE_MIN_LOG:
        return MotionFit("grow", **fit)  # type: ignore[arg-type]
    if size_change <= -SIZE_CHANGE_MIN_LOG:
        return MotionFit("shrink", **fit)  # type: ignore[arg-type]
    vertical_travel = float(np.ptp(yy)) if len(yy) else 0.0
    if accel is not None and accel >= ACCEL_MIN and (vertical_travel >= 0.04 or contacts):
        motion = "bounce" if v0 is not None and v0 <= -RISE_MIN_SPEED else "fall"
        return MotionFit(motion, **fit)  # type: ignore[arg-type]
    if max(abs(vx), abs(vy)) >= SPEED_MIN:
        horizontal = "right" if vx > 0 else "left"
        vertical = "down" if vy > 0 else "up"
        return MotionFit(horizontal if abs(vx) >= abs(vy) else vertical, **fit)  # type: ignore[arg-type]
    return MotionFit("still", **fit)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- physics
@dataclass(frozen=True)
class Physics:
    """How well a fall or bounce follows the world's gravity and bounce law."""

    motion: str
    gravity_fit: float | None  # frame heights / s^2
    gravity_px: float | None  # pixels / s^2 at the clip's height
    gravity_ratio: float | None  # fit / vocab.GRAVITY
    contacts: tuple[float, ...]  # seconds
    expected_contacts: tuple[float, ...]  # seconds, from the measured start height and world law
    timing_ok: bool | None
    ok: bool

    def to_dict(self) -> dict[str, object]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {
            "motion": self.motion,
            "gravity_fit": r(self.gravity_fit),
            "gravity_px": r(self.gravity_px),
            "gravity_world": GRAVITY,
            "gravity_ratio": r(self.gravity_ratio),
            "contacts": [round(c, 3) for c in self.contacts],
            "expected_contacts": [round(c, 3) for c in self.expected_contacts],
            "timing_ok": self.timing_ok,
            "ok": self.ok,
        }


def fit_physics(seg: Segment, fit: MotionFit, motion: str, height: int) -> Physics:
    """Compare a fall/bounce segment with the world: gravity and the times of ground contacts."""
    if len(seg.t) < 3:  # the object is not seen in this stretch: nothing to fit
        return Physics(motion, None, None, None, (), (), None, False)
    g = fit.accel
    ratio = None if g is None else g / GRAVITY
    g_ok = ratio is not None and GRAVITY_RATIO_RANGE[0] <= ratio <= GRAVITY_RATIO_RANGE[1]
    t0 = float(seg.t[0])
    n = _continuous_prefix(seg.t, seg.y, seg.fps)
    y = seg.y[:n]
    contacts = fit.contacts
    expected: list[float] = []
    if contacts:
        ground = float(y[ground_contacts(seg.t[:n], y)[0]])
        if motion == "fall":
            drop = max(ground - float(y[0]), 0.0)
            v = np.sqrt(2 * GRAVITY * drop)
            tc = t0 + v / GRAVITY
            while tc <= float(seg.t[-1]) + 0.5 / seg.fps and len(expected) < len(contacts):
                expected.append(tc)
                v *= RESTITUTION
                tc += 2 * v / GRAVITY
        else:  # bounce: rises from y0 to the apex, then bounces with a constant apex
            v0 = np.sqrt(2 * GRAVITY * max(BOUNCE_APEX - (ground - float(y[0])), 0.05))
            apex_rise = v0 / GRAVITY
            tc = t0 + apex_rise + np.sqrt(2 * BOUNCE_APEX / GRAVITY)
            period = 2 * np.sqrt(2 * BOUNCE_APEX / GRAVITY)
            while tc <= float(seg.t[-1]) + 0.5 / seg.fps and len(expected) < len(contacts):
                expected.append(tc)
                tc += period
    timing_ok = None
    if contacts and expected:
        timing_ok = len(expected) == len(contacts) and all(
            abs(c - e) <= TIMING_TOL_FRAMES / seg.fps + TIMING_TOL_FRAC * (e - t0)
            for c, e in zip(contacts, expected, strict=True)
        )
    ok = bool(g_ok and timing_ok is not False)
    return Physics(
        motion=motion,
        gravity_fit=g,
        gravity_px=None if g is None else g * height,
        gravity_ratio=ratio,
        contacts=contacts,
        expected_contacts=tuple(expected),
        timing_ok=timing_ok,
        ok=ok,
    )
