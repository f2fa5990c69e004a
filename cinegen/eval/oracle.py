"""The oracle: what a video shows, from pixels alone, and how well it follows a scene.

`analyze(frames, fps)` finds the objects (palette colour, shape, trajectory) and the camera motion
with no prompt. `grade(frames, fps, scene)` matches the scene's objects to what it found and checks
every attribute the scene asks for: each object's colour, shape, motion and mid-clip change, the
start relation, the camera, falling physics, permanence behind the pillar; plus temporal quality
(flicker, identity consistency, colour drift) and an adherence score in [0, 1].

Steps of `analyze`:
1. segment: palette colour per pixel, blobs per frame            (segment.py)
2. camera: global pan/zoom of the background, objects masked out  (camera.py)
3. track: link blobs over time, stitch wrap-arounds               (track.py)
4. compensate: map every blob into world units at the world zoom  (here)
5. describe: colour, shape, motion of each track                  (kinematics.py)
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from cinegen.backlot.render import PILLAR_HALF_WIDTH
from cinegen.backlot.scene import ObjectSpec, SceneSpec
from cinegen.eval import metrics
from cinegen.eval.camera import CameraMotion, estimate_camera
from cinegen.eval.kinematics import MotionFit, Physics, Segment, classify_motion, fit_physics
from cinegen.eval.segment import frame_blobs
from cinegen.eval.track import Track, link

CHANGE_MARGIN_FRAMES = 1  # frames left out on each side of a mid-clip change of motion
RELATION_WINDOW = 0.25  # the "start" of a clip, as a fraction of it, for the spatial relation
IDENTITY_COLOR_DE = 12.0  # a blob this far (weighted ΔE) from its track's median colour has drifted
FLICKER_MAX = 2.0  # luma levels; above this the clip flickers
COLOR_DRIFT_MAX = 8.0  # ΔE between first and last seconds; above this the palette drifted
IDENTITY_MIN = 0.9  # identity consistency below this fails
PILLAR_FRAC = 2 * PILLAR_HALF_WIDTH  # the pillar's width in frame heights
STAR_REACH = 1.3  # an object's extent in units of sqrt(area)-radius, generously (a star's points)

# Matching costs: a wrong colour outweighs a wrong shape outweighs a wrong motion.
_COST_COLOR, _COST_SHAPE, _COST_MOTION, _COST_MISSING = 4.0, 2.0, 1.0, 10.0
_COST_PRESENCE = 1.5  # per fraction of the clip seen: a long track beats a scrap whose motion happens to fit


# ----------------------------------------------------------------------------- analysis
@dataclass(frozen=True)
class DetectedObject:
    """One tracked object: what it looks like and where it is, in world units."""

    color: str
    shape: str | None
    motion: MotionFit  # over the whole clip
    frames: np.ndarray  # (N,) frame indices where it is seen
    t: np.ndarray  # (N,) seconds
    x: np.ndarray  # (N,) frame heights, camera-compensated, world zoom
    y: np.ndarray  # (N,)
    size: np.ndarray  # (N,) sqrt(area), frame heights
    whole: np.ndarray  # (N,) bool: blob not cut by the frame edge, the pillar or a neighbour
    uncut: np.ndarray  # (N,) bool: blob not cut by the frame edge or the pillar
    screen_x: np.ndarray  # (N,) px, as seen
    shape_consistency: float  # area-weighted fraction of nameable whole blobs with the majority shape
    color_consistency: float  # fraction of blobs within IDENTITY_COLOR_DE of the median colour
    presence: float  # fraction of the clip's frames it is seen in
    shapes: tuple[str | None, ...] = ()  # (N,) shape of each whole blob, None where cut or too small
    halves: tuple[str, str] = ("unknown", "unknown")  # motion in the first and second half of the clip
    shape_votes: dict[str, int] = field(default_factory=dict)
    fps: float = 16.0

    def segment(self, t0: float = -np.inf, t1: float = np.inf) -> Segment:
        keep = (self.t >= t0) & (self.t < t1)
        return Segment(
            self.t[keep], self.x[keep], self.y[keep], self.size[keep], self.whole[keep], self.fps,
            self.uncut[keep]
        )

    def shape_in(self, keep: np.ndarray) -> str | None:
        """Majority shape of the whole blobs where `keep` (N,) bool."""
        votes = Counter(s for s, k in zip(self.shapes, keep, strict=True) if k and s is not None)
        return votes.most_common(1)[0][0] if votes else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "color": self.color,
            "shape": self.shape,
            "motion": self.motion.motion,
            "halves": list(self.halves),
            "motion_fit": self.motion.to_dict(),
            "start": [round(float(self.x[0]), 4), round(float(self.y[0]), 4)],
            "first_frame": int(self.frames[0]),
            "last_frame": int(self.frames[-1]),
            "presence": round(self.presence, 4),
            "shape_votes": self.shape_votes,
            "shape_consistency": round(self.shape_consistency, 4),
            "color_consistency": round(self.color_consistency, 4),
        }


@dataclass(frozen=True)
class Analysis:
    """What a clip shows, without a prompt."""

    fps: float
    num_frames: int
    height: int
    width: int
    camera: CameraMotion
    objects: tuple[DetectedObject, ...]
    tracks: tuple[Track, ...] = field(repr=False, default=())

    @property
    def identity_consistency(self) -> float:
        if not self.objects:
            return 1.0
        w = np.array([len(o.frames) for o in self.objects], np.float64)
        v = np.array([o.shape_consistency * o.color_consistency for o in self.objects])
        return float((w * v).sum() / w.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "num_frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "camera": self.camera.to_dict(),
            "objects": [o.to_dict() for o in self.objects],
            "identity_consistency": round(self.identity_consistency, 4),
        }


def _check_frames(frames: np.ndarray, fps: float) -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError("frames must be a (T, H, W, 3) uint8 array, got shape "
                         f"{getattr(frames, 'shape', None)}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] < 1 or frames.shape[1] < 16 or frames.shape[2] < 16:
        raise ValueError(f"frames must hold at least one 16x16 frame, got {frames.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")


def _describe(track: Track, cam: CameraMotion, fps: float, num_frames: int, height: int) -> DetectedObject:
    f = track.frames
    x0, y0 = cam.to_frame0(f, track.cx, track.cy)
    # frame-0 pixels -> world units: scale about the centre to the frame whose zoom is the world's
    ref = cam.reference_scale
    cx, cy = cam.center
    x = (cx + ref * (x0 - cx)) / height
    y = (cy + ref * (y0 - cy)) / height
    size = np.sqrt(track.area) / cam.scale[f] * ref / height
    whole = track.whole()
    t = f / fps
    votes = track.shape_votes()
    shape = votes.most_common(1)[0][0] if votes else None
    n_votes = sum(votes.values())
    shape_cons = votes[shape] / n_votes if shape is not None and n_votes else 1.0
    lab = np.array([b.lab for b in track.blobs])
    med = np.median(lab, axis=0)
    d = lab - med
    d[:, 0] *= 0.5
    color_cons = float(np.mean(np.sqrt((d * d).sum(1)) <= IDENTITY_COLOR_DE))
    uncut = ~track.cut
    seg = Segment(t, x, y, size, whole, fps, uncut)
    mid = num_frames / fps / 2
    first, second = (t < mid - 1 / fps), (t > mid + 1 / fps)
    halves = tuple(
        classify_motion(Segment(t[k], x[k], y[k], size[k], whole[k], fps, uncut[k])).motion for k in (first,
                                                                                                      second)
    )
    return DetectedObject(
        color=track.color_name,
        shape=shape,
        motion=classify_motion(seg),
        frames=f,
        t=t,
        x=x,
        y=y,
        size=size,
        whole=whole,
        uncut=uncut,
        screen_x=track.cx,
        shape_consistency=float(shape_cons),
        color_consistency=color_cons,
        presence=len(f) / num_frames,
        shapes=tuple(b.shape if k else None for b, k in zip(track.blobs, whole, strict=True)),
        shape_votes=dict(votes),
        halves=(halves[0], halves[1]),
        fps=fps,
    )


def analyze(frames: np.ndarray, fps: float) -> Analysis:
    """Detect objects, their colour, shape and motion, and the camera motion of a clip.

    `frames` (T, H, W, 3) uint8 RGB at `fps`. Pure function of the pixels.
    """
    _check_frames(frames, fps)
    t_count, h, w = frames.shape[:3]
    # 1. segment
    blobs, covered = frame_blobs(frames)
    # 2. camera
    cam = estimate_camera(frames, fps, covered)
    # 3. track
    tracks = link(blobs, h)
    # 4-5. compensate and describe, largest presence first
    objects = [_describe(tr, cam, fps, t_count, h) for tr in tracks]
    # a track never seen whole that jumps about is a flicker of background near a palette colour
    objects = [o for o in objects if o.whole.any() or o.motion.motion != "erratic"]
    objects.sort(key=lambda o: -len(o.frames))
    return Analysis(fps, t_count, h, w, cam, tuple(objects), tuple(tracks))


# ----------------------------------------------------------------------------- grading
@dataclass(frozen=True)
class ObjectGrade:
    """How one of the scene's objects came out."""

    index: int
    expected: dict[str, Any]  # shape, color, motion, then
    found: bool
    color_ok: bool
    shape_ok: bool
    motion_ok: bool
    then_ok: bool | None  # None when the scene asks for no change of motion
    detected_color: str | None
    detected_shape: str | None
    detected_motion: str | None
    detected_then: str | None
    physics: tuple[Physics, ...]  # one per fall/bounce segment
    presence: float

    @property
    def checks(self) -> dict[str, bool]:
        out = {"color": self.color_ok, "shape": self.shape_ok, "motion": self.motion_ok}
        if self.then_ok is not None:
            out["then"] = self.then_ok
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "expected": self.expected,
            "found": self.found,
            "color_ok": self.color_ok,
            "shape_ok": self.shape_ok,
            "motion_ok": self.motion_ok,
            "then_ok": self.then_ok,
            "detected": {
                "color": self.detected_color,
                "shape": self.detected_shape,
                "motion": self.detected_motion,
                "then": self.detected_then,
            },
            "physics": [p.to_dict() for p in self.physics],
            "presence": round(self.presence, 4),
        }


