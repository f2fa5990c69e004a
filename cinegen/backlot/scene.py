"""A backlot scene: the typed, validated description that renders, captions, parses and grades.

A scene is pure data. `render.render_scene` turns it into frames, `captions.captions_for` into
text, `parse.parse_prompt` turns text back into a scene, and the oracle grades a video against it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from typing import Any

from cinegen.backlot.vocab import (
    CAMERAS,
    COLORS,
    MAX_OBJECTS,
    MAX_SECONDS,
    MOTIONS,
    RELATIONS,
    SETTINGS,
    SHAPES,
)
from cinegen.config import unknown_keys


class SceneError(ValueError):
    """A scene that cannot exist (bad size, duration, fps, vocabulary or object count)."""


@dataclass(frozen=True)
class ObjectSpec:
    """One object. Positions are in world units (frame height = 1, y down) at the clip start."""

    shape: str
    color: str
    motion: str = "still"
    then: str | None = None  # the motion after the change at `change_at` (fraction of the clip)
    change_at: float = 0.5
    x: float = 0.5  # centre, in units of frame width (0 = left edge, 1 = right edge)
    y: float = 0.55  # centre, in units of frame height (0 = top, 1 = bottom)
    size: float = 0.1  # radius in frame heights
    speed: float = 0.12  # frame widths (or heights) per second for left/right/up/down
    shade: float = 0.0  # -1..1, a small natural variation of the colour's brightness

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise SceneError(f"unknown shape {self.shape!r}; known: {', '.join(SHAPES)}")
        if self.color not in COLORS:
            raise SceneError(f"unknown color {self.color!r}; known: {', '.join(COLORS)}")
        for name, m in (("motion", self.motion), ("then", self.then)):
            if m is not None and m not in MOTIONS:
                raise SceneError(f"unknown {name} {m!r}; known: {', '.join(MOTIONS)}")
        if not 0.05 <= self.change_at <= 0.95:
            raise SceneError(f"change_at must be in [0.05, 0.95], got {self.change_at}")
        if not 0.02 <= self.size <= 0.3:
            raise SceneError(f"object size must be in [0.02, 0.3] frame heights, got {self.size}")
        if not -1.0 <= self.shade <= 1.0:
            raise SceneError(f"shade must be in [-1, 1], got {self.shade}")

    @property
    def motions(self) -> tuple[str, ...]:
        return (self.motion,) if self.then is None else (self.motion, self.then)


@dataclass(frozen=True)
class Relation:
    """`objects[a]` is `kind` of `objects[b]` at the start of the clip."""

    a: int
    kind: str
    b: int

    def __post_init__(self) -> None:
        if self.kind not in RELATIONS:
            raise SceneError(f"unknown relation {self.kind!r}; known: {', '.join(RELATIONS)}")
        if self.a == self.b:
            raise SceneError("a relation needs two different objects")


@dataclass(frozen=True)
class SceneSpec:
    """A whole clip: objects, setting, camera, relation, occluder, timing and size."""

    objects: tuple[ObjectSpec, ...]
    setting: str = "studio"
    camera: str = "static"
    relation: Relation | None = None
    occluder: bool = False  # a foreground pillar that objects pass behind
    occluder_x: float = 0.5
    seconds: float = 4.0
    fps: int = 16
    width: int = 128
    height: int = 128
    seed: int = 0
    texture: float = 1.0  # 0 = flat colours, 1 = the world's gentle texture and lighting
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.objects) <= MAX_OBJECTS:
            raise SceneError(f"a scene holds 1 to {MAX_OBJECTS} objects, got {len(self.objects)}")
        if self.setting not in SETTINGS:
            raise SceneError(f"unknown setting {self.setting!r}; known: {', '.join(SETTINGS)}")
        if self.camera not in CAMERAS:
            raise SceneError(f"unknown camera {self.camera!r}; known: {', '.join(CAMERAS)}")
        if self.fps <= 0 or self.fps > 120:
            raise SceneError(f"fps must be in 1..120, got {self.fps}")
        if not self.seconds > 0:
            raise SceneError(f"seconds must be > 0, got {self.seconds}")
        if self.seconds > MAX_SECONDS:
            raise SceneError(f"seconds must be at most {MAX_SECONDS:g}, got {self.seconds}")
        for side, v in (("width", self.width), ("height", self.height)):
            if v < 16 or v > 2048 or v % 2:
                raise SceneError(f"{side} must be an even number in 16..2048, got {v}")
        if self.relation is not None and max(self.relation.a, self.relation.b) >= len(self.objects):
            raise SceneError(f"relation {self.relation} names an object that does not exist")
        if not 0.0 <= self.texture <= 1.0:
            raise SceneError(f"texture must be in [0, 1], got {self.texture}")

    @property
    def num_frames(self) -> int:
        """Frames in the clip: at least one (a still)."""
        return max(1, round(self.seconds * self.fps))

    def replace(self, **changes: Any) -> SceneSpec:
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("extra")
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneSpec:
        d = dict(d)
        unknown = unknown_keys(cls, d, exclude=("extra",))
        if unknown:
            raise SceneError(f"unknown scene keys: {unknown}")
        objs = []
        for o in d.pop("objects"):
            bad = unknown_keys(ObjectSpec, o)
            if bad:
                raise SceneError(f"unknown object keys: {bad}")
            objs.append(ObjectSpec(**o))
        rel = d.pop("relation", None)
        return cls(objects=tuple(objs), relation=Relation(**rel) if rel else None, **d)


# --------------------------------------------------------------------------- placement
def place_objects(
    objects: list[ObjectSpec], relation: Relation | None, rng: random.Random
) -> list[ObjectSpec]:
    """Choose start positions so each motion stays in frame and the relation holds.

    The layout depends only on each object's motion and the relation, so a parsed prompt and a
    random scene are laid out by the same rule.
    """
    n = len(objects)
    # Horizontal lanes keep several objects apart; a relation swaps lanes or rows as it requires.
    lanes = {1: [0.5], 2: [0.3, 0.7], 3: [0.2, 0.5, 0.8]}[n]
    xs = list(lanes)
    rng.shuffle(xs)
    ys = [0.55] * n
    if relation is not None:
        a, b = relation.a, relation.b
        if relation.kind in ("left_of", "right_of"):
            lo, hi = sorted((xs[a], xs[b]))
            xs[a], xs[b] = (lo, hi) if relation.kind == "left_of" else (hi, lo)
        else:
            xs[b] = xs[a]
            ys[a], ys[b] = (0.32, 0.68) if relation.kind == "above" else (0.68, 0.32)
            # a third object must not sit on the shared column
            for i in range(n):
                if i not in (a, b) and abs(xs[i] - xs[a]) < 0.25:
                    xs[i] = 0.15 if xs[a] > 0.5 else 0.85
    placed = []
    for i, o in enumerate(objects):
        x, y = xs[i] + rng.uniform(-0.04, 0.04), ys[i] + rng.uniform(-0.04, 0.04)
        first = o.motion
        if first == "left" and relation is None and n == 1:
            x = rng.uniform(0.68, 0.78)
        elif first == "right" and relation is None and n == 1:
            x = rng.uniform(0.22, 0.32)
        elif first == "up" and relation is None:
            y = rng.uniform(0.62, 0.72)
        elif first == "down" and relation is None:
            y = rng.uniform(0.28, 0.38)
        elif first == "fall" and relation is None:
            y = rng.uniform(0.15, 0.25)
        elif first == "bounce":
            y = min(y, 0.7)
        placed.append(dataclasses.replace(o, x=round(x, 4), y=round(y, 4)))
    return placed


def random_scene(
    rng: random.Random,
    *,
    seconds: float = 4.0,
    fps: int = 16,
    width: int = 128,
    height: int = 128,
    max_objects: int = MAX_OBJECTS,
    exclude: frozenset[tuple[str, str, str]] = frozenset(),
    only: tuple[str, str, str] | None = None,
) -> SceneSpec:
    """Draw a random gradable scene.

    `exclude` holds (colour, shape, motion) compositions that must not appear (held-out ones);
    `only` forces the first object to one composition (to build held-out evaluation sets).
    """
    n = rng.choices([1, 2, 3], weights=[0.55, 0.3, 0.15])[0] if max_objects >= 3 else rng.randint(1,
                                                                                                  max_objects)
    setting = rng.choice(SETTINGS)
    used: set[tuple[str, str]] = set()
    objs: list[ObjectSpec] = []
    for i in range(n):
        color, shape, motion, setting = _draw_composition(rng, setting, used, exclude,
                                                          only if i == 0 else None,
                                                          only is not None)
        used.add((color, shape))
        then = None
        if n == 1 and motion in ("left", "right", "up", "down", "still") and rng.random() < 0.15:
            then = rng.choice([m for m in ("fall", "still", "up", "down", "left", "right") if m != motion])
            if (color, shape, then) in exclude:
                then = None
        size = round(rng.uniform(0.075, 0.11) if n > 1 else rng.uniform(0.085, 0.13), 4)
        objs.append(ObjectSpec(shape=shape, color=color, motion=motion, then=then, size=size,
                               speed=round(rng.uniform(0.1, 0.14), 4), shade=round(rng.uniform(-1, 1), 3)))
    relation = None
    if n >= 2 and rng.random() < 0.7:
        relation = Relation(0, rng.choice(RELATIONS), 1)
        if only is not None and relation.kind in ("above", "below") and objs[0].motion in ("fall", "up",
                                                                                           "down", "bounce"):
            # a forced (held-out) composition keeps its motion: relate it sideways instead
            relation = Relation(0, "left_of" if relation.kind == "above" else "right_of", 1)
        # vertical relations with vertical motions fight over rows; keep those scenes simple
        if relation.kind in ("above", "below"):
            objs = [
                dataclasses.replace(o,
                                    motion="still" if o.motion in ("fall", "up", "down", "bounce")
                                    else o.motion)
                if (o.color, o.shape, "still") not in exclude
                else o
                for o in objs
            ]
    camera = rng.choices(CAMERAS, weights=[0.6, 0.1, 0.1, 0.1, 0.1])[0]
    occluder = n == 1 and objs[0].motion in ("left", "right") and objs[0].then is None and rng.random() < 0.2
    placed = place_objects(objs, relation, rng)
    return SceneSpec(objects=tuple(placed), setting=setting, camera=camera, relation=relation,
                     occluder=occluder,
                     occluder_x=0.5, seconds=seconds, fps=fps, width=width, height=height,
                     seed=rng.randrange(2**31))


def _draw_composition(
    rng: random.Random, setting: str, used: set[tuple[str, str]], exclude: frozenset[tuple[str, str, str]],
    forced: tuple[str, str, str] | None, any_forced: bool,
) -> tuple[str, str, str, str]:
    """(colour, shape, motion, setting) for one object: distinct from `used`, not an excluded
    composition, visible in the setting; a `forced` composition moves the setting instead."""
    for _ in range(200):
        if forced is not None:
            color, shape, motion = forced
        else:
            color, shape, motion = rng.choice(list(COLORS)), rng.choice(SHAPES), rng.choice(MOTIONS)
        if (color, shape) in used or (color, shape, motion) in exclude and not any_forced:
            continue
        if (color, shape, motion) in exclude and forced is None:
            continue
        if not _visible(color, setting):
            if forced is not None:
                setting = rng.choice([s for s in SETTINGS if _visible(color, s)])
            else:
                continue
        return color, shape, motion, setting
    raise SceneError("could not draw distinct objects")  # pragma: no cover - the vocabulary is far larger


def _visible(color: str, setting: str) -> bool:
    """Colour/setting pairs whose contrast is too low to see or grade are not drawn at random."""
    low = {("green", "grass"), ("white", "studio"), ("blue", "sky"), ("purple", "night"),
           ("orange", "sunset")}
    return (color, setting) not in low
