"""The shot plan: a typed, versioned, JSON-serialisable layout over time.

A plan is the *blocking* of a shot, readable and editable by hand: the setting, the camera path,
and for every object its description (shape, colour, the phrase it came from) and its box at every
frame of the model's native frame rate. Boxes are in screen coordinates, after the camera:
    cx  centre, in frame widths from the left edge (0..1 inside the frame)
    cy  centre, in frame heights from the top edge (0..1 inside the frame)
    size  the object's radius, in frame heights (its box is 2 * size frame heights on a side)
An object may be partly or wholly outside the frame while it enters or leaves, so centres may lie
in [-0.5, 1.5]; anything further out is refused as a mistake.

The planner (planner.py) writes plans from prompts; users write or edit them as JSON; the raster
(raster.py) turns a plan into the renderer's conditioning. Only what the plan says is used: the
frames still come from the model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from cinegen.backlot.vocab import CAMERAS, COLORS, MAX_OBJECTS, MAX_SECONDS, SETTINGS, SHAPES

PLAN_VERSION = 1
CENTRE_RANGE = (-0.5, 1.5)  # centres further out than this are a mistake, not an exit
SIZE_RANGE = (0.02, 0.5)  # radius in frame heights
MAX_PHRASE_CHARS = 200


class PlanError(ValueError):
    """A plan that cannot be used; the message names the field and its value."""


@dataclass(frozen=True)
class Box:
    """One object at one frame: centre (frame widths, frame heights) and radius (frame heights)."""

    cx: float
    cy: float
    size: float


@dataclass(frozen=True)
class ObjectPlan:
    shape: str
    color: str
    phrase: str
    boxes: tuple[Box, ...]  # one per frame


@dataclass(frozen=True)
class CameraPlan:
    """The camera's move: its name and, per frame, the view's pan (frame heights) and zoom factor."""

    kind: str = "static"
    pan: tuple[float, ...] = ()
    zoom: tuple[float, ...] = ()


@dataclass(frozen=True)
class ShotPlan:
    seconds: float
    fps: int
    objects: tuple[ObjectPlan, ...]
    setting: str = "studio"
    camera: CameraPlan = field(default_factory=CameraPlan)
    prompt: str = ""
    seed: int = 0
    version: int = PLAN_VERSION

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    def __post_init__(self) -> None:
        validate(self)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        cam = {"kind": self.camera.kind, "pan": list(self.camera.pan), "zoom": list(self.camera.zoom)}
        objects = [{"shape": o.shape, "color": o.color, "phrase": o.phrase,
                    "boxes": [[round(b.cx, 5), round(b.cy, 5), round(b.size, 5)] for b in o.boxes]}
                   for o in self.objects]
        return {"version": self.version, "prompt": self.prompt, "seed": self.seed, "seconds": self.seconds,
                "fps": self.fps, "setting": self.setting, "camera": cam, "objects": objects}

    def to_json(self, indent: int | None = None) -> str:
        """JSON; with `indent`, readable by hand: one line per box, numeric lists kept on one line."""
        text = json.dumps(self.to_dict(), indent=indent)
        if indent is None:
            return text
        return re.sub(r"\[\s+([-0-9.e,\s]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)

    @classmethod
    def from_dict(cls, d: Any) -> ShotPlan:
        return plan_from_dict(d)

    @classmethod
    def from_json(cls, text: str) -> ShotPlan:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise PlanError(f"plan is not valid JSON: {e}") from e
        return plan_from_dict(d)


# ---------------------------------------------------------------------------- reading
_PLAN_KEYS = {"version", "prompt", "seed", "seconds", "fps", "setting", "camera", "objects"}
_OBJECT_KEYS = {"shape", "color", "phrase", "boxes"}
_CAMERA_KEYS = {"kind", "pan", "zoom"}


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise PlanError(f"{where} must be a finite number, got {v!r}")
    return float(v)


def _keys(d: Any, known: set[str], where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise PlanError(f"{where} must be an object, got {type(d).__name__}")
    unknown = set(d) - known
    if unknown:
        raise PlanError(f"unknown {where} keys: {sorted(unknown)}")
    return d


def plan_from_dict(d: Any) -> ShotPlan:
    """Build and validate a plan from parsed JSON; every error names the field and its value."""
    d = _keys(d, _PLAN_KEYS, "plan")
    version = d.get("version")
    if version != PLAN_VERSION:
        raise PlanError(f"plan.version {version!r} is not one this cinegen reads (it reads {PLAN_VERSION})")
    for k in ("seconds", "fps", "objects"):
        if k not in d:
            raise PlanError(f"plan.{k} is missing")
    fps = d["fps"]
    if isinstance(fps, bool) or not isinstance(fps, int):
        raise PlanError(f"plan.fps must be an integer, got {fps!r}")
    seed = d.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PlanError(f"plan.seed must be an integer, got {seed!r}")
    prompt = d.get("prompt", "")
    if not isinstance(prompt, str):
        raise PlanError(f"plan.prompt must be a string, got {type(prompt).__name__}")
    setting = d.get("setting", "studio")
    cam = _keys(d.get("camera", {}), _CAMERA_KEYS, "plan.camera")
    pan, zoom = cam.get("pan", []), cam.get("zoom", [])
    if not isinstance(pan, list) or not isinstance(zoom, list):
        raise PlanError("plan.camera.pan and plan.camera.zoom must be lists of numbers")
    camera = CameraPlan(
        kind=cam.get("kind", "static"),
        pan=tuple(_number(v, f"plan.camera.pan[{i}]") for i, v in enumerate(pan)),
        zoom=tuple(_number(v, f"plan.camera.zoom[{i}]") for i, v in enumerate(zoom)),
    )
    objs_in = d["objects"]
    if not isinstance(objs_in, list):
        raise PlanError(f"plan.objects must be a list, got {type(objs_in).__name__}")
    objects = []
    for i, o in enumerate(objs_in):
        o = _keys(o, _OBJECT_KEYS, f"plan.objects[{i}]")
        boxes_in = o.get("boxes")
        if not isinstance(boxes_in, list):
            raise PlanError(
                f"plan.objects[{i}].boxes must be a list of [cx, cy, size], got {type(boxes_in).__name__}"
            )
        boxes = []
        for j, b in enumerate(boxes_in):
            if not isinstance(b, list) or len(b) != 3:
                raise PlanError(f"plan.objects[{i}].boxes[{j}] must be [cx, cy, size], got {b!r}")
            cx, cy, size = (_number(v, f"plan.objects[{i}].boxes[{j}]") for v in b)
            boxes.append(Box(cx, cy, size))
        phrase = o.get("phrase", "")
        if not isinstance(phrase, str):
            raise PlanError(f"plan.objects[{i}].phrase must be a string")
        shape, color = o.get("shape"), o.get("color")
        for name, value in (("shape", shape), ("color", color)):
            if not isinstance(value, str):
                raise PlanError(f"plan.objects[{i}].{name} must be a string, got {value!r}")
        objects.append(ObjectPlan(shape=str(shape), color=str(color), phrase=phrase, boxes=tuple(boxes)))
    seconds = _number(d["seconds"], "plan.seconds")
    return ShotPlan(seconds=seconds, fps=fps, objects=tuple(objects), setting=setting, camera=camera,
                    prompt=prompt, seed=seed)


# ---------------------------------------------------------------------------- validation
def validate(plan: ShotPlan) -> None:
    """Raise PlanError naming the first field that is wrong."""
    if plan.version != PLAN_VERSION:
        raise PlanError(
            f"plan.version {plan.version!r} is not one this cinegen reads (it reads {PLAN_VERSION})"
        )
    if not 0 < plan.seconds <= MAX_SECONDS:
        raise PlanError(f"plan.seconds must be in (0, {MAX_SECONDS:g}], got {plan.seconds!r}")
    if not 1 <= plan.fps <= 60:
        raise PlanError(f"plan.fps must be in 1..60, got {plan.fps!r}")
    if plan.setting not in SETTINGS:
        raise PlanError(f"plan.setting {plan.setting!r} is unknown; known: {', '.join(SETTINGS)}")
    if plan.camera.kind not in CAMERAS:
        raise PlanError(f"plan.camera.kind {plan.camera.kind!r} is unknown; known: {', '.join(CAMERAS)}")
    n = plan.num_frames
    for name, seq in (("pan", plan.camera.pan), ("zoom", plan.camera.zoom)):
        if seq and len(seq) != n:
            raise PlanError(
                f"plan.camera.{name} has {len(seq)} entries; the plan has {n} frames "
                f"({plan.seconds:g} s at {plan.fps} fps)"
            )
    if any(not 0.25 <= z <= 4.0 for z in plan.camera.zoom):
        raise PlanError("plan.camera.zoom entries must be in [0.25, 4]")
    if not 1 <= len(plan.objects) <= MAX_OBJECTS:
        raise PlanError(f"plan.objects must hold 1 to {MAX_OBJECTS} objects, got {len(plan.objects)}")
    lo, hi = CENTRE_RANGE
    for i, o in enumerate(plan.objects):
        if o.shape not in SHAPES:
            raise PlanError(f"plan.objects[{i}].shape {o.shape!r} is unknown; known: {', '.join(SHAPES)}")
        if o.color not in COLORS:
            raise PlanError(f"plan.objects[{i}].color {o.color!r} is unknown; known: {', '.join(COLORS)}")
        if len(o.phrase) > MAX_PHRASE_CHARS:
            raise PlanError(f"plan.objects[{i}].phrase is longer than {MAX_PHRASE_CHARS} characters")
        if len(o.boxes) != n:
            raise PlanError(
                f"plan.objects[{i}].boxes has {len(o.boxes)} entries; the plan has {n} frames "
                f"({plan.seconds:g} s at {plan.fps} fps)"
            )
        for j, b in enumerate(o.boxes):
            if not (lo <= b.cx <= hi and lo <= b.cy <= hi):
                raise PlanError(
                    f"plan.objects[{i}].boxes[{j}] centre ({b.cx:g}, {b.cy:g}) is outside the frame "
                    f"(centres must lie in [{lo:g}, {hi:g}] frame widths/heights)"
                )
            if not SIZE_RANGE[0] <= b.size <= SIZE_RANGE[1]:
                raise PlanError(
                    f"plan.objects[{i}].boxes[{j}] size {b.size:g} is out of range "
                    f"[{SIZE_RANGE[0]:g}, {SIZE_RANGE[1]:g}] frame heights"
                )


def check_matches(plan: ShotPlan, seconds: float, fps: int) -> None:
    """A plan must cover exactly the requested clip, at the model's frame rate."""
    if plan.fps != fps:
        raise PlanError(f"plan.fps is {plan.fps}; this model plans at {fps} fps")
    if plan.num_frames != max(1, round(seconds * fps)):
        raise PlanError(f"plan.seconds is {plan.seconds:g}, but the request is for {seconds:g} s")
