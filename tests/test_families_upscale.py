"""LTX-Video latent upsampling (`families/upscale.py`) on tiny random weights: an LTX directory that
ships a `latent_upsampler/` renders at half the size and doubles it, bit-equal to diffusers' own
two-stage call (LTXPipeline to latents, then LTXLatentUpsamplePipeline); without one it is refused. LTX-2
the same way (LTX2Pipeline, LTX2LatentUpsamplePipeline), its sound decoded from the first stage's audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.family import FamilyError
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import (
    MAX_TEXT,
    ltx2_latent_upsampler,
    ltx2_pipeline,
    ltx_latent_upsampler,
    ltx_pipeline,
    save,
)
from cinegen.families.registry import describe
from cinegen.families.upscale import UPSAMPLER_DIR
from tests.same_output import assert_audio_matches, assert_frames_match

# 9 frames, made at 32x32 and doubled
CALL: dict[str, Any] = {"seconds": 9 / 24, "fps": 24, "width": 64, "height": 64, "steps": 2}
IMAGE = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def ltx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ltx")
    pipe, upsampler = ltx_pipeline(), ltx_latent_upsampler()
    pipe.set_progress_bar_config(disable=True)
    path = save(pipe, root / "ltx-up")
    upsampler.save_pretrained(str(path / UPSAMPLER_DIR))
    return {"pipe": pipe, "upsampler": upsampler, "path": path, "model": DiffusersVideoModel.load(path),
            "plain": save(ltx_pipeline(), root / "ltx")}


def two_stage(pipe: Any, upsampler: Any, seed: int, **kw: Any) -> np.ndarray:
    """diffusers' two-stage call: latents at 32x32 (unpacked), then the upsampler doubles and decodes."""
    from diffusers import LTXLatentUpsamplePipeline

    generator = torch.Generator("cpu").manual_seed(seed)
    latents = pipe(prompt="a ball", negative_prompt=None, num_frames=9, height=32, width=32,
                   num_inference_steps=2, guidance_scale=3.0, frame_rate=24, max_sequence_length=MAX_TEXT,
                   output_type="latent", generator=generator, **kw).frames
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    latents = pipe._unpack_latents(latents, 8 // t + 1, 32 // s, 32 // s, 1, 1)  # (B, C, F, H, W)
    up: Any = LTXLatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=upsampler)
    up.set_progress_bar_config(disable=True)
    return to_uint8(up(latents=latents, output_type="np", generator=generator).frames[0])


def test_upscaled_text_to_video_equals_the_two_stage_diffusers_call(ltx: dict[str, Any]) -> None:
    model = ltx["model"]
    assert model.family.upsampler == "LTXLatentUpsamplePipeline"
    out = model("a ball", upscale=True, seed=2, **CALL)
    assert out.frames.shape == (9, 64, 64, 3) and out.settings["upscale"] == "LTXLatentUpsamplePipeline"
    assert np.array_equal(out.frames, two_stage(ltx["pipe"], ltx["upsampler"], seed=2))


def test_upscaled_image_to_video_equals_diffusers(ltx: dict[str, Any]) -> None:
    """The image conditions the first stage, at its size (cinegen fits the image to it)."""
    from diffusers import LTXImageToVideoPipeline
    from PIL import Image

    from cinegen.pipeline.frames import fit_image

    out = ltx["model"]("a ball", image=IMAGE, upscale=True, **CALL)
    assert out.frames.shape == (9, 64, 64, 3)
    i2v = LTXImageToVideoPipeline.from_pipe(ltx["pipe"])
    want = two_stage(i2v, ltx["upsampler"], seed=0, image=Image.fromarray(fit_image(IMAGE, 32, 32)))
    assert np.array_equal(out.frames, want)


def test_upscaling_is_refused_where_it_cannot_work(ltx: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FamilyError, match="multiples of 64, not 96x64: use 128x64"):
        ltx["model"]("a ball", upscale=True, **{**CALL, "width": 96})
    fitted = ltx["model"]("a ball", upscale=True, fit=True, **{**CALL, "width": 96})
    assert fitted.frames.shape == (9, 64, 128, 3)
    plain = DiffusersVideoModel.load(ltx["plain"])
    with pytest.raises(FamilyError, match=r"ships no latent upsampler, so it cannot upscale"):
        plain("a ball", upscale=True, **CALL)
    assert "latent upsampler" in describe(ltx["path"]).variant
    from cinegen.cli import main

    args = ["generate", "a ball", "-o", str(tmp_path / "x.mp4"), "--model", str(ltx["plain"]),
            "--size", "64x64", "--seconds", "0.375", "--steps", "2", "--upscale"]
    assert main(args) == 2 and "ships no latent upsampler" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_ltx2_upscaled_video_and_audio_equal_the_two_stage_diffusers_call(tmp_path: Path) -> None:
    """LTX-2 at 32x32 (its pipeline takes multiples of 32), doubled to 64x64; the waveform from stage one's
    audio latents."""
    from diffusers import LTX2LatentUpsamplePipeline

    pipe, upsampler = ltx2_pipeline(), ltx2_latent_upsampler()
    pipe.set_progress_bar_config(disable=True)
    path = save(pipe, tmp_path / "ltx2-up")
    upsampler.save_pretrained(str(path / UPSAMPLER_DIR))
    model = DiffusersVideoModel.load(path)
    assert model.family.upsampler == "LTX2LatentUpsamplePipeline"
    assert "latent upsampler" in describe(path).variant
    out = model("a robot dancing", upscale=True, seconds=9 / 24, fps=24, width=64, height=64, steps=2, seed=3)
    assert out.frames.shape == (9, 64, 64, 3) and out.settings["upscale"] == "LTX2LatentUpsamplePipeline"

    generator = torch.Generator("cpu").manual_seed(3)
    first = pipe(prompt="a robot dancing", negative_prompt=None, num_frames=9, height=32, width=32,
                 num_inference_steps=2, guidance_scale=3.0, frame_rate=24.0, max_sequence_length=MAX_TEXT,
                 output_type="latent", generator=generator)  # (B, C, F, H, W) latents, denormalised
    up: Any = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=upsampler)
    up.set_progress_bar_config(disable=True)
    frames = up(latents=first.frames, output_type="np", generator=generator).frames[0]
    with torch.no_grad():
        sound = pipe.vocoder(pipe.audio_vae.decode(first.audio, return_dict=False)[0])[0].numpy()
    assert_frames_match(out.frames, to_uint8(frames))
    assert out.audio is not None
    assert_audio_matches(out.audio.samples, sound)
