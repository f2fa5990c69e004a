"""CogVideoX (2B/5B, 1.5) through diffusers' own CogVideoX pipelines.

- `CogVideoXPipeline`: text, still, video-to-video edit (`CogVideoXVideoToVideoPipeline`).
- `CogVideoXImageToVideoPipeline` (its own checkpoint: the transformer reads the image latents):
  image.
Frames 4k+1 (4x causal time compression), sizes in multiples of 16 (8x VAE, 2x2 patches),
8 fps (CogVideoX 1.0; 1.5 is trained at 16: pass --fps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FrameRule, ModeInputs
from cinegen.mode import Mode


def _inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    if mode in (Mode.EDIT, Mode.REMIX):
        kw = {k: v for k, v in common.items() if k != "num_frames"}  # the source's length is the clip's
        return {**kw, "video": list(x.video), "strength": x.strength}
    if mode is Mode.IMAGE:
        return {**common, "image": x.image}
    return common


def _family(class_name: str, routes: dict[Mode, str], variant: str) -> Family:
    return Family(name="cogvideox", class_name=class_name, routes=routes, inputs=_inputs, frames=FrameRule(4),
                  size_multiple=16, fps=8, steps=50, guidance=6.0, default_size=(720, 480), variant=variant)


def text_to_video(meta: dict[str, Any], path: Path) -> Family:
    routes = {Mode.TEXT: "CogVideoXPipeline", Mode.STILL: "CogVideoXPipeline",
              Mode.EDIT: "CogVideoXVideoToVideoPipeline", Mode.REMIX: "CogVideoXVideoToVideoPipeline"}
    return _family("CogVideoXPipeline", routes, "text-to-video, video-to-video")


def image_to_video(meta: dict[str, Any], path: Path) -> Family:
    return _family("CogVideoXImageToVideoPipeline", {Mode.IMAGE: "CogVideoXImageToVideoPipeline"},
                   "image-to-video")


FAMILIES = {"CogVideoXPipeline": text_to_video, "CogVideoXImageToVideoPipeline": image_to_video}
