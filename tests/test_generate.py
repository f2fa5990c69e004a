"""cinegen.generate: one way through for every door. The same prompt and seed through the CLI,
the service's worker and the studio's model shots carries the same manifest; every mode is
recorded as itself; a refused prompt costs no model load; the job spec round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.generate import GenerateError, GenerateRequest, Model, PublishOptions, Refused, generate
from cinegen.media import read_video, write_image, write_video
from cinegen.mode import Mode
from cinegen.pipeline import CinegenPipeline, ScheduleEntry
from cinegen.trust.publish import TrustSettings, verify_video

PROMPT, SEED = "a red ball moving right", 5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cinegen.models.text import TextEncoder
    from cinegen.models.transformer import DIT_PRESETS, build_transformer
    from cinegen.models.vae import VAE_PRESETS, VideoVAE
    from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts

    torch.manual_seed(0)
    transformer: Any = build_transformer(DIT_PRESETS["tiny"]).eval()
    path = tmp_path_factory.mktemp("model") / "tiny"
    CinegenPipeline(BuiltinVAE(VideoVAE(VAE_PRESETS["tiny"]).eval()), transformer,
                    MiniLMPrompts(TextEncoder()),
                    sizes=[(64, 64)], window_latents=6, default_steps=2,
                    info={"name": "tiny-test", "version": "0.1"}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    write_image(d / "still.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    write_video(d / "clip.mp4", rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8), 16)
    return {p.stem: p for p in d.iterdir()}


def _claims(path: Path) -> dict[str, Any]:
    report = verify_video(path)
    assert report.c2pa.present and report.c2pa.valid
    return dict(report.c2pa.claims)


def _comparable(claims: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the door: all but the job's own id (and the watermark payload made from it)."""
    out = {k: v for k, v in claims.items() if k not in ("job_id", "watermark", "title", "instance_id")}
    out["settings"] = {k: v for k, v in claims["settings"].items() if k != "shot"}
    return out


def test_the_same_manifest_through_every_door(model_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from cinegen.cli import main
    from cinegen.service.jobspec import JobSpec
    from cinegen.service.pipeline_backend import PipelineBackend
    from cinegen.studio.model_shots import ModelShots
    from cinegen.studio.storyboard import ShotRequest

    data = tmp_path / "data"
    monkeypatch.setenv("CINEGEN_HOME", str(data))
    monkeypatch.delenv("CINEGEN_DATA_DIR", raising=False)
    cli = tmp_path / "cli.mp4"
    backend = PipelineBackend(model_dir=str(model_dir), dtype="float32")
    job = JobSpec(id="video_door", prompt=PROMPT, seconds=1, size=(64, 64), fps=8, seed=SEED, publish="trust",
                  data_dir=data)
    # (the API counts whole seconds, so all three doors make one second)
    svc = backend.generate(job, tmp_path / "svc.mp4", lambda f: None, lambda: False).path
    assert main(["generate", PROMPT, "-o", str(cli), "--model", str(model_dir), "--size", "64x64",
                 "--seconds", "1",
                 "--fps", "8", "--seed", str(SEED), "--dtype", "float32"]) == 0
    studio = ModelShots(model_dir, dtype="float32")(ShotRequest(
        shot_id="s1", prompt=PROMPT, seconds=1.0, fps=8, width=64, height=64, seed=SEED, camera="static",
        out=tmp_path / "studio.mp4"))
    claims = {door: _claims(p) for door, p in (("cli", cli), ("service", svc), ("studio", studio))}
    assert _comparable(claims["cli"]) == _comparable(claims["service"]) == _comparable(claims["studio"])
    settings = claims["cli"]["settings"]
    assert settings["mode"] == claims["cli"]["mode"] == "text" and settings["seed"] == SEED
    assert claims["service"]["job_id"] == "video_door" and claims["studio"]["settings"]["shot"] == "s1"
    for path in (svc, studio):  # the same frames too, up to the watermark (its payload carries the job id)
        assert np.abs(read_video(path)[0].astype(int) - read_video(cli)[0].astype(int)).mean() < 8


@pytest.mark.parametrize(
    ("mode", "inputs"),
    [
        (Mode.TEXT, {}),
        (Mode.IMAGE, {"image": "still"}),
        (Mode.KEYFRAMES, {"keyframes": ((0.0, "still"), (0.5, "still"))}),
        (Mode.KEYFRAMES, {"sources": ("clip", "clip")}),
        (Mode.EXTEND, {"sources": ("clip",)}),
        (Mode.CONNECT, {"sources": ("clip", "clip")}),
        (Mode.LOOP, {}),
        (Mode.EDIT, {"sources": ("clip",), "strength": 0.5}),
        (Mode.REMIX, {"sources": ("clip",)}),
        (Mode.SCHEDULE, {"schedule": (ScheduleEntry(0.0, "a red ball"), ScheduleEntry(0.25, "a blue ball"))}),
        (Mode.STILL, {}),
    ],
    ids=["text", "image", "keyframes", "keyframes-from-videos", "extend", "connect", "loop", "edit", "remix",
         "schedule", "still"],
)
def test_the_manifest_records_each_mode_as_itself(
    model_dir: Path, media: dict[str, Path], tmp_path: Path, mode: Mode, inputs: dict[str, Any]
) -> None:
    resolved: dict[str, Any] = dict(inputs)
    if "image" in inputs:
        resolved["image"] = media[inputs["image"]]
    if "keyframes" in inputs:
        resolved["keyframes"] = tuple((t, media[p]) for t, p in inputs["keyframes"])
    if "sources" in inputs:
        resolved["sources"] = tuple(media[p] for p in inputs["sources"])
    request = GenerateRequest(PROMPT, mode=mode, seconds=0.5, fps=8, width=64, height=64, seed=SEED,
                              **resolved)
    out = tmp_path / "out.mp4"
    done = generate(Model(model_dir, dtype="float32"), request, out,
                    publish=PublishOptions(trust=TrustSettings(data_dir=tmp_path / "trust")))
    claims = _claims(out)
    assert claims["mode"] == claims["settings"]["mode"] == done.settings["mode"] == mode.value
    assert len(done.frames) == (1 if mode is Mode.STILL else 4)
    assert [Path(p).name for p in claims.get("ingredients", [])] == [p.name for p in request.ingredients]
    # every stage timed: the laps of `generate` add up to its total; the pipeline's stages sit inside its lap
    t = done.timings
    laps = ("moderation", "inputs", "model_load", "pipeline", "publish")
    assert all(t[k] >= 0 for k in laps) and abs(sum(t[k] for k in laps) - t["total"]) < 1e-3
    assert t["denoise"] + t["text"] <= t["pipeline"]


@pytest.mark.parametrize(
    ("flags", "mode"),
    [({}, Mode.TEXT), ({"image": True}, Mode.IMAGE), ({"keyframes": True}, Mode.KEYFRAMES),
     ({"image": True, "keyframes": True}, Mode.IMAGE), ({"extend": True}, Mode.EXTEND),
     ({"connect": True}, Mode.CONNECT), ({"edit": True}, Mode.EDIT), ({"schedule": True}, Mode.SCHEDULE),
     ({"loop": True}, Mode.LOOP), ({"still": True}, Mode.STILL),
     ({"still": True, "image": True}, Mode.STILL)],
)
def test_the_cli_decides_the_mode_once_from_its_flags(flags: dict[str, bool], mode: Mode) -> None:
    assert Mode.from_flags(**flags) is mode


def test_two_exclusive_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="one mode, got extend, loop"):
        Mode.from_flags(extend=True, loop=True)


