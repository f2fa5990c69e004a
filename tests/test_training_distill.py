"""The few-step student: the distillation trainer on a tiny teacher, its target, installing the student
as a quality, and what the pipeline and the CLI do with qualities and step counts."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from cinegen.models.transformer import load_transformer
from cinegen.pipeline import CinegenPipeline, PipelineError
from cinegen.pipeline.quality import Quality, choose_sampling
from cinegen.sampling import SAMPLERS, Conditioning
from cinegen.training import distill
from cinegen.training.configs import DistillConfig
from tests.tiny_planned import tiny_planned_pipeline


def _cfg(out: Path, teacher: Path, **kw: Any) -> DistillConfig:
    base = DistillConfig(
        out=str(out),
        teacher=str(teacher),
        student_steps=(1, 2),
        teacher_substeps=2,
        steps=3,
        tokens_per_batch=256,
        max_batch=2,
        warmup=1,
        frames=(1, 9),
        frame_weights=(0.5, 0.5),
        aspect_weights=(1.0,),
        sizes=("64x64",),
        bank_size=8,
        fill_seconds=0.0,
        refresh_per_step=1,
        workers=0,
        bf16=False,
        log_every=1,
        ckpt_every=100,
    )
    return dataclasses.replace(base, **kw)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("teacher") / "model"
    tiny_planned_pipeline(default_guidance=4.0).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def student(teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return distill.main(_cfg(tmp_path_factory.mktemp("distill"), teacher, snapshot_every=2))


# ----------------------------------------------------------------------------- the trainer
def test_distill_writes_a_student_that_says_how_it_samples(student: Path, teacher: Path) -> None:
    info = json.loads((student / "student.json").read_text())
    assert info["sampler"] == "euler" and (info["min_steps"], info["steps"], info["max_steps"]) == (1, 2, 2)
    assert info["guidance_folded"] == 4.0 and info["distill_steps"] == 3  # the teacher's own guidance
    assert json.loads((student / "cinegen.json").read_text())["steps"] == 3
    assert (student.parent / "snapshots" / "step-000002" / "student.json").exists()
    assert len(json.loads((student.parent / "history.json").read_text())) == 3  # logged every step
    # the student moved away from the teacher it started as
    before = CinegenPipeline.from_pretrained(teacher, dtype="float32").transformer.state_dict()
    after = load_transformer(student).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_distill_resume_continues_the_step_count(student: Path, teacher: Path) -> None:
    out = student.parent
    resumed = distill.main(_cfg(out, teacher, steps=4, resume=True))
    assert json.loads((resumed / "student.json").read_text())["distill_steps"] == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [("student_steps", ()), ("student_steps", (0, 2)), ("teacher_substeps", 0), ("guidance", -1.0),
     ("rollout", 1.5), ("sub_frames", True), ("world_positions", True), ("camera_weight", -1.0),
     ("motion_weight", -1.0)],
)
def test_distill_rejects_bad_settings(teacher: Path, tmp_path: Path, field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        distill.main(_cfg(tmp_path, teacher, **{field: value}))
    with pytest.raises(FileNotFoundError, match="model_index"):
        distill.main(_cfg(tmp_path, tmp_path / "nowhere"))


def test_camera_terms_change_what_the_student_learns(teacher: Path, tmp_path: Path) -> None:
    """The DiT trainer's moving-camera terms (background weight, the background's frame-to-frame
    change) in the distiller: the same seed and data with them on trains other weights."""
    plain = load_transformer(distill.main(_cfg(tmp_path / "plain", teacher, steps=2))).state_dict()
    cam = load_transformer(distill.main(_cfg(tmp_path / "cam", teacher, steps=2, camera_weight=4.0,
                                             motion_weight=4.0))).state_dict()
    assert any(not torch.equal(plain[k], cam[k]) for k in plain)


def test_rollout_starts_intervals_where_the_students_own_steps_land(teacher: Path, tmp_path: Path) -> None:
    """The rollout is the student's Euler steps from noise with pinned frames held; a run that starts
    every later interval there trains (the weights move) and writes a student."""
    from cinegen.models.transformer import VelocityModel, load_transformer

    model = VelocityModel(load_transformer(teacher / "transformer")).eval()
    noise, text = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 5, 384)
    x0 = torch.randn(1, 4, 3, 8, 8)
    cond = Conditioning(x0, torch.tensor([True, False, False]))
    sig = torch.tensor([1.0, 0.6, 0.3])
    got = distill.student_rollout(model, noise, sig, cond, text, None, contextlib.nullcontext())
    x = cond.apply(noise, noise)
    for a, b in ((1.0, 0.6), (0.6, 0.3)):  # Euler by hand, the pinned frame clean before each call
        s = cond.frame_sigmas(a, 1, 3, x.device)
        with torch.no_grad():
            x = cond.apply(x + (b - a) * model(x, s, text), noise)
    torch.testing.assert_close(got, x)
    assert torch.equal(got[:, :, 0], x0[:, :, 0])
    out = distill.main(_cfg(tmp_path, teacher, rollout=1.0, student_steps=(2,)))
    trained = load_transformer(out).state_dict()
    start = load_transformer(teacher / "transformer").state_dict()
    assert any(not torch.equal(trained[k].float(), v.float()) for k, v in start.items())


def test_the_target_is_the_teachers_guided_jump() -> None:
    """On a flow whose paths are straight (all data at one point c), the guided teacher's jump is
    exact whatever the substeps, so the student's target is the velocity itself: v = (x - c) / sigma."""
    c = 0.3

    def model(x: torch.Tensor, s: torch.Tensor, text: torch.Tensor, layout: Any = None) -> torch.Tensor:
        return (x - c) / s[:, None, :, None, None]

    x_a = 0.4 * c + 0.6 * torch.randn((2, 4, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    text = torch.zeros(2, 5, 8)
    for substeps in (1, 3):
        v = distill.teacher_jump(
            model,
            x_a,
            0.6,
            0.25,
            None,
            text,
            text,
            4.0,
            None,
            None,  # type: ignore[arg-type]
            substeps,
        )
        torch.testing.assert_close(v, (x_a - c) / 0.6, atol=1e-5, rtol=1e-5)


def test_student_sigmas_are_the_pipelines_schedule() -> None:
    from cinegen.sampling import make_sigmas, shift_for_tokens

    assert torch.equal(distill.student_sigmas(3, 1024), make_sigmas(3, shift=shift_for_tokens(1024)))


# ----------------------------------------------------------------------------- qualities
@pytest.fixture(scope="module")
def installed(teacher: Path, student: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    model = tmp_path_factory.mktemp("installed") / "model"
    shutil.copytree(teacher, model)
    entry = distill.install_student(student, model, name="fast")
    assert entry == {
        "transformer": "student",
        "steps": 2,
        "min_steps": 1,
        "max_steps": 2,
        "sampler": "euler",
        "guidance_folded": 4.0,
    }
    return model


def _count_calls(module: torch.nn.Module) -> list[int]:
    batches: list[int] = []
    module.register_forward_pre_hook(lambda _m, args: batches.append(int(args[0].shape[0])))
    return batches


def test_the_fast_quality_makes_one_unguided_call_per_step(installed: Path) -> None:
    pipe = CinegenPipeline.from_pretrained(installed, dtype="float32")
    assert sorted(pipe.qualities) == ["fast", "full"] and pipe.default_quality == "full"
    fast, full = _count_calls(pipe.models["student"]), _count_calls(pipe.models["transformer"])
    out = pipe("a red ball moving left", seconds=0.5, seed=0, width=64, height=64, quality="fast")
    assert fast == [1, 1] and full == []  # 2 steps, one window, no unconditional pass
    assert (
        out.settings["quality"] == "fast" and out.settings["steps"] == 2 and out.settings["guidance"] == 1.0
    )
    pipe("a red ball moving left", seconds=0.5, seed=0, width=64, height=64)
    assert full == [2, 2] and fast == [1, 1]  # the teacher: 2 default steps, guided (batch of 2)
    again = pipe("a red ball moving left", seconds=0.5, seed=0, width=64, height=64, quality="fast", steps=1)
    assert again.frames.shape == out.frames.shape and not (again.frames == out.frames).all()


def test_an_installed_student_is_stored_in_float16(installed: Path, student: Path) -> None:
    from safetensors.torch import load_file

    files = sorted((installed / "student").glob("*.safetensors"))
    assert files and sorted(f.name for f in files) == sorted(f.name for f in student.glob("*.safetensors"))
    for f in files:
        half, full = load_file(str(f)), load_file(str(student / f.name))
        assert half.keys() == full.keys()
        for k, t in half.items():
            assert t.dtype == (torch.float16 if full[k].is_floating_point() else full[k].dtype)
            torch.testing.assert_close(t.float(), full[k].float(), atol=1e-3, rtol=1e-3)


def test_save_pretrained_keeps_the_students(installed: Path, tmp_path: Path) -> None:
    pipe = CinegenPipeline.from_pretrained(installed, dtype="float32")
    pipe.save_pretrained(tmp_path / "copy")
    meta = json.loads((tmp_path / "copy" / "model_index.json").read_text())
    assert meta["qualities"]["fast"]["transformer"] == "student" and (tmp_path / "copy" / "student").is_dir()
    again = CinegenPipeline.from_pretrained(tmp_path / "copy", dtype="float32")
    a = pipe("a blue cube", seconds=0.5, seed=3, width=64, height=64, quality="fast").frames
    b = again("a blue cube", seconds=0.5, seed=3, width=64, height=64, quality="fast").frames
    assert (a == b).all()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"quality": "ultra"}, "quality 'ultra' is not one this model has; choose from fast, full"),
        ({"quality": "fast", "steps": 3},
         "steps must be an integer in 1..2 for quality 'fast', got 3; quality 'full' takes 1..200"),
        ({"quality": "fast", "steps": 0}, "in 1..2 for quality 'fast', got 0"),
        ({"quality": "fast", "guidance": 2.0}, "guidance 4 built into its weights"),
        ({"quality": "fast", "sampler": "unipc"},
         "trained for the 'euler' sampler, not 'unipc'; use quality 'full'"),
        ({"steps": 0}, "in 1..200 for quality 'full'"),
    ],
)
def test_quality_settings_are_checked(installed: Path, kw: dict[str, Any], message: str) -> None:
    pipe = CinegenPipeline.from_pretrained(installed, dtype="float32")
    with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace(".", r"\.")):
        pipe("a red ball", seconds=0.5, width=64, height=64, **kw)


def test_declared_qualities_are_validated() -> None:
    with pytest.raises(PipelineError, match="expected keys"):
        Quality.declared("fast", {"steps": 2, "colour": "red"})
    with pytest.raises(PipelineError, match="min_steps <= steps"):
        Quality.declared("fast", {"steps": 5, "max_steps": 4})
    q, s = choose_sampling(
        {"full": Quality("full", 12, 5.0, "unipc")}, "full", None, None, 3.0, None, tuple(SAMPLERS)
    )
    assert (s.steps, s.guidance, s.solver, s.transformer) == (12, 3.0, "unipc", "transformer")


def test_cli_refuses_an_unknown_quality_with_exit_2(
    installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cinegen.cli import main

    code = main(
        [
            "generate",
            "a red ball",
            "-o",
            str(tmp_path / "x.mp4"),
            "--model",
            str(installed),
            "--size",
            "64x64",
            "--seconds",
            "0.5",
            "--quality",
            "ultra",
            "--data-dir",
            str(tmp_path / "d"),
        ]
    )
    assert code == 2 and "quality 'ultra' is not one this model has" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
