"""The planner: prompt -> shot plan, with the backlot world's own physics.

The prompt is parsed into a backlot scene (objects, motions, relation, setting, camera; the
seed places the objects and picks an unsaid colour), and every object's trajectory is integrated
with the world's physics (constant speeds, gravity with lossy bounces, growth, wrap-around travel)
by the same code that renders training clips; the camera's pan and zoom are applied so boxes are
where the object appears on screen. The renderer learned from exactly these layouts.

Prompts the parser cannot place get no plan (the model then works from the text alone).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import torch

from cinegen.backlot.captions import MOTION_WORDS
from cinegen.backlot.motion import Track, camera_path, object_track
from cinegen.backlot.parse import PromptError, parse_prompt
from cinegen.backlot.scene import SceneError, SceneSpec
from cinegen.planning.paths import apply_path
from cinegen.planning.plan import Box, CameraPlan, ObjectPlan, ShotPlan, check_matches
from cinegen.planning.raster import latent_layout


def screen_tracks(scene: SceneSpec, tracks: Sequence[Track] | None = None) -> np.ndarray:
    """Every object's on-screen (cx, cy, size) per frame: (objects, T, 3), in plan units.

    `tracks` (one per object, world units) replace the world's motion, as `render_scene` takes them."""
    cam = camera_path(scene)
    aspect = scene.width / scene.height
    out = np.empty((len(scene.objects), scene.num_frames, 3))
    for k, o in enumerate(scene.objects):
        tr = object_track(o, scene) if tracks is None else tracks[k]
        z = cam.zoom
        px = (tr.x - cam.cx) * z + aspect / 2  # frame heights from the left edge
        out[k, :, 0] = px / aspect
        out[k, :, 1] = (tr.y - 0.5) * z + 0.5
        out[k, :, 2] = tr.r * z
    return out


def plan_from_scene(scene: SceneSpec, prompt: str = "", tracks: Sequence[Track] | None = None) -> ShotPlan:
    """The exact layout of a backlot scene as a plan (what training conditions on); `tracks` as in
    `screen_tracks`."""
    boxes = np.round(
        np.clip(screen_tracks(scene, tracks), [-0.5, -0.5, 0.02], [1.5, 1.5, 0.5]), 5
    )  # as JSON keeps them
    cam = camera_path(scene)
    aspect = scene.width / scene.height
    objects = tuple(
        ObjectPlan(
            shape=o.shape,
            color=o.color,
            phrase=" ".join(
                [o.color, o.shape, MOTION_WORDS[o.motion]]
                + ([f"then {MOTION_WORDS[o.then]}"] if o.then else [])
            ),
            boxes=tuple(Box(float(a), float(b), float(c)) for a, b, c in boxes[k]),
        )
        for k, o in enumerate(scene.objects)
    )
    return ShotPlan(
        seconds=scene.seconds,
        fps=scene.fps,
        objects=objects,
        setting=scene.setting,
        camera=CameraPlan(
            kind=scene.camera,
            pan=tuple(float(v) for v in np.round(cam.cx - aspect / 2, 5)),
            zoom=tuple(float(v) for v in np.round(cam.zoom, 5)),
        ),
        prompt=prompt,
        seed=scene.seed,
    )


def plan_prompt(
    prompt: str, *, seconds: float, seed: int, fps: int = 16, width: int = 128, height: int = 128
) -> ShotPlan | None:
    """A plan for `prompt`, or None when the backlot's parser cannot place it."""
    try:
        scene = parse_prompt(prompt, seconds=seconds, fps=fps, width=width, height=height, seed=seed)
    except (PromptError, SceneError):
        return None
    return plan_from_scene(scene, prompt)


def summarize(plan: ShotPlan) -> str:
    """One line per object for the CLI: where it starts and ends."""
    lines = []
    for o in plan.objects:
        a, b = o.boxes[0], o.boxes[-1]
        lines.append(
            f"{o.phrase}: ({a.cx:.2f}, {a.cy:.2f}) -> ({b.cx:.2f}, {b.cy:.2f}), "
            f"size {a.size:.2f} -> {b.size:.2f}"
        )
    return "; ".join(lines)


