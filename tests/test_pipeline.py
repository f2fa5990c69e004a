"""CinegenPipeline on tiny random components: every mode's frame count, determinism, pinning,
argument errors, persistence and the pixel helpers. (The mode a manifest records is decided by
`cinegen.generate`, tested in test_generate.py.)"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.backlot.extend import PROMPT_EXTENDERS
from cinegen.models.text import TextEncoder
from cinegen.models.transformer import DIT_PRESETS, build_transformer
from cinegen.models.vae import VAE_PRESETS, VideoVAE
from cinegen.pipeline import (
    SEAM_FADE_FRAMES,
    CinegenPipeline,
    PipelineError,
    ScheduleEntry,
    carry_residual,
    fit_image,
    retime,
)
from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
from cinegen.pipeline.frames import latents_for_frames

SIZE: dict[str, Any] = {"width": 64, "height": 64}


@pytest.fixture(scope="module")
def pipe() -> CinegenPipeline:
    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"]).eval()
    with torch.no_grad():  # fp16-representable weights, so the (fp16) saved VAE reloads bit-identical
        for p in vae.parameters():
            p.copy_(p.half().float())
    transformer: Any = build_transformer(DIT_PRESETS["tiny"]).eval()
    with torch.no_grad():  # a non-zero output layer, so text and conditioning change the velocity
        transformer.proj_out.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(1))
    return CinegenPipeline(
        BuiltinVAE(vae), transformer, MiniLMPrompts(TextEncoder()), sizes=[(64, 64), (80, 48)],
        window_latents=3, default_steps=2
    )


@pytest.fixture(scope="module")
def wide(pipe: CinegenPipeline) -> CinegenPipeline:
    """The same components with room in one window for a prefix, a suffix and new latents (connect, loop)."""
    return CinegenPipeline(pipe.vae, pipe.transformer, pipe.encode_prompt, sizes=pipe.sizes, window_latents=6,
                           default_steps=2)


def _frames(n: int, h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _shape(out: Any, frames: int, h: int = 64, w: int = 64) -> None:
    assert out.frames.shape == (frames, h, w, 3) and out.frames.dtype == np.uint8


# ----------------------------------------------------------------------------- modes
@pytest.mark.parametrize(("seconds", "fps", "frames"),
                         [(0.5, 16, 8), (0.5, 8, 4), (0.25, 24, 6), (1 / 16, 16, 1)])
def test_text_to_video_frames_at_fps(pipe: CinegenPipeline, seconds: float, fps: int, frames: int) -> None:
    out = pipe("a red ball rolls", seconds=seconds, fps=fps, **SIZE)
    _shape(out, frames)
    assert out.fps == fps and out.seed == 0


def test_other_aspect(pipe: CinegenPipeline) -> None:
    _shape(pipe("a red ball", seconds=0.25, width=80, height=48), 4, 48, 80)


def test_several_windows(pipe: CinegenPipeline) -> None:
    seen: list[tuple[int, int]] = []
    out = pipe("a red ball", seconds=1.5, progress=lambda i, n: seen.append((i, n)), **SIZE)
    _shape(out, 24)  # window 1 covers 9 frames, each later one 4 more: 5 windows
    assert [i for i, _ in seen] == list(range(1, 11)) and {n for _, n in seen} == {10}


@pytest.mark.parametrize("fps", [8, 16, 24, 30])
def test_still(pipe: CinegenPipeline, fps: int) -> None:
    out = pipe("a blue square", still=True, seconds=30, fps=fps, **SIZE)
    _shape(out, 1)


def test_image_to_video_pins_first_frame(pipe: CinegenPipeline) -> None:
    """Frame 0 is the user's image, fitted (not the VAE's reconstruction of it)."""
    image = _frames(1, 40, 100, seed=3)[0]  # another size and aspect: fit_image covers and crops
    out = pipe("a ball", seconds=0.5, image=image, **SIZE)
    _shape(out, 8)
    fitted = fit_image(image, 64, 64)
    assert np.array_equal(out.frames[0], fitted)
    free = pipe("a ball", seconds=0.5, **SIZE)
    assert np.abs(free.frames[0].astype(int) - fitted.astype(int)).max() > 1


def test_keyframes(pipe: CinegenPipeline) -> None:
    out = pipe("a ball", seconds=1.0,
               keyframes={0.0: _frames(1, seed=1)[0], 0.5: _frames(1, seed=2)[0], 1.0: _frames(1, seed=4)[0]},
               **SIZE)
    _shape(out, 16)


def test_extend_forward(pipe: CinegenPipeline) -> None:
    out = pipe("a ball", seconds=0.5, extend=_frames(9), **SIZE)
    _shape(out, 8)
    # a source of another size and frame rate is fitted and retimed first
    _shape(pipe("a ball", seconds=0.5, extend=_frames(5, 40, 90), extend_fps=8, **SIZE), 8)


def test_extend_backward(pipe: CinegenPipeline) -> None:
    _shape(pipe("a ball", seconds=0.5, extend=_frames(9), direction="backward", **SIZE), 8)


def test_extend_backward_short_source(pipe: CinegenPipeline) -> None:
    _shape(pipe("a ball", seconds=0.25, extend=_frames(2), direction="backward", **SIZE), 4)


def test_connect(wide: CinegenPipeline) -> None:
    out = wide("a ball", seconds=0.5, connect=(_frames(9, seed=1), _frames(9, seed=2)), **SIZE)
    _shape(out, 8)


def test_connect_longer_than_a_window(pipe: CinegenPipeline) -> None:
    _shape(pipe("a ball", seconds=1.0, connect=(_frames(9, seed=1), _frames(3, seed=2)), **SIZE), 16)


@pytest.mark.parametrize(("which", "seconds"), [("wide", 0.75), ("wide", 1.0), ("wide", 1.5), ("pipe", 1.0)])
def test_loop_length(request: pytest.FixtureRequest, which: str, seconds: float) -> None:
    p: CinegenPipeline = request.getfixturevalue(which)
    out = p("a ball", seconds=seconds, loop=True, **SIZE)
    _shape(out, round(seconds * 16))


def test_edit_strength_zero_returns_source(pipe: CinegenPipeline) -> None:
    src = _frames(9)
    out = pipe("a ball", seconds=0.5, edit=src, strength=0.0, **SIZE)
    assert np.array_equal(out.frames, src[:8])


def test_edit(pipe: CinegenPipeline) -> None:
    src = _frames(17)
    out = pipe("a green ball", seconds=1.0, edit=src, strength=0.5, **SIZE)
    _shape(out, 16)


def test_schedule(pipe: CinegenPipeline) -> None:
    out = pipe("a ball", seconds=1.0,
               schedule=[ScheduleEntry(0.0, "a red ball"), ScheduleEntry(0.5, "a blue ball")], **SIZE)
    _shape(out, 16)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_frames_other_seed_differs(pipe: CinegenPipeline) -> None:
    a = pipe("a red ball rolls", seconds=0.5, seed=7, **SIZE)
    b = pipe("a red ball rolls", seconds=0.5, seed=7, **SIZE)
    c = pipe("a red ball rolls", seconds=0.5, seed=8, **SIZE)
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("mode", [{}, {"image": "img"}, {"extend": "clip"}])
def test_unipc_sampler_is_deterministic_and_differs_from_euler(pipe: CinegenPipeline,
                                                               mode: dict[str, str]) -> None:
    kw: dict[str, Any] = {k: (_frames(1)[0] if v == "img" else _frames(9)) for k, v in mode.items()}
    a = pipe("a red ball rolls", seconds=0.5, seed=7, sampler="unipc", steps=3, **kw, **SIZE)
    b = pipe("a red ball rolls", seconds=0.5, seed=7, sampler="unipc", steps=3, **kw, **SIZE)
    e = pipe("a red ball rolls", seconds=0.5, seed=7, sampler="euler", steps=3, **kw, **SIZE)
    assert np.array_equal(a.frames, b.frames) and a.settings["sampler"] == "unipc"
    assert not np.array_equal(a.frames, e.frames)
    assert e.settings["sampler"] == pipe.default_sampler == "euler"


def test_prompt_changes_frames(pipe: CinegenPipeline) -> None:
    a = pipe("a red ball rolls", seconds=0.25, **SIZE)
    b = pipe("a blue square jumps", seconds=0.25, **SIZE)
    assert not np.array_equal(a.frames, b.frames)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": 61}, "seconds"),
        ({"seconds": -1.0}, "seconds"),
        ({"width": 100, "height": 100}, "size"),
        ({"width": 48, "height": 80}, "size"),
        ({"fps": 0}, "fps"),
        ({"fps": 61}, "fps"),
        ({"fps": 12.5}, "fps"),
        ({"negative_prompt": "x" * 2001}, "negative_prompt"),
        ({"steps": 0}, "steps"),
        ({"guidance": -1.0}, "guidance"),
        ({"sampler": "rk45"}, "sampler.*rk45.*euler, heun, unipc"),
        ({"strength": 1.5, "edit": "clip"}, "strength"),
        ({"strength": -0.1}, "strength"),
        ({"direction": "sideways", "extend": "clip"}, "direction"),
        ({"keyframes": {2.0: "img"}}, "keyframe"),
        ({"keyframes": {-0.5: "img"}}, "keyframe"),
        ({"schedule": []}, "schedule"),
        ({"schedule": [("0.5", "a"), ("0.2", "b")]}, "schedule"),
        ({"schedule": [("0.0", "a"), ("0.0", "b")]}, "schedule"),
        ({"schedule": [("0.0", "a"), ("1.5", "b")]}, "schedule"),
        ({"schedule": [("0.0", " ")]}, "schedule"),
        ({"edit": "clip", "extend": "clip"}, "edit|extend"),
        ({"loop": True, "connect": "pair"}, "loop|connect"),
    ],
)
def test_bad_arguments_raise_pipeline_error(pipe: CinegenPipeline, kwargs: dict[str, Any],
                                            names: str) -> None:
    args: dict[str, Any] = {"prompt": "a ball", "seconds": 1.0, **SIZE}
    for k, v in kwargs.items():
        if v == "clip":
            v = _frames(9)
        elif v == "pair":
            v = (_frames(9), _frames(9))
        elif k == "keyframes":
            v = {t: _frames(1)[0] for t in v}
        elif k == "schedule":
            v = [ScheduleEntry(float(s), p) for s, p in v]
        args[k] = v
    prompt = args.pop("prompt")
    with pytest.raises(PipelineError, match=re.compile(names, re.IGNORECASE)):
        pipe(prompt, **args)


def test_pipeline_error_is_a_value_error() -> None:
    assert issubclass(PipelineError, ValueError)


# ----------------------------------------------------------------------------- persistence
def test_save_load_round_trip(pipe: CinegenPipeline, tmp_path: Path) -> None:
    pipe.info["name"] = "tiny-test"
    pipe.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"model_index.json", "vae", "transformer"}
    loaded = CinegenPipeline.from_pretrained(tmp_path, dtype="float32")  # "auto" may pick bf16
    assert loaded.sizes == pipe.sizes and loaded.window_latents == 3 and loaded.default_steps == 2
    assert loaded.info["name"] == "tiny-test" and loaded.default_sampler == "euler"
    unipc = CinegenPipeline(pipe.vae, pipe.transformer, pipe.encode_prompt, sizes=pipe.sizes,
                            window_latents=3, default_sampler="unipc")
    unipc.save_pretrained(tmp_path / "unipc")
    assert CinegenPipeline.from_pretrained(tmp_path / "unipc", dtype="float32").default_sampler == "unipc"
    with pytest.raises(PipelineError, match="default sampler 'rk45'"):
        CinegenPipeline(pipe.vae, pipe.transformer, pipe.encode_prompt, default_sampler="rk45")
    assert any(m.weight.is_contiguous(memory_format=torch.channels_last) and not m.weight.is_contiguous()
               for m in loaded.vae.vae.modules() if isinstance(m, torch.nn.Conv2d))  # the CPU loader's layout
    assert not any(isinstance(m, torch.nn.Upsample) for m in loaded.vae.vae.modules())  # upsampling folded
    # the same weights in the same layout: bit-identical frames
    same = copy.deepcopy(pipe.vae.vae).channels_last().fold_upsampling()
    vae = BuiltinVAE(same, pipe.vae.decode_chunk)
    same_layout = CinegenPipeline(vae, pipe.transformer, pipe.encode_prompt, sizes=pipe.sizes,
                                  window_latents=3, default_steps=2)
    a = same_layout("a red ball rolls", seconds=0.75, seed=3, **SIZE)
    b = loaded("a red ball rolls", seconds=0.75, seed=3, **SIZE)
    assert np.array_equal(a.frames, b.frames)


# ----------------------------------------------------------------------------- prompt extension
def test_prompt_extender_rewrites_what_the_model_sees(pipe: CinegenPipeline, tmp_path: Path) -> None:
    ext = CinegenPipeline(pipe.vae, pipe.transformer, pipe.encode_prompt, sizes=pipe.sizes, window_latents=3,
                          default_steps=2, prompt_extender=PROMPT_EXTENDERS["backlot-short"])
    para = "a crimson orb plummeting at dusk"
    out = ext(para, seconds=0.25, seed=2, **SIZE)
    assert out.settings["prompt"] == para and out.settings["model_prompt"] == "a red ball falling, at sunset"
    assert out.settings["prompt_extender"] == "backlot-short"
    canonical = pipe("a red ball falling, at sunset", seconds=0.25, seed=2, **SIZE)
    raw = ext(para, seconds=0.25, seed=2, extend_prompt=False, **SIZE)
    assert np.array_equal(out.frames, canonical.frames)  # the text encoder got the rewrite
    assert raw.settings["model_prompt"] == para and raw.settings["prompt_extender"] is None
    assert not np.array_equal(out.frames, raw.frames)
    sched = ext(para, seconds=0.5, seed=2, schedule=[ScheduleEntry(0.0, para)], **SIZE)
    same = pipe("x", seconds=0.5, seed=2, schedule=[ScheduleEntry(0.0, "a red ball falling, at sunset")],
                **SIZE)
    assert np.array_equal(sched.frames, same.frames)  # schedule entries are extended too
    ext.save_pretrained(tmp_path)
    loaded = CinegenPipeline.from_pretrained(tmp_path, dtype="float32")
    assert loaded.prompt_extender is not None and loaded.prompt_extender.name == "backlot-short"
    pipe.save_pretrained(tmp_path / "plain")
    assert CinegenPipeline.from_pretrained(tmp_path / "plain", dtype="float32").prompt_extender is None
    index = tmp_path / "model_index.json"
    index.write_text(index.read_text().replace("backlot-short", "gpt-9"))
    with pytest.raises(PipelineError, match="prompt_extender 'gpt-9'"):
        CinegenPipeline.from_pretrained(tmp_path, dtype="float32")


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        CinegenPipeline.from_pretrained(tmp_path)
    (tmp_path / "model_index.json").write_text("{not json")
    with pytest.raises(PipelineError, match="JSON"):
        CinegenPipeline.from_pretrained(tmp_path)
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    with pytest.raises(PipelineError, match="StableDiffusionPipeline"):
        CinegenPipeline.from_pretrained(tmp_path)
    with pytest.raises(PipelineError, match="dtype"):
        CinegenPipeline.from_pretrained(tmp_path, dtype="float8")


# ----------------------------------------------------------------------------- pixel helpers
def test_fit_image_covers_and_centre_crops() -> None:
    same = _frames(1, 64, 64)[0]
    assert fit_image(same, 64, 64) is same
    wide_img = np.zeros((32, 128, 3), dtype=np.uint8)
    wide_img[:, :32] = 255  # a white band at the far left is cropped away
    wide_img[:, 48:80] = (0, 0, 255)  # the centre survives
    out = fit_image(wide_img, 64, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert out[:, 0].max() < 255 and np.all(out[:, 20:44] == (0, 0, 255))
    assert fit_image(_frames(1, 30, 50)[0], 80, 48).shape == (48, 80, 3)
    with pytest.raises(PipelineError, match="image"):
        fit_image(np.zeros((8, 8), dtype=np.uint8), 64, 64)
    with pytest.raises(PipelineError, match="image"):
        fit_image(np.zeros((8, 8, 3), dtype=np.float32), 64, 64)


def test_retime() -> None:
    frames = np.arange(16)[:, None, None, None] * np.ones((1, 2, 2, 3), dtype=np.uint8)
    assert retime(frames, 16, 16) is frames
    half = retime(frames, 16, 8)
    assert len(half) == 8 and list(half[:, 0, 0, 0]) == [0, 2, 4, 6, 8, 10, 12, 14]
    double = retime(frames, 16, 32)
    assert len(double) == 32 and double[-1, 0, 0, 0] == 15
    assert len(retime(frames[:1], 16, 1)) == 1


@pytest.mark.parametrize(("frames", "latents"), [(1, 1), (2, 2), (5, 2), (6, 3), (9, 3), (33, 9), (0, 1)])
def test_latents_for_frames(frames: int, latents: int) -> None:
    assert latents_for_frames(frames) == latents


def test_auto_dtype_follows_the_hardware(pipe: CinegenPipeline, tmp_path: Path) -> None:
    import torch

    from cinegen.pipeline.loading import cpu_has_fast_bf16, resolve_dtype

    pipe.save_pretrained(tmp_path)
    loaded = CinegenPipeline.from_pretrained(tmp_path)
    assert loaded.dtype == (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    assert resolve_dtype("float32", torch.device("cpu")) == torch.float32
    out = loaded("a red ball rolls", seconds=0.75, seed=3, **SIZE)
    assert out.frames.shape == (12, 64, 64, 3)


def test_auto_dtype_is_float32_where_the_isa_is_capped_to_avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN capped to AVX2 (an AVX2-only CPU, or its emulation) has no fast bf16: auto is float32."""
    import torch

    from cinegen.pipeline.loading import cpu_has_fast_bf16, resolve_dtype

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not cpu_has_fast_bf16()
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32


