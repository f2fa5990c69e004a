"""Validate the oracle: it must pass rendered ground truth and fail deliberately wrong clips.

Ground truth: `random_scene` clips rendered, encoded to H.264 (CRF 18, yuv420p) and decoded, as a
generated video would arrive. Each is graded against its own scene; every attribute check should
pass. Corruptions pair a clip with a scene it does not show (a wrong colour, shape, motion,
relation or camera; an object dropped from the render), or mangle the frames (reversed,
shuffled, pure noise, blank); the oracle should fail each, and we count how often it does.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import SceneSpec, random_scene
from cinegen.backlot.vocab import COLORS, MOTIONS, RELATIONS, SHAPES
from cinegen.eval.oracle import Grade, analyze, grade
from cinegen.media import read_video, write_video

Clip = tuple[SceneSpec, np.ndarray, float]  # scene, decoded frames (T, H, W, 3), fps
# A corruption returns the scene to grade against and the frames to grade, or None when it does
# not apply to this clip (reversing motion needs a reversible motion, and so on).
Corruption = Callable[[SceneSpec, np.ndarray, random.Random], "tuple[SceneSpec, np.ndarray] | None"]

_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "grow": "shrink", "shrink": "grow"}
_LOW_CONTRAST = {("green", "grass"), ("white", "studio"), ("blue", "sky"), ("purple", "night"),
                 ("orange", "sunset")}


def encode_roundtrip(frames: np.ndarray, fps: int, crf: int = 18) -> np.ndarray:
    """Frames after an H.264 encode and decode, as a video file delivers them."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "clip.mp4"
        write_video(path, frames, fps, crf=crf)
        out, _ = read_video(path)
    return out


def true_clips(
    n: int, seed: int = 0, seconds: tuple[float, ...] = (2.0, 3.0, 4.0), crf: int = 18
) -> Iterator[Clip]:
    """`n` random ground-truth clips (128x128, 16 fps), encoded and decoded."""
    rng = random.Random(seed)
    for _ in range(n):
        scene = random_scene(rng, seconds=rng.choice(seconds))
        yield scene, encode_roundtrip(render_scene(scene), scene.fps, crf), float(scene.fps)


# ----------------------------------------------------------------------------- corruptions
def _replace_object(scene: SceneSpec, i: int, **changes: object) -> SceneSpec:
    objs = list(scene.objects)
    objs[i] = dataclasses.replace(objs[i], **changes)  # type: ignore[arg-type]
    return scene.replace(objects=tuple(objs))


