"""`cinegen generate` end to end on a tiny saved pipeline: every mode's flags, determinism,
signed output, and bad input answered with a specific error, exit 2 and no file left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from cinegen.cli import main
from cinegen.media import read_video, write_video
from cinegen.models.text import TextEncoder
from cinegen.models.transformer import DIT_PRESETS, build_transformer
from cinegen.models.vae import VAE_PRESETS, VideoVAE
from cinegen.pipeline import CinegenPipeline
from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
from cinegen.trust.publish import verify_video


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    transformer: Any = build_transformer(DIT_PRESETS["tiny"]).eval()
    with torch.no_grad():  # a non-zero output layer, so seeds and prompts change the frames
        transformer.proj_out.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(1))
    pipe = CinegenPipeline(
        BuiltinVAE(VideoVAE(VAE_PRESETS["tiny"]).eval()), transformer, MiniLMPrompts(TextEncoder()),
        sizes=[(64, 64)], window_latents=3, default_steps=2,
    )
    path = tmp_path_factory.mktemp("model") / "tiny"
    pipe.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    # not 64x64: fitted
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(d / "still.png")
    write_video(d / "clip.mp4", rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8), 16)
    (d / "broken_image.png").write_bytes((d / "still.png").read_bytes()[:100])
    (d / "broken_video.mp4").write_bytes((d / "clip.mp4").read_bytes()[:300])
    (d / "schedule.yaml").write_text("- {at: 0, prompt: a red ball moving right}\n- {at: 0.25, prompt: a "
                                     "red ball falling}\n")
    (d / "overlap.yaml").write_text("- {at: 0.5, prompt: a red ball}\n- {at: 0.5, prompt: a blue ball}\n")
    return {p.stem: p for p in d.iterdir()}


def gen(model: Path, out: Path, *args: str, prompt: str = "a red ball moving right") -> int:
    return main(["generate", prompt, "-o", str(out), "--model", str(model), "--size", "64x64", "--dtype",
                 "float32", *args])


def test_text_to_video_writes_a_signed_watermarked_mp4(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "shot.mp4"
    assert gen(model, out, "--seconds", "1", "--fps", "16") == 0
    frames, fps = read_video(out)
    assert frames.shape == (16, 64, 64, 3) and fps == 16
    report = verify_video(out)
    assert report.c2pa.present and report.c2pa.valid
    # the manifest records the embedded mark
    assert (report.c2pa.claims.get("watermark") or {}).get("payload")
    # (detection itself is measured at the model's sizes in tests/test_trust_watermark.py; 64x64 is too few
    # pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["shot.mp4"]  # no temporary files left


def test_traced_and_untraced_runs_write_the_same_frames(model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"

    def frames(name: str, *flags: str) -> np.ndarray:  # the frames as published (the MP4 encoder's output
        # for the same frames has been seen to differ between runs, so the PNGs are compared)
        args = ["--seconds", "0.5", "--data-dir", str(data), "--frames-dir", str(tmp_path / name), *flags]
        assert gen(model, tmp_path / f"{name}.mp4", *args) == 0
        return np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / name).glob("*.png"))])

    untraced = frames("a", "--no-traces")
    assert not (data / "cache" / "traced").exists()  # --no-traces neither reads nor writes traces
    traced = [frames("b"), frames("c")]  # the first run traces, the second loads the traces
    assert sorted(p.name.split("-")[0] for p in (data / "cache" / "traced").iterdir()) == [
        "minilm", "policy", "velocity"]
    assert len(untraced) == 8 and all(np.array_equal(untraced, t) for t in traced)


def test_prompt_extension_is_reported_and_can_be_turned_off(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cinegen.backlot.extend import PROMPT_EXTENDERS

    pipe = CinegenPipeline.from_pretrained(model, dtype="float32")
    pipe.prompt_extender = PROMPT_EXTENDERS["backlot-detailed"]
    pipe.save_pretrained(tmp_path / "ext")
    para = "a crimson orb plummeting at dusk"
    assert gen(tmp_path / "ext", tmp_path / "a.mp4", "--seconds", "0.5", prompt=para) == 0
    assert "prompt extended to: 'A red ball falling and bouncing" in capsys.readouterr().out
    settings = verify_video(tmp_path / "a.mp4").c2pa.claims["settings"]
    assert settings["prompt"] == para and settings["model_prompt"].startswith("A red ball falling")
    assert gen(tmp_path / "ext", tmp_path / "b.mp4", "--seconds", "0.5", "--no-extend-prompt",
               prompt=para) == 0
    assert "extended" not in capsys.readouterr().out
    assert verify_video(tmp_path / "b.mp4").c2pa.claims["settings"]["model_prompt"] == para
    assert not np.array_equal(read_video(tmp_path / "a.mp4")[0], read_video(tmp_path / "b.mp4")[0])


def test_same_seed_same_frames_other_seed_differs(model: Path, tmp_path: Path) -> None:
    def frames(seed: int, name: str) -> np.ndarray:
        d = tmp_path / name
        assert gen(model, tmp_path / f"{name}.mp4", "--seconds", "0.5", "--seed", str(seed), "--frames-dir",
                   str(d)) == 0
        return np.stack([np.asarray(Image.open(p)) for p in sorted(d.glob("*.png"))])

    a, b, c = frames(3, "a"), frames(3, "b"), frames(4, "c")
    assert a.shape == (8, 64, 64, 3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("args", "frames"),
    [
        (["--image", "{still}"], 8),
        (["--keyframe", "0={still}", "--keyframe", "0.5={still}"], 8),
        (["--extend", "{clip}"], 8),
        (["--extend", "{clip}", "--direction", "backward"], 8),
        (["--connect", "{clip}", "{clip}"], 8),
        (["--loop"], 8),
        (["--edit", "{clip}", "--strength", "0.5"], 8),  # the first --seconds of the edited source
        (["--schedule", "{schedule}"], 8),
        (["--sampler", "unipc", "--steps", "3"], 8),
    ],
    ids=["image", "keyframes", "extend", "extend-backward", "connect", "loop", "edit", "schedule",
         "unipc-sampler"],
)
def test_every_mode_from_the_command_line(model: Path, media: dict[str, Path], tmp_path: Path,
                                          args: list[str], frames: int) -> None:
    out = tmp_path / "out.mp4"
    filled = [a.format(**{k: str(v) for k, v in media.items()}) for a in args]
    assert gen(model, out, "--seconds", "0.5", *filled) == 0
    got, _ = read_video(out)
    assert got.shape == (frames, 64, 64, 3)


def test_still_writes_a_png(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "still.png"
    assert gen(model, out, "--still") == 0
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seconds", "0"], "seconds"),
        (["--seconds", "-2"], "seconds"),
        (["--seconds", "61"], "seconds"),
        (["--size", "100x100"], "100x100"),
        (["--steps", "0"], "steps"),
        (["--device", "tpu9"], "tpu9"),
        (["--image", "{broken_image}"], "broken_image.png"),
        (["--image", "{missing}"], "missing.png"),
        (["--extend", "{broken_video}"], "broken_video.mp4"),
        (["--edit", "{clip}", "--strength", "1.5"], "strength"),
        (["--keyframe", "3={still}"], "keyframe at 3"),
        (["--schedule", "{overlap}"], "schedule"),
        (["--extend", "{clip}", "--loop"], "one mode"),
    ],
    ids=["zero-seconds", "negative-seconds", "too-long", "size", "steps", "device", "truncated-image",
         "missing-image",
         "truncated-video", "strength", "keyframe-outside", "overlapping-schedule", "two-modes"],
)
def test_bad_input_exits_2_naming_the_problem_and_leaves_no_file(
    model: Path, media: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
    message: str
) -> None:
    paths = {k: str(v) for k, v in media.items()} | {"missing": str(tmp_path / "missing.png")}
    out = tmp_path / "out.mp4"
    assert gen(model, out, "--seconds", "1", *[a.format(**paths) for a in args]) == 2
    err = capsys.readouterr().err
    assert "error" in err and message in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_sampler_is_refused_by_the_parser(model: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        gen(model, tmp_path / "out.mp4", "--sampler", "rk45")
    assert e.value.code == 2 and "rk45" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_prompt_and_output_and_model(model: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert gen(model, tmp_path / "a.mp4", prompt="") == 2
    assert "prompt" in capsys.readouterr().err
    assert gen(model, tmp_path / "a.mp4", prompt="a red ball " * 400) == 2
    assert "prompt" in capsys.readouterr().err
    assert gen(model, tmp_path / "a.avi") == 2
    assert ".mp4" in capsys.readouterr().err
    assert main(["generate", "a red ball", "-o", str(tmp_path / "a.mp4"), "--model",
                 str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for p in model.rglob("*"):
        if p.is_file():
            target = corrupt / p.relative_to(model)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.read_bytes()[: 64] if p.suffix == ".safetensors" else p.read_bytes())
    assert main(["generate", "a red ball", "-o", str(tmp_path / "a.mp4"), "--model", str(corrupt)]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()
