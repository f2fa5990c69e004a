"""SkyReels-V2 diffusion forcing (long video) through diffusers' own SkyReels-V2 DF pipelines.

One DF checkpoint (`SkyReelsV2DiffusionForcingPipeline`) does text-to-video of any length (past
`base_num_frames` the pipeline itself continues window by window over `overlap_history` frames),
image-to-video and first + last frame (`...ImageToVideoPipeline`), and extension of a video
(`...VideoToVideoPipeline`: the source's last frames condition the new ones; forward only).
Frames 4k+1, sizes in multiples of 16, 24 fps (passed as the pipelines' `fps`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FamilyError, FrameRule, ModeInputs
from cinegen.families.wan import without_ftfy
from cinegen.mode import Mode

BASE_FRAMES = 97  # frames per window of the 540P models (121 for 720P: model_index `cinegen_base_num_frames`)
# frames each window (or an extension) takes from the one before (diffusers recommends 17 or 37)
OVERLAP = 17


def _overlap(frames: int, base: int) -> int:
    """The overlap, 4k+1 and less than a window (OVERLAP for real models; less for short test windows)."""
    return min(OVERLAP, (base - 1) // 2 // 4 * 4 + 1)


def _inputs_for(base: int) -> Any:
    def inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
        kw = {**common, "fps": x.fps, "base_num_frames": base}
        if x.num_frames > base:
            kw["overlap_history"] = _overlap(x.num_frames, base)
        if mode in (Mode.IMAGE, Mode.KEYFRAMES):
            pins = {**x.keyframes, **({0: x.image} if x.image is not None else {})}
            last = x.num_frames - 1
            if 0 not in pins or not set(pins) <= {0, last}:
                raise FamilyError("invalid_keyframes",
                                  f"SkyReels-V2 pins the first frame, and optionally the last "
                                                       f"(frame {last}); got frames {sorted(pins)}")
            kw["image"] = pins[0]
            if last in pins and last != 0:
                kw["last_image"] = pins[last]
        if mode is Mode.EXTEND:
            if x.direction != "forward":
                raise FamilyError("invalid_request", "SkyReels-V2 extends videos forward only")
            kw["video"] = list(x.video)
            kw["overlap_history"] = min(_overlap(x.num_frames, base), (len(x.video) - 1) // 4 * 4 + 1)
        return kw

    return inputs


def diffusion_forcing(meta: dict[str, Any], path: Path) -> Family:
    base = int(meta.get("cinegen_base_num_frames", BASE_FRAMES))
    i2v = "SkyReelsV2DiffusionForcingImageToVideoPipeline"
    routes = {Mode.TEXT: "SkyReelsV2DiffusionForcingPipeline", Mode.IMAGE: i2v, Mode.KEYFRAMES: i2v,
              Mode.EXTEND: "SkyReelsV2DiffusionForcingVideoToVideoPipeline"}
    return Family(name="skyreels-v2", class_name="SkyReelsV2DiffusionForcingPipeline", routes=routes,
                  inputs=_inputs_for(base), frames=FrameRule(4), size_multiple=16, fps=24, steps=30,
                  guidance=6.0,
                  default_size=(960, 544),
                  variant="diffusion forcing (long video, image, first + last, extend)",
                  extension_context=lambda source,
                  window: source,  # it returns the source, then the new frames
                  prepare=without_ftfy)


FAMILIES = {"SkyReelsV2DiffusionForcingPipeline": diffusion_forcing}