@dataclass(frozen=True)
class Grade:
    """A clip graded against a scene. `checks` lists every pass/fail attribute that applies."""

    objects: tuple[ObjectGrade, ...]
    relation_ok: bool | None
    camera_ok: bool
    camera_expected: str
    camera_detected: str
    physics_ok: bool | None
    permanence_ok: bool | None
    flicker: float
    identity_consistency: float
    color_drift: float
    temporal_ok: bool
    extra_objects: int
    adherence: float
    analysis: Analysis = field(repr=False, compare=False)

    @property
    def checks(self) -> dict[str, bool]:
        """Attribute name -> pass, e.g. 'object0.color', 'relation', 'camera', 'physics'."""
        out: dict[str, bool] = {}
        for og in self.objects:
            for k, v in og.checks.items():
                out[f"object{og.index}.{k}"] = v
        for k, opt in (("relation", self.relation_ok), ("physics", self.physics_ok),
                       ("permanence", self.permanence_ok)):
            if opt is not None:
                out[k] = opt
        out["camera"] = self.camera_ok
        return out

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def attribute_results(self) -> dict[str, list[bool]]:
        """Per attribute kind (color, shape, motion, then, relation, camera, physics, permanence)."""
        out: dict[str, list[bool]] = {}
        for k, v in self.checks.items():
            out.setdefault(k.split(".")[-1], []).append(v)
        return out

    def to_dict(self) -> dict[str, Any]:
        def r(v: float) -> float:
            return round(float(v), 4)

        physics = [p.to_dict() for og in self.objects for p in og.physics]
        return {
            "passed": self.passed,
            "adherence": r(self.adherence),
            "objects": [og.to_dict() for og in self.objects],
            "relation_ok": self.relation_ok,
            "camera": {"ok": self.camera_ok, "expected": self.camera_expected,
                       "detected": self.camera_detected},
            "physics_ok": self.physics_ok,
            "physics": physics,
            "permanence_ok": self.permanence_ok,
            "temporal": {
                "ok": self.temporal_ok,
                "flicker": r(self.flicker),
                "identity_consistency": r(self.identity_consistency),
                "color_drift": r(self.color_drift),
            },
            "extra_objects": self.extra_objects,
            "checks": self.checks,
            "analysis": self.analysis.to_dict(),
        }


