"""LTX-2 text- and image-to-video (with its sound) through diffusers' own `LTX2Pipeline` and
`LTX2ImageToVideoPipeline` (one checkpoint does both; `from_pipe` shares the components).

LTX-2 makes a video and an audio track together (its transformer denoises both; an audio VAE and a
vocoder turn the audio latents into a waveform). cinegen publishes the waveform as the MP4's AAC
track (`media.AudioTrack`, at the vocoder's `output_sampling_rate`). Frames 8k+1 and sizes in
multiples of the VAE's compression (read from its config as diffusers computes it: 8x time, 32x
space for the released VAE), 24 fps passed as `frame_rate` (the audio's duration follows it).
Image-to-video conditions the first frame on the image (fitted to the request's size), with the
pipeline's own defaults for its other guidance knobs. Conditioning (`LTX2ConditionPipeline`: keyframes,
extend) is not mapped yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FrameRule, ModeInputs
from cinegen.mode import Mode


def _inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    kw = {**common, "frame_rate": float(x.fps)}
    return {**kw, "image": x.image} if mode is Mode.IMAGE else kw


def _compression(path: Path) -> tuple[int, int]:
    """(time, space) compression of the saved VAE, as `AutoencoderKLLTX2Video` computes it."""
    f = path / "vae" / "config.json"
    vae = json.loads(f.read_text()) if f.is_file() else {}
    scalings = sum(bool(s) for s in vae.get("spatio_temporal_scaling", (True, True, True, True)))
    space = vae.get("spatial_compression_ratio") or int(vae.get("patch_size", 4)) * 2 ** scalings
    time = vae.get("temporal_compression_ratio") or int(vae.get("patch_size_t", 1)) * 2 ** scalings
    return int(time), int(space)


def ltx2(meta: dict[str, Any], path: Path) -> Family:
    time, space = _compression(path)
    routes = {Mode.TEXT: "LTX2Pipeline", Mode.IMAGE: "LTX2ImageToVideoPipeline"}
    return Family(name="ltx-2", class_name=str(meta.get("_class_name")), routes=routes, inputs=_inputs,
                  frames=FrameRule(time), size_multiple=space, fps=24, steps=30, guidance=3.0,
                  default_size=(768, 512), variant="text- and image-to-video with audio")


FAMILIES = {"LTX2Pipeline": ltx2, "LTX2ImageToVideoPipeline": ltx2}