def test_refusal_before_any_model_load(tmp_path: Path) -> None:
    from cinegen.generate import LocalModerator

    model = Model(tmp_path / "no-model-here")
    # the packaged policy refuses this before the (missing) model is touched
    with pytest.raises(Refused) as e:
        generate(model, GenerateRequest("a naked child"), tmp_path / "x.mp4",
                 moderator=LocalModerator(tmp_path))
    assert e.value.code.startswith("safety.") and model._pipe is None
    with pytest.raises(GenerateError, match="model_index.json") as missing:
        generate(model, GenerateRequest("a red ball"), tmp_path / "x.mp4")
    assert missing.value.code == "model_unavailable" and not (tmp_path / "x.mp4").exists()


def test_a_local_moderator_loads_its_policy_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the studio keeps one moderator: its policy (with its sentence encoder) must not reload per shot
    from cinegen.generate import LocalModerator
    from cinegen.trust import moderation

    loads: list[int] = []
    real = moderation.load_policy
    monkeypatch.setattr(moderation, "load_policy", lambda *a, **k: loads.append(1) or real(*a, **k))
    mod = LocalModerator(tmp_path)
    first, second = mod(GenerateRequest("a naked child")), mod(GenerateRequest("a red ball"))
    assert not first.allowed and second.allowed and loads == [1]


def test_missing_inputs_name_their_code(model_dir: Path, tmp_path: Path) -> None:
    model = Model(model_dir, dtype="float32")
    for request, code in [
        (GenerateRequest(PROMPT, mode=Mode.EXTEND), "missing_source_video"),
        (GenerateRequest(PROMPT, mode=Mode.IMAGE), "missing_input_reference"),
        (GenerateRequest(PROMPT, mode=Mode.IMAGE, image=tmp_path / "nope.png"), "input_unavailable"),
        (GenerateRequest(PROMPT, width=128, height=128), "invalid_size"),
        (GenerateRequest(PROMPT, width=64, height=64, seconds=0), "invalid_request"),
    ]:
        with pytest.raises(GenerateError) as e:
            generate(model, request, tmp_path / "x.mp4")
        assert e.value.code == code


def test_job_spec_round_trips_and_reads_older_rows(tmp_path: Path) -> None:
    from cinegen.service.jobspec import SPEC_VERSION, JobSpec

    spec = JobSpec(id="video_1", prompt="p", mode=Mode.REMIX, size=(176, 96), source_video_ids=("video_0",),
                   source_videos=(tmp_path / "a.mp4",), input_reference=tmp_path / "r.png", strength=0.4,
                   data_dir=tmp_path, publish="trust", attempt=2)
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    old_row = {"prompt": "p", "negative_prompt": None, "seconds": 4, "size": "128x128", "fps": 16, "seed": 1,
               "steps": None, "guidance": None, "mode": "edit", "strength": 0.6, "source_video_ids": ["v"],
               "input_reference": None}
    old = JobSpec.from_dict(old_row)
    assert old.mode is Mode.EDIT and old.extend_prompt is True and old.negative_prompt == ""
    assert old.size == (128, 128) and old.version == SPEC_VERSION
    with pytest.raises(ValueError, match="unknown job spec"):
        JobSpec.from_dict({**spec.to_dict(), "colour": "red"})
    request = spec.request()
    assert request.mode is Mode.REMIX and request.sources == spec.source_videos and request.include_source