def _match(scene: SceneSpec, found: tuple[DetectedObject, ...]) -> list[DetectedObject | None]:
    """Assign each scene object the detected object that best fits it (Hungarian)."""
    n, m = len(scene.objects), len(found)
    cost = np.full((n, m + n), _COST_MISSING)  # n dummy columns = "not found"
    for i, o in enumerate(scene.objects):
        for j, d in enumerate(found):
            c = 0.0
            c += 0.0 if d.color == o.color else _COST_COLOR
            c += 0.0 if d.shape == o.shape else _COST_SHAPE
            c += 0.0 if d.motion.motion == o.motion or o.then is not None else _COST_MOTION
            c -= _COST_PRESENCE * d.presence  # among equals, the object seen longest (not a scrap)
            cost[i, j] = c
    rows, cols = linear_sum_assignment(cost)
    out: list[DetectedObject | None] = [None] * n
    for i, j in zip(rows, cols, strict=True):
        if j < m and cost[i, j] < _COST_MISSING:
            out[i] = found[j]
    return out


def _grade_object(i: int, o: ObjectSpec, d: DetectedObject | None, duration: float,
                  height: int) -> ObjectGrade:
    expected = {"shape": o.shape, "color": o.color, "motion": o.motion, "then": o.then}
    if d is None:
        missing_then = False if o.then else None
        return ObjectGrade(i, expected, False, False, False, False, missing_then, None, None, None, None, (),
                           0.0)
    physics: list[Physics] = []
    margin = CHANGE_MARGIN_FRAMES / d.fps
    if o.then is None:
        seg1 = d.segment()
        fit1 = d.motion
        fit2 = None
    else:
        tc = o.change_at * duration
        seg1 = d.segment(-np.inf, tc - margin)
        fit1 = classify_motion(seg1)
        seg2 = d.segment(tc + margin, np.inf)
        fit2 = classify_motion(seg2)
        if o.then in ("fall", "bounce"):
            physics.append(fit_physics(seg2, fit2, o.then, height))
    if o.motion in ("fall", "bounce"):
        physics.insert(0, fit_physics(seg1, fit1, o.motion, height))
    return ObjectGrade(
        index=i,
        expected=expected,
        found=True,
        color_ok=d.color == o.color,
        shape_ok=d.shape == o.shape,
        motion_ok=fit1.motion == o.motion,
        then_ok=None if o.then is None else (fit2 is not None and fit2.motion == o.then),
        detected_color=d.color,
        detected_shape=d.shape,
        detected_motion=fit1.motion,
        detected_then=None if fit2 is None else fit2.motion,
        physics=tuple(physics),
        presence=d.presence,
    )


