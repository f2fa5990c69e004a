"""SkyReels-V2 diffusion forcing through cinegen: long text-to-video (the pipeline's own windows),
image, first + last frame and forward extension, on tiny random weights (9-frame windows here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.family import FamilyError
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import MAX_TEXT, save, skyreels_pipeline
from cinegen.families.wan import without_ftfy
from cinegen.mode import Mode

CALL = {"seconds": 9 / 24, "fps": 24, "width": 32, "height": 32, "steps": 2}
IMAGE = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def sky(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, DiffusersVideoModel]:
    pipe = skyreels_pipeline()
    pipe.set_progress_bar_config(disable=True)
    path = save(pipe, tmp_path_factory.mktemp("sky") / "skyreels-df", cinegen_base_num_frames=9)
    return pipe, DiffusersVideoModel.load(path)


def test_modes_of_the_checkpoint(sky: tuple[Any, DiffusersVideoModel]) -> None:
    family = sky[1].family
    assert family.name == "skyreels-v2" and family.fps == 24
    assert set(family.modes) == {Mode.TEXT, Mode.IMAGE, Mode.KEYFRAMES, Mode.EXTEND}


def test_text_and_long_video_equal_diffusers(sky: tuple[Any, DiffusersVideoModel]) -> None:
    pipe, model = sky
    for frames, extra in ((9, {}), (17, {"overlap_history": 5})):  # 17 > the 9-frame window: two windows
        out = model("a ball", **{**CALL, "seconds": frames / 24})
        call = {"prompt": "a ball", "negative_prompt": None, "num_frames": frames, "height": 32, "width": 32,
                "num_inference_steps": 2, "guidance_scale": 6.0, "output_type": "np", "fps": 24,
                "max_sequence_length": MAX_TEXT, "base_num_frames": 9, **extra,
                "generator": torch.Generator("cpu").manual_seed(0)}
        want = to_uint8(pipe(**without_ftfy(pipe, call)).frames[0])
        assert out.frames.shape == (frames, 32, 32, 3) and np.array_equal(out.frames, want)


def test_image_first_last_and_extension(sky: tuple[Any, DiffusersVideoModel]) -> None:
    _, model = sky
    assert model("a ball", image=IMAGE, **CALL).frames.shape == (9, 32, 32, 3)
    assert model("a ball", image=IMAGE, keyframes={8 / 24: IMAGE}, **CALL).frames.shape == (9, 32, 32, 3)
    source = np.random.default_rng(1).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    out = model("a ball", extend=source, extend_fps=24, **CALL)
    assert out.frames.shape == (9, 32, 32, 3)  # the new frames only (the pipeline returns source + new)
    with pytest.raises(FamilyError, match="forward only"):
        model("a ball", extend=source, extend_fps=24, direction="backward", **CALL)


def test_listed(sky: tuple[Any, DiffusersVideoModel]) -> None:
    from cinegen.families.registry import describe

    entry = describe(Path(sky[1].path))
    assert entry.family == "skyreels-v2" and entry.frames == "4k+1" and "extend" in entry.modes
