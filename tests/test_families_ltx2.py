"""LTX-2 text- and image-to-video with its sound, through cinegen on tiny random weights (a Gemma 3 text
encoder built from a config): frames and waveform equal to diffusers' own call, and the published MP4
carries the waveform as an AAC track beside the video, signed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import MAX_TEXT, ltx2_pipeline, save
from cinegen.mode import Mode


@pytest.fixture(scope="module")
def ltx2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, DiffusersVideoModel]:
    pipe = ltx2_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe, DiffusersVideoModel.load(save(pipe, tmp_path_factory.mktemp("ltx2") / "ltx2"))


def test_text_to_video_and_audio_equal_diffusers(ltx2: tuple[Any, DiffusersVideoModel]) -> None:
    pipe, model = ltx2
    assert model.family.name == "ltx-2" and model.family.frames.step == 2 and model.family.size_multiple == 2
    out = model("a robot dancing", seconds=9 / 24, fps=24, width=32, height=32, steps=2, seed=5)
    want = pipe(prompt="a robot dancing", negative_prompt=None, num_frames=9, height=32, width=32,
                num_inference_steps=2, guidance_scale=3.0, frame_rate=24.0, max_sequence_length=MAX_TEXT,
                output_type="np", generator=torch.Generator("cpu").manual_seed(5))
    assert out.frames.shape == (9, 32, 32, 3) and np.array_equal(out.frames, to_uint8(want.frames[0]))
    assert out.audio is not None and out.audio.rate == 16000 and out.audio.samples.shape[0] == 2
    assert np.array_equal(out.audio.samples, want.audio[0].numpy())
    assert out.settings["audio"] == {"rate": 16000, "channels": 2}


def test_image_to_video_and_audio_equal_diffusers(ltx2: tuple[Any, DiffusersVideoModel]) -> None:
    from diffusers import LTX2ImageToVideoPipeline
    from PIL import Image

    from cinegen.pipeline.frames import fit_image

    pipe, model = ltx2
    assert model.family.modes == (Mode.TEXT, Mode.IMAGE)
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)  # fitted to 32x32
    out = model("a robot dancing", image=image, seconds=9 / 24, fps=24, width=32, height=32, steps=2, seed=5)
    assert out.settings["pipeline"] == "LTX2ImageToVideoPipeline"
    i2v = LTX2ImageToVideoPipeline.from_pipe(pipe)
    want = i2v(image=Image.fromarray(fit_image(image, 32, 32)), prompt="a robot dancing",
               negative_prompt=None, num_frames=9, height=32, width=32, num_inference_steps=2,
               guidance_scale=3.0, frame_rate=24.0, max_sequence_length=MAX_TEXT, output_type="np",
               generator=torch.Generator("cpu").manual_seed(5))
    assert out.frames.shape == (9, 32, 32, 3) and np.array_equal(out.frames, to_uint8(want.frames[0]))
    assert out.audio is not None and np.array_equal(out.audio.samples, want.audio[0].numpy())
    text = model("a robot dancing", seconds=9 / 24, fps=24, width=32, height=32, steps=2, seed=5)
    assert not np.array_equal(out.frames, text.frames)  # the image conditions the video


def test_the_published_video_carries_the_audio(ltx2: tuple[Any, DiffusersVideoModel], tmp_path: Path) -> None:
    import av

    from cinegen.cli import main

    out = tmp_path / "robot.mp4"
    args = ["generate", "a robot dancing", "-o", str(out), "--model", str(ltx2[1].path), "--size", "32x32",
            "--seconds", "0.375", "--steps", "2", "--data-dir", str(tmp_path / "data")]
    assert main(args) == 0
    with av.open(str(out)) as container:
        assert len(container.streams.video) == 1 and container.streams.video[0].frames in (0, 9)
        (audio,) = container.streams.audio
        assert audio.codec_context.name == "aac" and audio.rate == 16000 and audio.channels == 2
    assert main(["verify", str(out)]) == 0  # the manifest validates with the audio track in the file