def test_carry_residual_fades_the_pinned_frames_decode_error_into_the_new_frames() -> None:
    new = np.full((12, 4, 4, 3), 100, np.uint8)
    given = np.full((4, 4, 3), 140, np.uint8)  # the user's frame at the joint
    decoded = np.full((4, 4, 3), 120, np.uint8)  # the VAE's redraw of it: 20 levels darker
    out = carry_residual(new, given, decoded)
    levels = out[:, 0, 0, 0].astype(int)
    assert levels[0] > 115 and list(levels[:SEAM_FADE_FRAMES]) == sorted(levels[:SEAM_FADE_FRAMES],
                                                                         reverse=True)
    assert (levels[SEAM_FADE_FRAMES:] == 100).all()  # beyond the fade the frames are untouched
    back = carry_residual(new, given, decoded, at_end=True)[:, 0, 0, 0].astype(int)
    assert list(back) == list(levels[::-1])  # the same fade, toward a joint after the new frames
    assert np.array_equal(carry_residual(new, given, given), new)  # a perfect redraw changes nothing
    assert carry_residual(new[:0], given, decoded).shape == (0, 4, 4, 3)


def test_pin_frames_fades_each_residual_and_keeps_the_images() -> None:
    from cinegen.pipeline.frames import pin_frames

    frames = np.full((30, 4, 4, 3), 100, np.uint8)
    a, b = np.full((4, 4, 3), 118, np.uint8), np.full((4, 4, 3), 91, np.uint8)
    out = pin_frames(frames, {0: a, 12: b})
    assert np.array_equal(out[0], a) and np.array_equal(out[12], b)
    assert [int(v) for v in out[:, 0, 0, 0]][:3] == [118, 116, 114]  # 18 * (1 - d / 9), fading out
    assert int(out[8, 0, 0, 0]) == 100 + round(18 / 9 - 9 * 5 / 9)  # both residuals overlap here
    assert (out[-1] == 100).all()  # far from both pins: untouched
