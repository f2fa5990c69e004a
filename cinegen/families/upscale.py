"""Latent upsampling: a family's second stage, for model directories that ship a latent upsampler.

LTX-Video's spatial upscaler (`LTXLatentUpsamplerModel`, run by diffusers' `LTXLatentUpsamplePipeline`)
and LTX-2's (`LTX2LatentUpsamplerModel`, `LTX2LatentUpsamplePipeline`) double the width and height of a
video's latents. A directory ships it as a `latent_upsampler/`
folder beside `transformer/` (its config.json and safetensors, as `save_pretrained` writes them; not
listed in model_index.json, so the family's own pipelines load without it; docs/decisions.md).
With `upscale`, cinegen makes the request's video in two stages, as diffusers' two-stage recipe does:

1. the mode's pipeline at half the width and height, `output_type="latent"` (packed latents
   unpacked with the pipeline's own `_unpack_latents`: (B, S, C) -> (B, C, F, H/32, W/32); LTX-2's
   come unpacked and denormalised, with its audio latents beside them);
2. `LTXLatentUpsamplePipeline(latents=...)` (or LTX-2's): the upsampler doubles them, the VAE decodes the
   frames; LTX-2's sound is stage one's audio latents decoded as its pipeline decodes them (`decode_audio`).
The refinement pass diffusers' recipes add (a few denoising steps over the upsampled latents) is not run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from cinegen.families.family import Family, FamilyError

UPSAMPLER_DIR = "latent_upsampler"
FACTOR = 2  # a spatial upsampler doubles width and height
# the upsample pipeline -> the module and class of the model it runs (diffusers does not export it at the top)
MODELS = {"LTXLatentUpsamplePipeline": ("diffusers.pipelines.ltx.modeling_latent_upsampler",
                                        "LTXLatentUpsamplerModel"),
          "LTX2LatentUpsamplePipeline": ("diffusers.pipelines.ltx2.latent_upsampler",
                                         "LTX2LatentUpsamplerModel")}


def ships_upsampler(path: Path) -> bool:
    return (Path(path) / UPSAMPLER_DIR / "config.json").is_file()


def load_upsampler(base: Any, path: Path, family: Family, dtype: torch.dtype) -> Any:
    """The family's upsample pipeline over the base pipeline's VAE and the directory's upsampler."""
    import importlib

    import diffusers

    folder = Path(path) / UPSAMPLER_DIR
    config = json.loads((folder / "config.json").read_text())
    module, name = MODELS[str(family.upsampler)]
    if config.get("_class_name") != name:
        raise FamilyError("model_unavailable", f"{folder}/config.json names {config.get('_class_name')!r}; "
                                               f"{family.label} upsamples with a {name}")
    if config.get("temporal_upsample") or not config.get("spatial_upsample", True):
        raise FamilyError("model_unavailable", f"{folder} is not a spatial-only upsampler (temporal_upsample "
                                               f"{config.get('temporal_upsample')}); cinegen upsamples space")
    if config.get("use_rational_resampler", True) and config.get("rational_spatial_scale", FACTOR) != FACTOR:
        raise FamilyError("model_unavailable", f"{folder} scales by {config['rational_spatial_scale']}; "
                                               f"cinegen upsamples {FACTOR}x")
    cls = getattr(importlib.import_module(module), name)
    try:
        upsampler = cls.from_pretrained(str(folder), torch_dtype=dtype)
    except (OSError, ValueError, TypeError) as e:
        raise FamilyError("model_unavailable", f"cannot load the latent upsampler in {folder}: {e}") from e
    pipe = getattr(diffusers, str(family.upsampler))(vae=base.vae, latent_upsampler=upsampler.eval())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def base_size(family: Family, width: int, height: int, *, fit: bool) -> tuple[int, int]:
    """The first stage's size: half the request's, which must itself be a size the family takes
    (so the request's sides are multiples of twice its multiple; `fit` rounds to them)."""
    m = family.size_multiple * FACTOR
    near = (max(m, round(width / m) * m), max(m, round(height / m) * m))
    if (width, height) != near and not fit:
        raise FamilyError("invalid_size",
                          f"with upscaling, {family.label} renders at half the size and doubles it: "
                          f"widths and heights in multiples of {m}, not {width}x{height}: use "
                          f"{near[0]}x{near[1]} (or ask to fit, --fit)")
    return near[0] // FACTOR, near[1] // FACTOR


def upsample(up: Any, stage_one: Any, latents: torch.Tensor, num_frames: int, width: int, height: int,
             generator: torch.Generator) -> Any:
    """Stage 2: `latents` from stage one at (width, height) -> frames at twice that, (T, 2H, 2W, 3)
    floats in [0, 1]."""
    if latents.ndim == 3:  # packed (B, S, C), as LTXPipeline and LTXImageToVideoPipeline return them
        t, s = stage_one.vae_temporal_compression_ratio, stage_one.vae_spatial_compression_ratio
        latents = stage_one._unpack_latents(latents, (num_frames - 1) // t + 1, height // s, width // s,
                                            stage_one.transformer_spatial_patch_size,
                                            stage_one.transformer_temporal_patch_size)
    return up(latents=latents, output_type="np", generator=generator).frames[0]


def decode_audio(stage_one: Any, audio_latents: Any) -> Any:
    """Stage one's audio latents (LTX-2's, denormalised and unpacked with `output_type="latent"`) -> its
    waveform (B, C, N), as its pipeline decodes them (audio VAE to a mel spectrogram, then the vocoder);
    None where the family makes no sound."""
    if audio_latents is None:
        return None
    with torch.no_grad():
        mel = stage_one.audio_vae.decode(audio_latents.to(stage_one.audio_vae.dtype), return_dict=False)[0]
        return stage_one.vocoder(mel)
