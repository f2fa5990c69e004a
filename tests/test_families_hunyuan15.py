"""HunyuanVideo 1.5 text-to-video through cinegen on tiny random weights, equal to diffusers; its
frame rule and size multiple come from the saved VAE's config (the tiny VAE: 2x time, 4x space)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.family import FamilyError, FrameRule
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import hunyuan15_pipeline, save
from cinegen.mode import Mode


@pytest.fixture(scope="module")
def hunyuan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, DiffusersVideoModel]:
    pipe = hunyuan15_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe, DiffusersVideoModel.load(save(pipe, tmp_path_factory.mktemp("hy") / "hunyuan15"))


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
