"""LTX-2 video (with its sound) through diffusers' own `LTX2Pipeline` (text), `LTX2ImageToVideoPipeline`
(image) and `LTX2ConditionPipeline` (keyframes, extend); one checkpoint does every mode (`from_pipe`
shares the components).

LTX-2 makes a video and an audio track together (its transformer denoises both; an audio VAE and a
vocoder turn the audio latents into a waveform). cinegen publishes the waveform as the MP4's AAC
track (`media.AudioTrack`, at the vocoder's `output_sampling_rate`). Frames 8k+1 and sizes in
multiples of the VAE's compression (read from its config as diffusers computes it: 8x time, 32x
space for the released VAE), 24 fps passed as `frame_rate` (the audio's duration follows it).
Image-to-video conditions the first frame on the image (fitted to the request's size), with the
pipeline's own defaults for its other guidance knobs.

Conditions (`LTX2VideoCondition`) sit at *latent* frame indices, not pixel ones: latent 0 is pixel
frame 0 (its tokens are replaced, as image-to-video does) and latent k >= 1 holds pixel frames
(k-1)t+1 .. kt (t the VAE's time compression; its tokens are appended, placed at pixel (k-1)t+1).
A keyframe pins the latent frame that holds it, so the last frame is latent -1 (diffusers'
first-last-frame example); two keyframes in one latent frame are refused. Extend forward conditions
on the source's last `EXTEND_CONTEXT` frames at latent 0, as LTX-Video does. Extend backward is not
mapped: a multi-frame condition at latent k starts at pixel (k-1)t+1 and is trimmed to 8k+1 frames,
so it can never end on the window's last frame (the source's first frame would not follow the new ones).
A directory that ships a `latent_upsampler/` can upscale every mode 2x (`LTX2LatentUpsamplePipeline`,
families/upscale.py; the sound decoded from the first stage's audio latents).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FamilyError, FrameRule, ModeInputs
from cinegen.mode import Mode

EXTEND_CONTEXT = 9  # source frames an extension is conditioned on (8k+1: two latent frames at 8x)


def _inputs(mode: Mode, x: ModeInputs, common: dict[str, Any], time: int) -> dict[str, Any]:
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

    kw = {**common, "frame_rate": float(x.fps)}
    if mode is Mode.IMAGE:
        return {**kw, "image": x.image}
    if mode is Mode.KEYFRAMES:
        pins = {**x.keyframes, **({0: x.image} if x.image is not None else {})}
        at = _latent_pins(sorted(pins), time)
        return {**kw, "conditions": [LTX2VideoCondition(frames=pins[f], index=at[f]) for f in sorted(pins)]}
    if mode is Mode.EXTEND:
        if x.direction != "forward":
            raise FamilyError("invalid_request", "LTX-2 extends forward only (a condition cannot end on the "
                                                 f"window's last frame); got direction {x.direction!r}")
        context = _context(len(x.video), x.num_frames)
        return {**kw, "conditions": [LTX2VideoCondition(frames=list(x.video[-context:]), index=0)]}
    return kw


def _latent_pins(frames: list[int], time: int) -> dict[int, int]:
    """Pixel frame -> the latent frame that holds it (0 -> 0; f >= 1 -> (f - 1) // time + 1)."""
    latents = {f: 0 if f == 0 else (f - 1) // time + 1 for f in frames}
    for f, g in zip(frames, frames[1:], strict=False):
        if latents[f] == latents[g]:
            raise FamilyError("invalid_request",
                              f"LTX-2 pins a keyframe to a latent frame ({time} frames); keyframes at "
                              f"frames {f} and {g} fall in the same one (latent {latents[f]}): space them "
                              "apart")
    return latents


def _context(source_frames: int, num_frames: int) -> int:
    if source_frames < EXTEND_CONTEXT or num_frames <= EXTEND_CONTEXT:
        raise FamilyError("invalid_request",
                          f"extending with LTX-2 needs a source of at least {EXTEND_CONTEXT} frames and a "
                          f"window longer than that, got {source_frames} and {num_frames}")
    return EXTEND_CONTEXT


def _compression(path: Path) -> tuple[int, int]:
    """(time, space) compression of the saved VAE, as `AutoencoderKLLTX2Video` computes it."""
    f = path / "vae" / "config.json"
    vae = json.loads(f.read_text()) if f.is_file() else {}
    scalings = sum(bool(s) for s in vae.get("spatio_temporal_scaling", (True, True, True, True)))
    space = vae.get("spatial_compression_ratio") or int(vae.get("patch_size", 4)) * 2 ** scalings
    time = vae.get("temporal_compression_ratio") or int(vae.get("patch_size_t", 1)) * 2 ** scalings
    return int(time), int(space)


def ltx2(meta: dict[str, Any], path: Path) -> Family:
    from cinegen.families.upscale import ships_upsampler

    time, space = _compression(path)
    upsampler = "LTX2LatentUpsamplePipeline" if ships_upsampler(path) else None

    def inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
        return _inputs(mode, x, common, time)

    routes = {Mode.TEXT: "LTX2Pipeline", Mode.IMAGE: "LTX2ImageToVideoPipeline",
              Mode.KEYFRAMES: "LTX2ConditionPipeline", Mode.EXTEND: "LTX2ConditionPipeline"}
    return Family(name="ltx-2", class_name=str(meta.get("_class_name")), routes=routes, inputs=inputs,
                  frames=FrameRule(time), size_multiple=space, fps=24, steps=30, guidance=3.0,
                  default_size=(768, 512), extension_context=_context, upsampler=upsampler,
                  variant="text, image, keyframes, extend forward; with audio" + (
                      "; 2x latent upsampler" if upsampler else ""))


FAMILIES = {"LTX2Pipeline": ltx2, "LTX2ImageToVideoPipeline": ltx2, "LTX2ConditionPipeline": ltx2}
