"""Link per-frame blobs into object tracks, and summarise each track's colour and shape.

Blobs of one colour are matched frame to frame by distance (Hungarian assignment, with a shape
mismatch penalty so two same-coloured objects crossing keep their identities). A track that ends
and a later one of the same colour and shape that starts are stitched: that is an object leaving
the frame and wrapping round, or passing behind the pillar. Very short tracks are noise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import theilslopes

from cinegen.eval.segment import COLOR_NAMES, Blob

GATE_FRAC = 0.25  # a blob further than this (frame heights) from a track's prediction starts a new track
MAX_MISSING = 2  # frames a track may go unseen before it ends (stitching joins longer gaps)
SHAPE_PENALTY_FRAC = 0.1  # frame heights added to the matching cost when shapes disagree
WHOLE_LOG_TOL = float(np.log(1.25))  # |log area - trend| of a whole blob
MIN_TRACK_FRAC = 0.1  # tracks seen in fewer frames than this fraction of the clip ...
MIN_TRACK_FRAMES, MAX_MIN_TRACK_FRAMES = 3, 8  # ... clamped to 3..8 frames, are noise


@dataclass(frozen=True)
class Track:
    """One object's blobs over time (pixel coordinates of each frame)."""

    color: int
    frames: np.ndarray  # (N,) frame indices, increasing
    blobs: tuple[Blob, ...]  # (N,)

    @property
    def color_name(self) -> str:
        return COLOR_NAMES[self.color]

    @property
    def cx(self) -> np.ndarray:
        return np.array([b.cx for b in self.blobs])

    @property
    def cy(self) -> np.ndarray:
        return np.array([b.cy for b in self.blobs])

    @property
    def area(self) -> np.ndarray:
        return np.array([b.area for b in self.blobs])

    @property
    def cut(self) -> np.ndarray:
        return np.array([b.cut for b in self.blobs], bool)

    @property
    def crowded(self) -> np.ndarray:
        return np.array([b.crowded for b in self.blobs], bool)

    def shape_votes(self) -> Counter[str]:
        """Area-weighted votes for the shape of each whole blob (big blobs show their shape best:
        a shrinking star is a star while it is big); if none is whole, of each blob the edge and
        pillar leave alone (two objects that stay close all clip are only ever "crowded")."""
        for keep in (self.whole(), ~self.cut):
            votes: Counter[str] = Counter()
            for b, k in zip(self.blobs, keep, strict=True):
                if k and (s := b.shape) is not None:
                    votes[s] += int(round(b.area))
            if votes:
                return votes
        return Counter()

    def whole(self) -> np.ndarray:
        """(N,) bool: blobs that show the whole object. Not touching the frame edge or the pillar,
        not crowded by another object, and with an area on the track's trend (a robust line through
        log area over time: growing and shrinking objects follow it; a blob merged with a
        same-coloured neighbour, or half hidden, does not)."""
        area = np.log(np.maximum(self.area, 1.0))
        cand = ~self.cut & ~self.crowded
        if cand.sum() < 3:
            return cand
        t = self.frames[cand].astype(np.float64)
        slope, icpt, _, _ = theilslopes(area[cand], t)
        trend = icpt + slope * self.frames
        return cand & (np.abs(area - trend) <= WHOLE_LOG_TOL)

    def shape(self) -> str | None:
        votes = self.shape_votes()
        return votes.most_common(1)[0][0] if votes else None


def link(blobs_per_frame: list[list[Blob]], height: int) -> list[Track]:
    """Tracks from per-frame blobs of a clip `height` pixels tall."""
    gate = GATE_FRAC * height
    penalty = SHAPE_PENALTY_FRAC * height
    active: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for t, blobs in enumerate(blobs_per_frame):
        for c in {b.color for b in blobs} | {a["color"] for a in active}:
            cand = [b for b in blobs if b.color == c]
            tracks = [a for a in active if a["color"] == c]
            used: set[int] = set()
            if cand and tracks:
                cost = np.full((len(tracks), len(cand)), 1e9)
                for i, a in enumerate(tracks):
                    last = a["blobs"][-1]
                    dt = t - a["frames"][-1]
                    px, py = last.cx + a["v"][0] * dt, last.cy + a["v"][1] * dt
                    for j, b in enumerate(cand):
                        d = float(np.hypot(b.cx - px, b.cy - py))
                        if d > gate:
                            continue
                        sa, sb = last.shape, b.shape
                        cost[i, j] = d + (penalty if sa and sb and sa != sb else 0.0)
                rows, cols = linear_sum_assignment(cost)
                for i, j in zip(rows, cols, strict=True):
                    if cost[i, j] >= 1e9:
                        continue
                    a, b = tracks[i], cand[j]
                    last, dt = a["blobs"][-1], t - a["frames"][-1]
                    a["v"] = ((b.cx - last.cx) / dt, (b.cy - last.cy) / dt)
                    a["frames"].append(t)
                    a["blobs"].append(b)
                    used.add(j)
            for j, b in enumerate(cand):
                if j not in used:
                    active.append({"color": c, "frames": [t], "blobs": [b], "v": (0.0, 0.0)})
        still: list[dict[str, Any]] = []
        for a in active:
            (still if t - a["frames"][-1] <= MAX_MISSING else done).append(a)
        active = still
    done.extend(active)
    found = [Track(a["color"], np.asarray(a["frames"]), tuple(a["blobs"])) for a in done]
    return _stitch(found, len(blobs_per_frame))


def _stitch(tracks: list[Track], num_frames: int) -> list[Track]:
    """Join same-colour, same-shape tracks that follow each other; drop short noise tracks."""
    tracks = sorted(tracks, key=lambda tr: int(tr.frames[0]))
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(tracks):
            for j, b in enumerate(tracks):
                if i == j or a.color != b.color or b.frames[0] <= a.frames[-1]:
                    continue
                sa, sb = a.shape(), b.shape()
                if sa is not None and sb is not None and sa != sb:
                    continue
                # b must not overlap any other track of a's colour it could belong to instead
                tracks[i] = Track(a.color, np.concatenate([a.frames, b.frames]), a.blobs + b.blobs)
                del tracks[j]
                merged = True
                break
            if merged:
                break
    min_len = max(MIN_TRACK_FRAMES, min(MAX_MIN_TRACK_FRAMES, int(MIN_TRACK_FRAC * num_frames)))
    return [tr for tr in tracks if len(tr.frames) >= min_len]
