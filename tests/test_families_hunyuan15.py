"""HunyuanVideo 1.5 text- and image-to-video through cinegen on tiny random weights, equal to diffusers;
its frame rule and size multiple come from the saved VAE's config (the tiny VAE: 2x time, 4x space), the
image-to-video sizes from the transformer's target size (16: about 16x16 pixels)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.family import FamilyError, FrameRule, SizeBuckets
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import hunyuan15_pipeline, save, saved_and_loaded
from cinegen.mode import Mode


@pytest.fixture(scope="module")
def hunyuan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, DiffusersVideoModel]:
    return saved_and_loaded(hunyuan15_pipeline(), tmp_path_factory.mktemp("hy") / "hunyuan15")


def test_text_to_video_equals_diffusers(hunyuan: tuple[Any, DiffusersVideoModel]) -> None:
    pipe, model = hunyuan
    assert model.family.frames == FrameRule(2) and model.family.size_multiple == 4
    assert model.family.modes == (Mode.TEXT,)
    seen: list[int] = []
    out = model("a monkey", seconds=9 / 24, fps=24, width=16, height=16, steps=2, progress=lambda i,
                n: seen.append(i))
    want = pipe(prompt="a monkey", negative_prompt=None, num_frames=9, height=16, width=16,
                num_inference_steps=2,
                output_type="np", generator=torch.Generator("cpu").manual_seed(0)).frames[0]
    assert out.frames.shape == (9, 16, 16, 3) and np.array_equal(out.frames, to_uint8(want))
    assert seen == []  # the pipeline reports no steps
    with pytest.raises(FamilyError, match="guidance from the checkpoint's guider"):
        model("a monkey", seconds=9 / 24, fps=24, width=16, height=16, steps=2, guidance=5.0)


@pytest.fixture(scope="module")
def hunyuan_i2v(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, DiffusersVideoModel]:
    pipe = hunyuan15_pipeline("i2v")
    pipe.set_progress_bar_config(disable=True)
    return pipe, DiffusersVideoModel.load(save(pipe, tmp_path_factory.mktemp("hy") / "hunyuan15-i2v"))


def test_image_to_video_equals_diffusers(hunyuan_i2v: tuple[Any, DiffusersVideoModel]) -> None:
    from PIL import Image

    pipe, model = hunyuan_i2v
    assert model.family.modes == (Mode.IMAGE,) and model.family.buckets == SizeBuckets(16, 4)
    image = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)  # 20x12: one of its sizes
    out = model("a monkey", image=image, seconds=9 / 24, fps=24, width=20, height=12, steps=2, seed=1)
    want = pipe(image=Image.fromarray(image), prompt="a monkey", negative_prompt=None, num_frames=9,
                num_inference_steps=2, output_type="np",
                generator=torch.Generator("cpu").manual_seed(1)).frames[0]
    assert out.frames.shape == (9, 12, 20, 3) and np.array_equal(out.frames, to_uint8(want))
    assert out.settings["pipeline"] == "HunyuanVideo15ImageToVideoPipeline"


def test_image_to_video_takes_the_size_its_pipeline_picks(
        hunyuan_i2v: tuple[Any, DiffusersVideoModel]) -> None:
    _, model = hunyuan_i2v
    image = np.zeros((16, 24, 3), dtype=np.uint8)
    with pytest.raises(FamilyError, match=r"about 16x16 pixels in multiples of 4, not 24x16: use 16x12"):
        model("a monkey", image=image, seconds=9 / 24, fps=24, width=24, height=16, steps=1)
    fitted = model("a monkey", image=image, seconds=9 / 24, fps=24, width=24, height=16, steps=1, fit=True)
    assert fitted.frames.shape == (9, 12, 16, 3)
    with pytest.raises(FamilyError, match="cannot do mode 'text'; it can do: image"):
        model("a monkey", seconds=9 / 24, fps=24, width=20, height=12, steps=1)
