"""The Wan family through cinegen: every mode each kind of Wan directory has, on tiny random
weights saved by diffusers, each checked against the same call made on diffusers directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.families.family import FamilyError
from cinegen.families.model import DiffusersVideoModel, to_uint8
from cinegen.families.random_models import MAX_TEXT, save, wan_pipeline
from cinegen.families.wan import without_ftfy
from cinegen.mode import Mode
from tests.same_output import assert_frames_match

NINE = {"seconds": 9 / 16, "fps": 16, "width": 32, "height": 32, "steps": 2}  # 9 frames (4k+1)
DIRECT = {"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 2, "guidance_scale": 5.0,
          "output_type": "np", "max_sequence_length": MAX_TEXT}
RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
LAST = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
SOURCE = RNG.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, DiffusersVideoModel]]:
    """kind -> (the diffusers pipeline in memory, cinegen's model loaded from its saved directory)."""
    root = tmp_path_factory.mktemp("wan")
    out = {}
    for kind in ("t2v", "flf2v", "vace", "ti2v", "a14b"):
        pipe = wan_pipeline(kind)
        pipe.set_progress_bar_config(disable=True)
        out[kind] = (pipe, DiffusersVideoModel.load(save(pipe, root / kind)))
    return out


def direct(pipe: Any, prompt: str, seed: int = 0, **kw: Any) -> np.ndarray:
    """The plain diffusers call (prompt embedded as cinegen does where ftfy is missing); a None
    keyword leaves that argument out."""
    call = {"prompt": prompt, "negative_prompt": None, **DIRECT, **kw,
            "generator": torch.Generator("cpu").manual_seed(seed)}
    call = {k: v for k, v in call.items() if v is not None or k == "negative_prompt"}
    return to_uint8(pipe(**without_ftfy(pipe, call)).frames[0])


def test_text_to_video_equals_diffusers(built: dict[str, Any]) -> None:
    pipe, model = built["t2v"]
    out = model("a red ball", seed=3, **NINE)
    assert out.frames.shape == (9, 32, 32, 3) and out.fps == 16
    assert out.settings["pipeline"] == "WanPipeline" and out.settings["family"] == "wan"
    assert_frames_match(out.frames, direct(pipe, "a red ball", seed=3))
    assert not np.array_equal(out.frames, model("a red ball", seed=4, **NINE).frames)


def test_still_and_edit(built: dict[str, Any]) -> None:
    pipe, model = built["t2v"]
    assert model("a ball", still=True, **NINE).frames.shape == (1, 32, 32, 3)
    out = model("a ball", edit=SOURCE, extend_fps=16, strength=0.5, **NINE)
    assert out.settings["pipeline"] == "WanVideoToVideoPipeline" and out.frames.shape == (9, 32, 32, 3)
    from diffusers import WanVideoToVideoPipeline
    from PIL import Image

    v2v = WanVideoToVideoPipeline.from_pipe(pipe)
    want = direct(v2v, "a ball", video=[Image.fromarray(f) for f in SOURCE[:9]], strength=0.5,
                  num_frames=None)
    assert_frames_match(out.frames, want)


def test_first_and_last_frame_equals_diffusers(built: dict[str, Any]) -> None:
    from PIL import Image

    pipe, model = built["flf2v"]
    assert model.family.modes == (Mode.KEYFRAMES,)
    with pytest.raises(FamilyError, match="takes a first and a last frame"):
        model("a ball", keyframes={0.0: IMAGE}, **NINE)
    both = model("a ball", image=IMAGE, keyframes={9 / 16: LAST}, **NINE)
    want = direct(pipe, "a ball", image=Image.fromarray(IMAGE), last_image=Image.fromarray(LAST))
    assert_frames_match(both.frames, want)
    with pytest.raises(FamilyError,
                       match=r"first frame, and optionally the last \(frame 8\); got frames \[0, 4\]"):
        model("a ball", image=IMAGE, keyframes={0.25: LAST}, **NINE)


def test_vace_modes(built: dict[str, Any]) -> None:
    from PIL import Image

    pipe, model = built["vace"]
    text = model("a ball", **NINE)
    assert_frames_match(text.frames, direct(pipe, "a ball"))
    both = model("a ball", image=IMAGE, keyframes={0.5: LAST}, references=[IMAGE], **NINE)
    assert both.frames.shape == (9, 32, 32, 3)
    forward = model("a ball", extend=SOURCE, extend_fps=16, **NINE)
    backward = model("a ball", extend=SOURCE, extend_fps=16, direction="backward", **NINE)
    assert forward.frames.shape == backward.frames.shape == (5, 32, 32, 3)  # 9 - 4 context frames
    keep, make = Image.new("L", (32, 32), 0), Image.new("L", (32, 32), 255)
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    video = [Image.fromarray(f) for f in SOURCE[-4:]] + [grey] * 5
    want = direct(pipe, "a ball", video=video, mask=[keep] * 4 + [make] * 5)
    assert_frames_match(forward.frames, want[4:])


def test_wan22_ti2v_text_and_image(built: dict[str, Any]) -> None:
    from diffusers import WanImageToVideoPipeline
    from PIL import Image

    pipe, model = built["ti2v"]
    assert model.family.size_multiple == 32
    assert_frames_match(model("a ball", **NINE).frames, direct(pipe, "a ball"))
    out = model("a ball", image=IMAGE, **NINE)
    i2v = WanImageToVideoPipeline.from_pipe(pipe)
    assert_frames_match(out.frames, direct(i2v, "a ball", image=Image.fromarray(IMAGE)))


def test_wan22_two_experts(built: dict[str, Any]) -> None:
    pipe, model = built["a14b"]
    assert model.base.transformer_2 is not None and Mode.EDIT not in model.family.modes  # V2V runs one expert
    assert_frames_match(model("a ball", **NINE).frames, direct(pipe, "a ball"))


def test_refusals_name_what_is_valid(built: dict[str, Any]) -> None:
    _, model = built["t2v"]
    with pytest.raises(FamilyError, match="cannot do mode 'image'; it can do: text, still, edit, remix") as e:
        model("a ball", image=IMAGE, **NINE)
    assert e.value.code == "unsupported_mode"
    with pytest.raises(FamilyError,
                       match=r"4k\+1 frames, not 8: use 5 \(0.312 s\) or 9 \(0.562 s\) at 16 fps"):
        model("a ball", **{**NINE, "seconds": 0.5})
    with pytest.raises(FamilyError, match="multiples of 16, not 30x32: use 32x32"):
        model("a ball", **{**NINE, "width": 30})
    fitted = model("a ball", fit=True, **{**NINE, "seconds": 0.5, "width": 30})
    assert fitted.frames.shape == (9, 32, 32, 3)
    with pytest.raises(FamilyError, match="own scheduler"):
        model("a ball", sampler="heun", **NINE)
    with pytest.raises(FamilyError, match="no reference images"):
        model("a ball", references=[IMAGE], **NINE)


def test_progress_is_reported(built: dict[str, Any]) -> None:
    seen: list[tuple[int, int]] = []
    built["t2v"][1]("a ball", progress=lambda i, n: seen.append((i, n)), **NINE)
    assert seen == [(1, 2), (2, 2)]


def test_first_and_last_frame_through_the_cli(built: dict[str, Any], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from cinegen.cli import main
    from cinegen.media import write_image

    write_image(tmp_path / "first.png", IMAGE)
    write_image(tmp_path / "last.png", LAST)
    out = tmp_path / "flf.mp4"
    model = str(built["flf2v"][1].path)
    args = ["generate", "a ball", "-o", str(out), "--model", model, "--size", "32x32", "--seconds", "0.5625",
            "--steps", "2", "--image", str(tmp_path / "first.png")]
    assert main([*args, "--keyframe", f"0.5625={tmp_path / 'last.png'}"]) == 0 and out.exists()
    assert main([*args[:3], str(tmp_path / "x.mp4"), *args[4:]]) == 2  # one image: FLF2V needs both
    assert "cannot do mode 'image'; it can do: keyframes" in capsys.readouterr().err