# ---------------------------------------------------------------------------- anchoring to given frames
def locate(frame: np.ndarray, color: str) -> Box | None:
    """Where an object of `color` is in a frame (H, W, 3) uint8: its centre and radius, or None.

    Pixels within a colour distance of the backlot colour are the object; the centre is their
    mean and the radius that of a disc of their area. Used to start a plan where a given image's
    object is (image-to-video) or to continue it from a clip's last frame (extend, connect).
    """
    from cinegen.backlot.vocab import COLORS

    h, w = frame.shape[:2]
    rgb = np.asarray(COLORS[color], np.float32)
    d = np.linalg.norm(frame.astype(np.float32) - rgb, axis=-1)  # (H, W)
    mask = d < 60.0
    if mask.sum() < 4:
        return None
    ys, xs = np.nonzero(mask)
    r = float(np.sqrt(mask.sum() / np.pi)) / h
    return Box(float((xs.mean() + 0.5) / w), float((ys.mean() + 0.5) / h), float(np.clip(r, 0.02, 0.5)))


def anchor(plan: ShotPlan, index: int, box: Box, *, at_end: bool = False) -> ShotPlan:
    """The plan with object `index`'s trajectory moved (and sized) so its first (or last) box is `box`."""
    obj = plan.objects[index]
    ref = obj.boxes[-1] if at_end else obj.boxes[0]
    dx, dy, scale = box.cx - ref.cx, box.cy - ref.cy, box.size / ref.size
    boxes = tuple(
        Box(
            float(np.clip(b.cx + dx, -0.5, 1.5)),
            float(np.clip(b.cy + dy, -0.5, 1.5)),
            float(np.clip(b.size * scale, 0.02, 0.5)),
        )
        for b in obj.boxes
    )
    objects = list(plan.objects)
    objects[index] = dataclasses.replace(obj, boxes=boxes)
    return dataclasses.replace(plan, objects=tuple(objects))


def close_loop(plan: ShotPlan, frames: int) -> ShotPlan:
    """The plan with its last `frames` boxes of every object bridging straight back to its first box."""
    n = plan.num_frames
    k = min(max(frames, 1), n - 1)
    objects = []
    for o in plan.objects:
        a, b = o.boxes[n - k - 1], o.boxes[0]
        bridge = tuple(
            Box(a.cx + (b.cx - a.cx) * t, a.cy + (b.cy - a.cy) * t, a.size + (b.size - a.size) * t)
            for t in (np.arange(1, k + 1) / k)
        )
        objects.append(dataclasses.replace(o, boxes=o.boxes[: n - k] + bridge))
    return dataclasses.replace(plan, objects=tuple(objects))


@dataclass(frozen=True)
class BacklotPlanner:
    """The built-in model's planner, as the pipeline's `ShotPlanner`: plans, reads, anchors, rasterises."""

    @property
    def name(self) -> str:
        return "backlot"

    def make(
        self, prompt: str, *, seconds: float, fps: int, seed: int, width: int, height: int
    ) -> ShotPlan | None:
        return plan_prompt(prompt, seconds=seconds, seed=seed, fps=fps, width=width, height=height)

    def read(self, value: Any) -> ShotPlan:
        if isinstance(value, ShotPlan):
            return value
        if isinstance(value, str):
            return ShotPlan.from_json(value)
        return ShotPlan.from_dict(value)

    def check(self, plan: ShotPlan, *, seconds: float, fps: int) -> None:
        check_matches(plan, seconds, fps)

    def with_path(self, plan: ShotPlan, points: Sequence[tuple[float, float]]) -> ShotPlan:
        return apply_path(plan, list(points))

    def anchored(self, plan: ShotPlan, frame: np.ndarray, *, at_end: bool = False) -> ShotPlan:
        """Move the first object so it starts (or ends) where its colour is found in `frame`."""
        box = locate(frame, plan.objects[0].color)
        return plan if box is None else anchor(plan, 0, box, at_end=at_end)

    def between(self, plan: ShotPlan, first: np.ndarray, last: np.ndarray) -> ShotPlan:
        """The first object travelling straight from where it is in `first` to where it is in `last`."""
        a, b = locate(first, plan.objects[0].color), locate(last, plan.objects[0].color)
        if a is None or b is None:
            return plan
        return apply_path(plan, [(a.cx, a.cy), (b.cx, b.cy)])

    def looped(self, plan: ShotPlan, frames: int) -> ShotPlan:
        return close_loop(plan, frames)

    def to_dict(self, plan: ShotPlan) -> dict[str, Any]:
        return plan.to_dict()

    def summary(self, plan: ShotPlan) -> str:
        return summarize(plan)

    def layout(
        self, plan: ShotPlan, start_frame: int, num_latents: int, width: int, height: int
    ) -> torch.Tensor:
        return latent_layout(plan, start_frame, num_latents, width, height)


# the names model_index.json may give as "planner" ("cinegen.planning.planner:backlot")
PLANNERS: Final[dict[str, BacklotPlanner]] = {"backlot": BacklotPlanner()}
