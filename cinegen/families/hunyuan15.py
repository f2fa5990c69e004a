"""HunyuanVideo 1.5 text-to-video through diffusers' own `HunyuanVideo15Pipeline`.

Its guidance lives in the checkpoint's `guider` component (diffusers' ClassifierFreeGuidance), so a
guidance value is refused rather than ignored; its pipeline reports no steps (no progress). The
frame rule and size multiple are read from the VAE's config (the released VAE: 4x time, 16x space;
with the transformer's patch size). The image-to-video checkpoint (a SigLIP image encoder and an
i2v transformer) is not mapped yet. 24 fps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cinegen.families.family import Family, FrameRule, ModeInputs
from cinegen.mode import Mode


def _inputs(mode: Mode, x: ModeInputs, common: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in common.items() if k != "max_sequence_length"}  # its text lengths are fixed


def _config(path: Path, sub: str) -> dict[str, Any]:
    f = path / sub / "config.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def text_to_video(meta: dict[str, Any], path: Path) -> Family:
    vae, transformer = _config(path, "vae"), _config(path, "transformer")
    multiple = int(vae.get("spatial_compression_ratio", 16)) * int(transformer.get("patch_size", 1))
    return Family(name="hunyuanvideo-1.5", class_name="HunyuanVideo15Pipeline",
                  routes={Mode.TEXT: "HunyuanVideo15Pipeline"}, inputs=_inputs,
                  frames=FrameRule(int(vae.get("temporal_compression_ratio", 4))), size_multiple=multiple,
                  fps=24,
                  steps=50, guidance=None, default_size=(848, 480), variant="text-to-video",
                  reports_steps=False)


FAMILIES = {"HunyuanVideo15Pipeline": text_to_video}
