"""The planner: prompt -> shot plan, with the backlot world's own physics.

The prompt is parsed into a backlot scene (objects, motions, relation, setting, camera; the
seed places the objects and picks an unsaid colour), and every object's trajectory is integrated
with the world's physics (constant speeds, gravity with lossy bounces, growth, wrap-around travel)
by the same code that renders training clips; the camera's pan and zoom are applied so boxes are
where the object appears on screen. The renderer learned from exactly these layouts.

Prompts the parser cannot place get no plan (the model then works from the text alone).
"""

from __future__ import annotations

import numpy as np

from cinegen.backlot.motion import camera_path, object_track
from cinegen.backlot.parse import PromptError, parse_prompt
from cinegen.backlot.scene import SceneError, SceneSpec
from cinegen.planning.plan import Box, CameraPlan, ObjectPlan, ShotPlan

_MOTION_WORDS = {
    "left": "moving left", "right": "moving right", "up": "moving up", "down": "moving down",
    "fall": "falling", "bounce": "bouncing", "still": "staying still", "grow": "growing", "shrink": "shrinking",
}


def screen_tracks(scene: SceneSpec) -> np.ndarray:
    """Every object's on-screen (cx, cy, size) per frame: (objects, T, 3), in plan units."""
    cam = camera_path(scene)
    aspect = scene.width / scene.height
    out = np.empty((len(scene.objects), scene.num_frames, 3))
    for k, o in enumerate(scene.objects):
        tr = object_track(o, scene)
        z = cam.zoom
        px = (tr.x - cam.cx) * z + aspect / 2  # frame heights from the left edge
        out[k, :, 0] = px / aspect
        out[k, :, 1] = (tr.y - 0.5) * z + 0.5
        out[k, :, 2] = tr.r * z
    return out


def plan_from_scene(scene: SceneSpec, prompt: str = "") -> ShotPlan:
    """The exact layout of a backlot scene as a plan (what training conditions on)."""
    tracks = np.round(np.clip(screen_tracks(scene), [-0.5, -0.5, 0.02], [1.5, 1.5, 0.5]), 5)  # as JSON keeps them
    cam = camera_path(scene)
    aspect = scene.width / scene.height
    objects = tuple(
        ObjectPlan(
            shape=o.shape,
            color=o.color,
            phrase=" ".join([o.color, o.shape, _MOTION_WORDS[o.motion]] + ([f"then {_MOTION_WORDS[o.then]}"] if o.then else [])),
            boxes=tuple(Box(float(a), float(b), float(c)) for a, b, c in tracks[k]),
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


def plan_prompt(prompt: str, *, seconds: float, seed: int, fps: int = 16, width: int = 128, height: int = 128) -> ShotPlan | None:
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
        lines.append(f"{o.phrase}: ({a.cx:.2f}, {a.cy:.2f}) -> ({b.cx:.2f}, {b.cy:.2f}), size {a.size:.2f} -> {b.size:.2f}")
    return "; ".join(lines)
