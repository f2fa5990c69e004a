"""LTX-Video through diffusers' own LTX pipelines; one checkpoint does every mode.

`LTXPipeline` text and still, `LTXImageToVideoPipeline` image, `LTXConditionPipeline` keyframes
(an image condition at each pinned frame) and extend (the source's last frames as a video
condition at frame 0, or its first frames at the end for backward). Frames 8k+1, sizes in
multiples of 32, 24 fps (passed to the model as `frame_rate`, which its rotary positions use). A
directory that ships a `latent_upsampler/` can upscale every mode 2x (`LTXLatentUpsamplePipeline`,
families/upscale.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FamilyError, FrameRule, ModeInputs
from cinegen.mode import Mode

EXTEND_CONTEXT = 9  # source frames an extension is conditioned on (8k+1, one latent frame and a bit)


def _inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    kw = {**common, "frame_rate": x.fps}
    if mode is Mode.IMAGE:
        return {**kw, "image": x.image}
    if mode is Mode.KEYFRAMES:
        pins = dict(x.keyframes)
        if x.image is not None:
            pins[0] = x.image
        return {**kw, "conditions": [LTXVideoCondition(image=img, frame_index=i) for i,
                                     img in sorted(pins.items())]}
    if mode is Mode.EXTEND:
        context = _context(len(x.video), x.num_frames)
        if x.direction == "forward":
            cond = LTXVideoCondition(video=list(x.video[-context:]), frame_index=0)
        else:
            cond = LTXVideoCondition(video=list(x.video[:context]), frame_index=x.num_frames - context)
        return {**kw, "conditions": [cond]}
    return kw


def _context(source_frames: int, num_frames: int) -> int:
    if source_frames < EXTEND_CONTEXT or num_frames <= EXTEND_CONTEXT:
        raise FamilyError("invalid_request",
                          f"extending with LTX-Video needs a source of at least {EXTEND_CONTEXT} "
                                             f"frames and a window longer than that, got {source_frames} and "
                                             f"{num_frames}")
    return EXTEND_CONTEXT


def ltx_video(meta: dict[str, Any], path: Path) -> Family:
    from cinegen.families.upscale import ships_upsampler

    upsampler = "LTXLatentUpsamplePipeline" if ships_upsampler(path) else None
    variant = "LTX-Video (text, image, keyframes, extend" + ("; 2x latent upsampler)" if upsampler else ")")
    routes = {Mode.TEXT: "LTXPipeline", Mode.STILL: "LTXPipeline", Mode.IMAGE: "LTXImageToVideoPipeline",
              Mode.KEYFRAMES: "LTXConditionPipeline", Mode.EXTEND: "LTXConditionPipeline"}
    return Family(name="ltx", class_name=str(meta.get("_class_name")), routes=routes, inputs=_inputs,
                  frames=FrameRule(8), size_multiple=32, fps=24, steps=50, guidance=3.0,
                  default_size=(704, 480), variant=variant, extension_context=_context, upsampler=upsampler)


FAMILIES = {"LTXPipeline": ltx_video, "LTXConditionPipeline": ltx_video, "LTXImageToVideoPipeline": ltx_video}
