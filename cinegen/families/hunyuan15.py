"""HunyuanVideo 1.5 through diffusers' own `HunyuanVideo15Pipeline` (text-to-video) and
`HunyuanVideo15ImageToVideoPipeline` (image-to-video: a SigLIP image encoder and an i2v transformer).

Its guidance lives in the checkpoint's `guider` component (diffusers' ClassifierFreeGuidance), so a
guidance value is refused rather than ignored; its pipelines report no steps (no progress). The
frame rule and size multiple are read from the VAE's config (the released VAE: 4x time, 16x space;
with the transformer's patch size). The image-to-video pipeline takes no size: it picks one itself
from the image's aspect ratio (about `target_size` squared pixels, the transformer's config), so the
request's size must be that one (`SizeBuckets`; `fit` takes it). 24 fps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FrameRule, ModeInputs, SizeBuckets
from cinegen.mode import Mode


def _inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in common.items() if k != "max_sequence_length"}  # its text lengths are fixed


def _i2v_inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    """The image at the request's size, which is the size the pipeline picks for it (checked before)."""
    skip = ("max_sequence_length", "height", "width")
    return {**{k: v for k, v in common.items() if k not in skip}, "image": x.image}


def _config(path: Path, sub: str) -> dict[str, Any]:
    f = path / sub / "config.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _family(path: Path, class_name: str, routes: dict[Mode, str], inputs: Any, variant: str,
            i2v: bool) -> Family:
    vae, transformer = _config(path, "vae"), _config(path, "transformer")
    spatial = int(vae.get("spatial_compression_ratio", 16))
    multiple = spatial * int(transformer.get("patch_size", 1))
    buckets = SizeBuckets(int(transformer.get("target_size", 640)), spatial) if i2v else None
    return Family(name="hunyuanvideo-1.5", class_name=class_name, routes=routes, inputs=inputs,
                  frames=FrameRule(int(vae.get("temporal_compression_ratio", 4))), size_multiple=multiple,
                  fps=24, steps=50, guidance=None,
                  default_size=buckets.nearest(848, 480) if buckets else (848, 480), variant=variant,
                  reports_steps=False, buckets=buckets)


def text_to_video(meta: dict[str, Any], path: Path) -> Family:
    return _family(path, "HunyuanVideo15Pipeline", {Mode.TEXT: "HunyuanVideo15Pipeline"}, _inputs,
                   "text-to-video", i2v=False)


def image_to_video(meta: dict[str, Any], path: Path) -> Family:
    name = "HunyuanVideo15ImageToVideoPipeline"
    return _family(path, name, {Mode.IMAGE: name}, _i2v_inputs, "image-to-video", i2v=True)


FAMILIES = {"HunyuanVideo15Pipeline": text_to_video, "HunyuanVideo15ImageToVideoPipeline": image_to_video}