def _relation_ok(scene: SceneSpec, matched: list[DetectedObject | None], duration: float) -> bool | None:
    rel = scene.relation
    if rel is None:
        return None
    a, b = matched[rel.a], matched[rel.b]
    if a is None or b is None:
        return False
    limit = RELATION_WINDOW * duration
    common = np.intersect1d(a.frames[a.t <= limit], b.frames[b.t <= limit])
    if len(common) == 0:
        return False
    f = common[: max(1, len(common) // 4 + 1)]  # the earliest frames both are seen in
    ia, ib = np.isin(a.frames, f), np.isin(b.frames, f)
    xa, ya = float(np.median(a.x[ia])), float(np.median(a.y[ia]))
    xb, yb = float(np.median(b.x[ib])), float(np.median(b.y[ib]))
    return {"left_of": xa < xb, "right_of": xa > xb, "above": ya < yb, "below": ya > yb}[rel.kind]


def _permanence_ok(scene: SceneSpec, matched: list[DetectedObject | None], an: Analysis) -> bool | None:
    """With a pillar: every object that passes behind it comes back out, looking the same.

    An object is lost when its track ends while, by its own screen velocity, it should still be
    in frame and clear of the pillar; it reappears changed when the shape seen after a gap in its
    track differs from the shape before (a colour change would end the track: lost).
    """
    if not scene.occluder:
        return None
    ok = True
    for o, d in zip(scene.objects, matched, strict=True):
        if d is None:
            return False
        if o.motion not in ("left", "right"):
            continue
        f, sx = d.frames, d.screen_x
        # shapes either side of every gap of more than a frame
        idx = np.arange(len(f))
        for g in np.nonzero(np.diff(f) > 2)[0]:
            before, after = d.shape_in(idx <= g), d.shape_in(idx > g)
            if before is not None and after is not None and before != after:
                ok = False
        last = int(f[-1])
        if last < an.num_frames - 3 and len(f) >= 3:
            # where its own screen velocity would put it by the end, and how long a pillar can hide it
            v = float(np.median(np.diff(sx[-6:]) / np.maximum(np.diff(f[-6:]), 1)))  # px / frame
            width = (PILLAR_FRAC + 2 * STAR_REACH * float(np.max(d.size))) * an.height
            hidden_for = width / max(abs(v), 0.05) + 3
            predicted = float(sx[-1]) + v * (an.num_frames - 1 - last)
            if 0 <= predicted <= an.width and (an.num_frames - 1 - last) > hidden_for:
                ok = False
    return ok


def grade(frames: np.ndarray, fps: float, scene: SceneSpec, analysis: Analysis | None = None) -> Grade:
    """Grade a clip against the scene it should show. Pure function of the pixels and the scene.

    Timing in the scene (the change of motion at `change_at`) is taken as a fraction of the clip's
    own duration, so a clip graded at another length or fps is still judged where it should be.
    """
    _check_frames(frames, fps)
    an = analysis if analysis is not None else analyze(frames, fps)
    duration = an.num_frames / fps
    # 1. match and grade objects
    matched = _match(scene, an.objects)
    objects = tuple(_grade_object(i, o, d, duration, an.height) for i,
                    (o, d) in enumerate(zip(scene.objects, matched, strict=True)))
    # 2. scene-level attributes
    relation_ok = _relation_ok(scene, matched, duration)
    camera_ok = an.camera.kind == scene.camera
    physics = [p for og in objects for p in og.physics]
    physics_ok = None if not physics else all(p.ok for p in physics)
    permanence_ok = _permanence_ok(scene, matched, an)
    # 3. temporal quality
    fl = metrics.flicker(frames)
    drift = metrics.color_drift(frames, fps)
    ident = an.identity_consistency
    temporal_ok = fl <= FLICKER_MAX and ident >= IDENTITY_MIN and drift <= COLOR_DRIFT_MAX
    used = {id(d) for d in matched if d is not None}
    extra = sum(1 for d in an.objects if id(d) not in used)
    g = Grade(
        objects=objects,
        relation_ok=relation_ok, camera_ok=camera_ok, camera_expected=scene.camera,
        camera_detected=an.camera.kind,
        physics_ok=physics_ok, permanence_ok=permanence_ok, flicker=fl, identity_consistency=ident,
        color_drift=drift, temporal_ok=temporal_ok, extra_objects=extra, adherence=0.0,
        analysis=an,
    )
    checks = list(g.checks.values())
    adherence = float(np.mean(checks)) if checks else 0.0
    return dataclasses.replace(g, adherence=adherence)


def identity_consistency(frames: np.ndarray, fps: float = 16.0) -> float:
    """How stable the objects' identities are through a clip, in [0, 1] (1 = perfectly stable).

    For every tracked object (see `oracle.analyze`): the fraction of its whole, nameable blobs
    whose shape is the object's majority shape, times the fraction of its blobs whose colour stays
    within ΔE 12 of its median colour; averaged over objects weighted by how long each is seen.
    A clip with no objects scores 1 (nothing to be inconsistent); use the oracle for presence.
    """
    return analyze(frames, fps).identity_consistency
