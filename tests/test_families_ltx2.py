"""LTX-2 text- and image-to-video, keyframes and extend with its sound, through cinegen on tiny random
weights (a Gemma 3 text encoder built from a config): frames and waveform equal to diffusers' own call
(LTX2Pipeline, LTX2ImageToVideoPipeline, LTX2ConditionPipeline), and the published MP4
carries the waveform as an AAC track beside the video, signed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.family import FamilyError
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import MAX_TEXT, ltx2_pipeline, saved_and_loaded
from cinegen.mode import Mode
from tests.same_output import assert_audio_matches, assert_frames_match


@pytest.fixture(scope="module")
def ltx2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, DiffusersVideoModel]:
    return saved_and_loaded(ltx2_pipeline(), tmp_path_factory.mktemp("ltx2") / "ltx2")


def test_text_to_video_and_audio_equal_diffusers(ltx2: tuple[Any, DiffusersVideoModel]) -> None:
    pipe, model = ltx2
    assert model.family.name == "ltx-2" and model.family.frames.step == 2 and model.family.size_multiple == 2
    out = model("a robot dancing", seconds=9 / 24, fps=24, width=32, height=32, steps=2, seed=5)
    want = pipe(prompt="a robot dancing", negative_prompt=None, num_frames=9, height=32, width=32,
                num_inference_steps=2, guidance_scale=3.0, frame_rate=24.0, max_sequence_length=MAX_TEXT,
                output_type="np", generator=torch.Generator("cpu").manual_seed(5))
    assert out.frames.shape == (9, 32, 32, 3)
    assert_frames_match(out.frames, to_uint8(want.frames[0]))
    assert out.audio is not None and out.audio.rate == 16000 and out.audio.samples.shape[0] == 2
    assert_audio_matches(out.audio.samples, want.audio[0].numpy())
    assert out.settings["audio"] == {"rate": 16000, "channels": 2}


def test_image_to_video_and_audio_equal_diffusers(ltx2: tuple[Any, DiffusersVideoModel]) -> None:
    from diffusers import LTX2ImageToVideoPipeline
    from PIL import Image

    from cinegen.pipeline.frames import fit_image

    pipe, model = ltx2
    assert model.family.modes == (Mode.TEXT, Mode.IMAGE, Mode.KEYFRAMES, Mode.EXTEND)
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)  # fitted to 32x32
    out = model("a robot dancing", image=image, seconds=9 / 24, fps=24, width=32, height=32, steps=2, seed=5)
    assert out.settings["pipeline"] == "LTX2ImageToVideoPipeline"
    i2v = LTX2ImageToVideoPipeline.from_pipe(pipe)
    want = i2v(image=Image.fromarray(fit_image(image, 32, 32)), prompt="a robot dancing",
               negative_prompt=None, num_frames=9, height=32, width=32, num_inference_steps=2,
               guidance_scale=3.0, frame_rate=24.0, max_sequence_length=MAX_TEXT, output_type="np",
               generator=torch.Generator("cpu").manual_seed(5))
    assert out.frames.shape == (9, 32, 32, 3)
    assert_frames_match(out.frames, to_uint8(want.frames[0]))
    assert out.audio is not None
    assert_audio_matches(out.audio.samples, want.audio[0].numpy())
    text = model("a robot dancing", seconds=9 / 24, fps=24, width=32, height=32, steps=2, seed=5)
    assert not np.array_equal(out.frames, text.frames)  # the image conditions the video


def _condition_call(pipe: Any, conditions: list[Any], num_frames: int) -> Any:
    """The plain diffusers LTX2ConditionPipeline call cinegen's keyframes and extend should equal."""
    from diffusers import LTX2ConditionPipeline

    return LTX2ConditionPipeline.from_pipe(pipe)(
        conditions=conditions, prompt="a robot dancing", negative_prompt=None, num_frames=num_frames,
        height=32, width=32, num_inference_steps=2, guidance_scale=3.0, frame_rate=24.0,
        max_sequence_length=MAX_TEXT, output_type="np", generator=torch.Generator("cpu").manual_seed(5))


def test_first_last_frame_keyframes_equal_diffusers(ltx2: tuple[Any, DiffusersVideoModel]) -> None:
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    pipe, model = ltx2
    rng = np.random.default_rng(0)
    first, last = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    out = model("a robot dancing", image=first, keyframes={8 / 24: last}, seconds=9 / 24, fps=24, width=32,
                height=32, steps=2, seed=5)
    assert out.settings["pipeline"] == "LTX2ConditionPipeline"
    # frame 8 is in the last latent frame (time compression 2): diffusers' first-last example's index -1
    want = _condition_call(pipe, [LTX2VideoCondition(frames=Image.fromarray(first), index=0),
                                  LTX2VideoCondition(frames=Image.fromarray(last), index=-1)], 9)
    assert out.frames.shape == (9, 32, 32, 3)
    assert_frames_match(out.frames, to_uint8(want.frames[0]))
    assert out.audio is not None
    assert_audio_matches(out.audio.samples, want.audio[0].numpy())
    with pytest.raises(FamilyError, match=r"keyframes at frames 1 and 2 fall in the same one \(latent 1\)"):
        model("a robot dancing", keyframes={1 / 24: first, 2 / 24: last}, seconds=9 / 24, fps=24, width=32,
              height=32, steps=2)


def test_extend_forward_equals_diffusers(ltx2: tuple[Any, DiffusersVideoModel]) -> None:
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    pipe, model = ltx2
    source = np.random.default_rng(1).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    call = {"seconds": 17 / 24, "fps": 24, "width": 32, "height": 32, "steps": 2, "seed": 5}
    out = model("a robot dancing", extend=source, extend_fps=24, **call)
    want = _condition_call(pipe, [LTX2VideoCondition(frames=[Image.fromarray(f) for f in source[-9:]],
                                                     index=0)], 17)
    assert out.frames.shape == (8, 32, 32, 3)
    assert_frames_match(out.frames, to_uint8(want.frames[0][9:]))
    sound = want.audio[0].numpy()  # the window's: cinegen keeps the new frames' span, 8 of 17 frames
    cut = round(sound.shape[1] * 9 / 17)
    assert out.audio is not None
    assert_audio_matches(out.audio.samples, sound[:, cut:])
    with pytest.raises(FamilyError, match="LTX-2 extends forward only"):
        model("a robot dancing", extend=source, extend_fps=24, direction="backward", **call)


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