def wrong_color(scene: SceneSpec, frames: np.ndarray,
                rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    i = rng.randrange(len(scene.objects))
    o = scene.objects[i]
    taken = {(p.color, p.shape) for p in scene.objects}
    options = [c for c in COLORS
               if c != o.color and (c, o.shape) not in taken and (c, scene.setting) not in _LOW_CONTRAST]
    return _replace_object(scene, i, color=rng.choice(options)), frames


def wrong_shape(scene: SceneSpec, frames: np.ndarray,
                rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    i = rng.randrange(len(scene.objects))
    o = scene.objects[i]
    taken = {(p.color, p.shape) for p in scene.objects}
    options = [s for s in SHAPES if s != o.shape and (o.color, s) not in taken]
    return _replace_object(scene, i, shape=rng.choice(options)), frames


def reversed_motion(scene: SceneSpec, frames: np.ndarray,
                    rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    """The prompt asks for the opposite motion (left<->right, up<->down, grow<->shrink)."""
    idx = [i for i, o in enumerate(scene.objects) if o.motion in _OPPOSITE]
    if not idx:
        return None
    i = rng.choice(idx)
    return _replace_object(scene, i, motion=_OPPOSITE[scene.objects[i].motion]), frames


def wrong_motion(scene: SceneSpec, frames: np.ndarray,
                 rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    i = rng.randrange(len(scene.objects))
    o = scene.objects[i]
    return _replace_object(scene, i, motion=rng.choice([m for m in MOTIONS if m != o.motion])), frames


def wrong_relation(scene: SceneSpec, frames: np.ndarray,
                   rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    if scene.relation is None:
        return None
    flip = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
    assert set(flip) == set(RELATIONS)
    return scene.replace(relation=dataclasses.replace(scene.relation, kind=flip[scene.relation.kind])), frames


def wrong_camera(scene: SceneSpec, frames: np.ndarray,
                 rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    options = [c for c in ("static", "pan_left", "pan_right", "zoom_in", "zoom_out") if c != scene.camera]
    return scene.replace(camera=rng.choice(options)), frames


def dropped_object(scene: SceneSpec, frames: np.ndarray,
                   rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    """The video lacks one of the scene's objects (rendered without it)."""
    if len(scene.objects) < 2:
        return None
    i = rng.randrange(len(scene.objects))
    keep = tuple(o for k, o in enumerate(scene.objects) if k != i)
    shown = scene.replace(objects=keep, relation=None)
    return scene, encode_roundtrip(render_scene(shown), scene.fps)


def _moves(scene: SceneSpec) -> bool:
    return scene.camera != "static" or any(m != "still" for o in scene.objects for m in o.motions)


_BACKWARDS = {**_OPPOSITE, "still": "still", "bounce": "bounce", "fall": "rise"}  # played backwards
_CAMERA_BACKWARDS = {"static": "static", "pan_left": "pan_right", "pan_right": "pan_left",
                     "zoom_in": "zoom_out", "zoom_out": "zoom_in"}


def _palindrome(scene: SceneSpec) -> bool:
    """Does the scene played backwards read the same ("up, then down"; a bounce; nothing moving)?"""
    if _CAMERA_BACKWARDS[scene.camera] != scene.camera:
        return False
    return all(tuple(_BACKWARDS[m] for m in reversed(o.motions)) == o.motions for o in scene.objects)


def reversed_frames(scene: SceneSpec, frames: np.ndarray,
                    rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    """The clip played backwards (only clips whose scene does not read the same backwards)."""
    return None if _palindrome(scene) else (scene, frames[::-1].copy())


def shuffled_frames(scene: SceneSpec, frames: np.ndarray,
                    rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    """The frames in random order (only clips where something moves can tell)."""
    if not _moves(scene):
        return None
    order = list(range(len(frames)))
    rng.shuffle(order)
    return scene, frames[order]


def noise(scene: SceneSpec, frames: np.ndarray, rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    g = np.random.default_rng(rng.randrange(2**32))
    return scene, g.integers(0, 256, size=frames.shape, dtype=np.uint8)


def blank(scene: SceneSpec, frames: np.ndarray, rng: random.Random) -> tuple[SceneSpec, np.ndarray] | None:
    return scene, np.full_like(frames, 128)


CORRUPTIONS: dict[str, Corruption] = {
    "wrong_color": wrong_color,
    "wrong_shape": wrong_shape,
    "reversed_motion": reversed_motion,
    "wrong_motion": wrong_motion,
    "wrong_relation": wrong_relation,
    "wrong_camera": wrong_camera,
    "dropped_object": dropped_object,
    "reversed_frames": reversed_frames,
    "shuffled_frames": shuffled_frames,
    "noise": noise,
    "blank": blank,
}


# ----------------------------------------------------------------------------- running
@dataclass
class Validation:
    """Per-attribute accuracy on true clips and rejection rate per corruption."""

    clips: int = 0
    passed: int = 0
    attributes: dict[str, list[int]] = field(default_factory=dict)  # name -> [passed, total]
    corruptions: dict[str, list[int]] = field(default_factory=dict)  # name -> [rejected, applicable]
    failures: list[dict[str, object]] = field(default_factory=list)  # true clips that failed
    missed: list[dict[str, object]] = field(default_factory=list)  # corruptions that passed

    def add_true(self, scene: SceneSpec, g: Grade) -> None:
        self.clips += 1
        self.passed += g.passed
        for name, results in [*g.attribute_results().items(), ("temporal", [g.temporal_ok])]:
            acc = self.attributes.setdefault(name, [0, 0])
            acc[0] += sum(results)
            acc[1] += len(results)
        if not g.passed:
            bad = [k for k, v in g.checks.items() if not v]
            self.failures.append({"scene": scene.to_dict(), "failed": bad, "grade": g.to_dict()})

    def add_corrupt(self, name: str, scene: SceneSpec, g: Grade) -> None:
        acc = self.corruptions.setdefault(name, [0, 0])
        acc[0] += not g.passed
        acc[1] += 1
        if g.passed:
            self.missed.append({"corruption": name, "scene": scene.to_dict()})

    def to_dict(self) -> dict[str, object]:
        return {
            "true_clips": self.clips,
            "true_clips_passed": self.passed,
            "attributes": {k: {"passed": v[0], "total": v[1], "rate": v[0] / v[1] if v[1] else None} for k,
                           v in self.attributes.items()},
            "corruptions": {k: {"rejected": v[0], "applicable": v[1], "rate": v[0] / v[1] if v[1] else None}
                            for k, v in self.corruptions.items()},
            "failures": self.failures,
            "missed": self.missed,
        }


def validate(
    n: int,
    seed: int = 0,
    corrupt_every: int = 1,
    corruptions: tuple[str, ...] = tuple(CORRUPTIONS),
    progress: Callable[[int], None] | None = None,
) -> Validation:
    """Grade `n` true clips, and every `corrupt_every`-th one under each corruption."""
    result = Validation()
    rng = random.Random(seed + 1)
    for k, (scene, frames, fps) in enumerate(true_clips(n, seed)):
        an = analyze(frames, fps)
        result.add_true(scene, grade(frames, fps, scene, analysis=an))
        if k % corrupt_every == 0:
            for name in corruptions:
                got = CORRUPTIONS[name](scene, frames, rng)
                if got is None:
                    continue
                bad_scene, bad_frames = got
                reuse = an if bad_frames is frames else None  # same pixels: same analysis
                result.add_corrupt(name, bad_scene, grade(bad_frames, fps, bad_scene, analysis=reuse))
        if progress is not None:
            progress(k + 1)
    return result


# ----------------------------------------------------------------------------- robustness
def _blur(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(frames.astype(np.float32), (0, 1.5, 1.5, 0))
    return blurred.round().clip(0, 255).astype(np.uint8)


def _noise8(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (frames + rng.normal(0, 8, frames.shape)).round().clip(0, 255).astype(np.uint8)


def _tint(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (frames * rng.uniform(0.88, 1.12, 3)).round().clip(0, 255).astype(np.uint8)


def _crf35(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return encode_roundtrip(frames, 16, crf=35)


# Degradations of true clips that a generated video might show; the scene stays right.
DEGRADATIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "blur sigma 1.5 px": _blur,
    "gaussian noise sigma 8": _noise8,
    "per-channel gain +-12%": _tint,
    "H.264 CRF 35": _crf35,
}


def robustness(n: int, seed: int = 99) -> dict[str, Validation]:
    """Per-attribute accuracy on `n` true 2 s clips under each degradation."""
    out = {name: Validation() for name in DEGRADATIONS}
    rng = np.random.default_rng(seed)
    for scene, frames, fps in true_clips(n, seed, seconds=(2.0,)):
        for name, degrade in DEGRADATIONS.items():
            out[name].add_true(scene, grade(degrade(frames, rng), fps, scene))
    return out
