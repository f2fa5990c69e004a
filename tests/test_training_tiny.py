"""Training on tiny presets: VAE then DiT end to end, sampling from the result, resume, the licence
gate and the data ledger, the conditioning-mask curriculum, the LR schedule and flag parsing."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from cinegen.models.text import TextEncoder
from cinegen.models.transformer import load_transformer
from cinegen.models.vae import VideoVAE
from cinegen.pipeline import CinegenPipeline
from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
from cinegen.planning.planner import PLANNERS
from cinegen.planning.raster import LAYOUT_CHANNELS, OBJECT_CHANNELS
from cinegen.training import data as training_data
from cinegen.training import dit as dit_train
from cinegen.training import vae as vae_train
from cinegen.training.dit import (
    DiTTrainConfig,
    camera_motion_error,
    object_weighted_error,
     random_condition_mask,
    training_sigmas,
)
from cinegen.training.schedule import config_from_argv, cosine_lr
from cinegen.training.vae import VAETrainConfig
from cinegen.trust.licences import BACKLOT_LICENCE, LicenceError, TrainingDataLedger


def _dit_cfg(out: Path, vae: Path, **kw: object) -> DiTTrainConfig:
    base = DiTTrainConfig(
        out=str(out), vae=str(vae), preset="tiny", steps=3, tokens_per_batch=256, max_batch=4, warmup=1, frames=(1, 9),
        frame_weights=(0.5, 0.5), aspect_weights=(1.0,), sizes=("64x64",), bank_size=8, fill_seconds=0.0, refresh_per_step=1,
        workers=0, bf16=False, log_every=1, ckpt_every=100,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train")
    vae_dir = vae_train.main(
        VAETrainConfig(
            out=str(root / "vae"), preset="tiny", steps=3, batch=2, warmup=1, frames=(1, 9), size=(64, 64), workers=0,
            bf16=False, log_every=1, ckpt_every=100, stats_batches=1,
        )
    )
    dit_dir = dit_train.main(_dit_cfg(root / "dit", vae_dir, snapshot_every=2, object_weight=2.0))
    return {"root": root, "vae": vae_dir, "dit": dit_dir}


# ----------------------------------------------------------------------------- end to end
def test_vae_training_writes_a_loadable_vae_with_latent_stats(trained: dict[str, Path]) -> None:
    vae = VideoVAE.from_pretrained(trained["vae"])
    assert vae.config.latent_channels == 4
    assert len(vae.config.latent_std) == 4 and all(s > 0 for s in vae.config.latent_std)
    history = json.loads((trained["root"] / "vae" / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3] and all(np.isfinite(h["loss"]) for h in history)
    assert torch.load(trained["root"] / "vae" / "checkpoint.pt", weights_only=False)["step"] == 3


def test_dit_training_writes_transformer_and_ledger(trained: dict[str, Path]) -> None:
    meta = json.loads((trained["dit"] / "cinegen.json").read_text())
    assert meta["steps"] == 3 and meta["dit"]["in_channels"] == 4
    ledger = TrainingDataLedger.from_dict(meta["training_data"])
    assert ledger.total_samples > 0
    assert set(ledger.declaration()["sources"]) == {"cinegen-backlot"}
    assert ledger.declaration()["all_sources_licensed_for_training"]
    ckpt = torch.load(trained["root"] / "dit" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 3 and TrainingDataLedger.from_dict(ckpt["ledger"]).total_samples == ledger.total_samples
    loaded = load_transformer(trained["dit"])
    assert loaded.config["in_channels"] == 4 + LAYOUT_CHANNELS and loaded.config["out_channels"] == 4  # plan inputs
    assert any(p.abs().sum() > 0 for p in loaded.proj_out.parameters())  # trained away from the zero init


def test_dit_snapshots_are_loadable_transformers_with_their_step(trained: dict[str, Path]) -> None:
    snaps = sorted((trained["root"] / "dit" / "snapshots").iterdir())
    assert [p.name for p in snaps] == ["step-000002"]  # every 2 steps in a 3-step run
    assert json.loads((snaps[0] / "cinegen.json").read_text())["steps"] == 2
    final = load_transformer(trained["dit"])
    snap = load_transformer(snaps[0])
    assert snap.config["in_channels"] == 4 + LAYOUT_CHANNELS
    differs = [not torch.equal(a, b) for a, b in zip(snap.parameters(), final.parameters(), strict=True)]
    assert any(differs)  # the EMA moved on after the snapshot


def test_sample_from_the_trained_models(trained: dict[str, Path], tmp_path: Path) -> None:
    vae = VideoVAE.from_pretrained(trained["vae"])
    pipe = CinegenPipeline(
        BuiltinVAE(vae), load_transformer(trained["dit"]), MiniLMPrompts(TextEncoder()), sizes=[(64, 64)], window_latents=3, default_steps=2
    )
    out = pipe("a red ball rolls to the left", seconds=0.5, seed=0, width=64, height=64)
    assert out.frames.shape == (8, 64, 64, 3)
    again = pipe("a red ball rolls to the left", seconds=0.5, seed=0, width=64, height=64)
    assert np.array_equal(out.frames, again.frames)
    pipe.save_pretrained(tmp_path)
    assert CinegenPipeline.from_pretrained(tmp_path)("a red ball", seconds=0.25, width=64, height=64).frames.shape == (4, 64, 64, 3)
    # with the backlot's planner the trained model renders a plan, and the plan changes the frames
    planned = CinegenPipeline(pipe.vae, pipe.transformer, pipe.encode_prompt, sizes=[(64, 64)], window_latents=3, default_steps=2,
                              planner=PLANNERS["backlot"])
    p = planned("a red ball moving left", seconds=0.5, seed=0, width=64, height=64)
    q = planned("a red ball moving left", seconds=0.5, seed=0, width=64, height=64, use_plan=False)
    assert p.settings["plan"] is not None and q.settings["plan"] is None
    assert not np.array_equal(p.frames, q.frames)


def test_plan_channels_start_at_zero_and_plan_dropout_keeps_them_unused(trained: dict[str, Path], tmp_path: Path) -> None:
    """From a text-only model the plan inputs start at zero (the same function); with every plan dropped
    they get no gradient and stay zero; with plans they are learned."""
    text_only = dit_train.main(_dit_cfg(tmp_path / "text", trained["vae"], plan=False, steps=1))
    assert load_transformer(text_only).config["in_channels"] == 4
    dropped = dit_train.main(_dit_cfg(tmp_path / "dropped", trained["vae"], init_from=str(text_only), plan_dropout=1.0, steps=2))
    used = dit_train.main(_dit_cfg(tmp_path / "used", trained["vae"], init_from=str(text_only), plan_dropout=0.0, steps=2))
    w_dropped = load_transformer(dropped).patch_embedding.weight[:, 4:]
    w_used = load_transformer(used).patch_embedding.weight[:, 4:]
    assert w_dropped.shape[1] == LAYOUT_CHANNELS and torch.count_nonzero(w_dropped) == 0
    assert torch.count_nonzero(w_used) > 0


def test_dit_resume_continues_the_step_count(trained: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "dit"
    dit_train.main(_dit_cfg(out, trained["vae"], steps=1))
    first = TrainingDataLedger.from_dict(torch.load(out / "checkpoint.pt", weights_only=False)["ledger"]).total_samples
    final = dit_train.main(_dit_cfg(out, trained["vae"], steps=2, resume=True))
    meta = json.loads((final / "cinegen.json").read_text())
    assert meta["steps"] == 2
    assert TrainingDataLedger.from_dict(meta["training_data"]).total_samples > first  # the ledger carries over
    assert [h["step"] for h in json.loads((out / "history.json").read_text())] == [1, 2]
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2


def test_vae_resume_continues_the_step_count(trained: dict[str, Path], tmp_path: Path) -> None:
    cfg = VAETrainConfig(
        out=str(tmp_path), preset="tiny", steps=1, batch=1, warmup=1, frames=(1,), size=(64, 64), bf16=False, log_every=1, stats_batches=1
    )
    vae_train.main(cfg)
    vae_train.main(dataclasses.replace(cfg, steps=2, resume=True))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 2


def test_vae_decoder_only_keeps_the_encoder_and_latent_space(trained: dict[str, Path], tmp_path: Path) -> None:
    cfg = VAETrainConfig(
        out=str(tmp_path), init_from=str(trained["vae"]), train_part="decoder", steps=2, batch=2, warmup=1, lr=1e-2,
        frames=(1, 9), size=(64, 64), bf16=False, log_every=1,
    )
    before, after = VideoVAE.from_pretrained(trained["vae"]), VideoVAE.from_pretrained(vae_train.main(cfg))
    assert after.config == before.config  # latent statistics unchanged: a transformer's latents stay valid
    b, a = before.state_dict(), after.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b if not k.startswith("dec"))
    assert any(not torch.equal(a[k], b[k]) for k in b if k.startswith("dec"))
    with pytest.raises(ValueError, match="init_from"):
        vae_train.main(dataclasses.replace(cfg, init_from=""))
    with pytest.raises(ValueError, match="train_part"):
        vae_train.main(dataclasses.replace(cfg, train_part="encoder"))


def test_vae_object_weight_spends_the_loss_on_objects(trained: dict[str, Path], tmp_path: Path) -> None:
    x = torch.zeros(1, 3, 2, 4, 4)
    recon = x.clone()
    recon[..., 0, 0] = 1.0  # an error on one pixel of each frame
    ones = torch.ones(1, 1, 2, 4, 4)
    plain, mse = vae_train.weighted_recon_loss(recon, x, None, 0.2)
    assert torch.allclose(vae_train.weighted_recon_loss(recon, x, ones, 0.2)[0], plain)  # weight 0 = uniform
    on = ones.clone()
    on[..., 0, 0] = 9.0  # the erring pixel is an object's
    off = ones.clone()
    off[..., 3, 3] = 9.0  # an object elsewhere
    assert vae_train.weighted_recon_loss(recon, x, on, 0.2)[0] > plain > vae_train.weighted_recon_loss(recon, x, off, 0.2)[0]
    assert torch.equal(vae_train.weighted_recon_loss(recon, x, on, 0.2)[1], mse)  # the logged mse stays plain
    cfg = VAETrainConfig(
        out=str(tmp_path), init_from=str(trained["vae"]), train_part="decoder", steps=2, batch=2, warmup=1,
        frames=(1, 9), size=(64, 64), bf16=False, log_every=1, object_weight=8.0, temporal_weight=0.5,
        level_weight=100.0, path_share=0.5,
    )
    before, after = VideoVAE.from_pretrained(trained["vae"]), VideoVAE.from_pretrained(vae_train.main(cfg))
    b, a = before.state_dict(), after.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in b if k.startswith("dec"))
    with pytest.raises(ValueError, match="object_weight"):
        vae_train.main(dataclasses.replace(cfg, object_weight=-1.0))


def test_drawn_path_clips_put_the_first_object_where_their_plan_and_weights_say() -> None:
    from cinegen.planning.planner import locate, plan_from_scene

    bucket = training_data.Bucket(17, 64, 64)
    plain = training_data.render_clip((0, bucket, False, True, 0.0))
    assert plain.tracks is None
    clips = [training_data.render_clip((s, bucket, False, True, 1.0)) for s in range(6)]
    for c in clips:
        assert c.tracks is not None and c.scene.camera == "static" and len(c.tracks) == len(c.scene.objects)
        boxes = plan_from_scene(c.scene, tracks=c.tracks).objects[0].boxes
        start, end = boxes[0], boxes[-1]
        assert all(0.1 <= v <= 0.9 for b in (start, end) for v in (b.cx, b.cy))  # on a drawn path
        o = c.scene.objects[0]
        if len(c.scene.objects) == 1 and not c.scene.occluder:  # nothing in front of it
            seen = locate(c.frames[-1], o.color)  # its pixels' mean: a triangle's sits below its box's centre
            assert seen is not None and abs(seen.cx - end.cx) < 0.08 and abs(seen.cy - end.cy) < 0.08
        w = vae_train.object_weights([c.scene], 17, 8.0, [c.tracks])  # (1, 1, T, H, W)
        y, x = min(int(end.cy * 64), 63), min(int(end.cx * 64), 63)
        assert w[0, 0, -1, y, x] == 9.0  # the loss weight follows the path, not the world's motion
    speeds = [np.hypot(np.diff(c.tracks[0].x), np.diff(c.tracks[0].y)).mean() * 16 for c in clips if c.tracks]
    assert max(speeds) > 0.3  # frame heights per second: faster than any motion of the world (0.18)
    with pytest.raises(ValueError, match="path_share"):
        training_data.ClipSource([bucket], [1.0], seed=0, workers=0, with_captions=False, path_share=1.5)
    with pytest.raises(ValueError, match="path_share"):
        vae_train.main(VAETrainConfig(out="unused", steps=1, path_share=-0.1))


def test_vae_temporal_terms_see_jitter_not_a_steady_error() -> None:
    x = torch.rand(2, 3, 5, 8, 8) * 2 - 1
    steady = x + 0.1  # the same error in every frame
    assert vae_train.temporal_change_loss(steady, x, None).item() < 1e-10
    assert vae_train.level_change_loss(steady, x, None).item() < 1e-10
    bright = x.clone()
    bright[:, :, 1::2] += 0.01  # every other frame a little brighter: flicker
    w = torch.ones(2, 1, 5, 8, 8)
    w[..., :2, :2] = 9.0  # an object in a corner
    for fn in (vae_train.temporal_change_loss, vae_train.level_change_loss):
        assert fn(bright, x, None).item() > 1e-5 and fn(bright, x, w).item() > 1e-5
    assert abs(vae_train.level_change_loss(bright, x, w).item() - 1e-4) < 1e-6  # (0.01 luma per step)^2
    moved = x.clone()
    moved[:, :, 2, :2, :2] += 0.5  # one frame's object redrawn differently
    assert vae_train.level_change_loss(moved, x, w).item() < 1e-10  # the background level is unmoved
    assert vae_train.temporal_change_loss(moved, x, w).item() > vae_train.temporal_change_loss(moved, x, None).item()
    cfg = VAETrainConfig(out="unused", steps=1, temporal_weight=-1.0)
    with pytest.raises(ValueError, match="temporal_weight"):
        vae_train.main(cfg)
    with pytest.raises(ValueError, match="level_weight"):
        vae_train.main(dataclasses.replace(cfg, temporal_weight=0.0, level_weight=-1.0))


def test_dit_rejects_bad_sizes(trained: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sizes"):
        dit_train.main(_dit_cfg(tmp_path, trained["vae"], sizes=("60x60",)))
    with pytest.raises(ValueError):  # one size per aspect weight
        dit_train.main(_dit_cfg(tmp_path, trained["vae"], sizes=("64x64", "80x48")))


def test_dit_rejects_bad_object_weight(trained: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="object_weight"):
        dit_train.main(_dit_cfg(tmp_path, trained["vae"], object_weight=-1.0))
    with pytest.raises(ValueError, match="object_weight"):  # the weight reads the layout
        dit_train.main(_dit_cfg(tmp_path, trained["vae"], object_weight=2.0, plan=False))


def test_object_weighted_error_is_uniform_at_zero_and_leans_on_objects() -> None:
    diff = torch.zeros(2, 4, 3, 4, 4)  # (B, C, N, h, w)
    diff[:, :, :, 0, 0] = 1.0  # the error sits where the object is
    layout = torch.zeros(2, LAYOUT_CHANNELS, 3, 4, 4, dtype=torch.uint8)
    layout[:, 0, :, 0, 0] = 255
    uniform = object_weighted_error(diff, layout, 0.0)
    assert uniform.shape == (2, 3) and torch.allclose(uniform, diff.pow(2).mean(dim=(1, 3, 4)))
    assert torch.allclose(object_weighted_error(diff, None, 4.0), uniform)
    weighted = object_weighted_error(diff, layout, 4.0)
    assert torch.allclose(weighted, torch.full((2, 3), 5.0 / 20.0))  # weight 5 on 1 of 16 pixels: 5 / (15 + 5)
    layout[:, 0] = 255  # everything covered: the weight cancels
    assert torch.allclose(object_weighted_error(diff, layout, 4.0), uniform)


def test_camera_weight_leans_on_the_background_only_where_the_camera_moves() -> None:
    diff = torch.zeros(2, 4, 3, 4, 4)  # (B, C, N, h, w)
    diff[:, :, :, 3, 3] = 1.0  # the error sits on the background
    layout = torch.zeros(2, LAYOUT_CHANNELS, 3, 4, 4, dtype=torch.uint8)
    layout[:, 0, :, 0, 0] = 255  # one object pixel
    layout[:, OBJECT_CHANNELS:] = 128  # still stripes in both clips...
    layout[1, OBJECT_CHANNELS, 2] = 200  # ...until clip 1's camera moves in its last latent frame
    plain = object_weighted_error(diff, layout, 4.0)
    assert torch.allclose(object_weighted_error(diff, layout, 4.0, 0.0), plain)
    moved = object_weighted_error(diff, layout, 4.0, 2.0)
    assert torch.allclose(moved[0], plain[0])  # a still camera: unchanged
    assert torch.allclose(plain[1], torch.full((3,), 1.0 / 20.0))  # 1 / (15 + 5)
    assert torch.allclose(moved[1], torch.full((3,), 3.0 / 50.0))  # background 3: 3 / (15 * 3 + 5)


def test_camera_motion_error_sees_only_change_on_a_moving_background() -> None:
    layout = torch.zeros(2, LAYOUT_CHANNELS, 3, 4, 4, dtype=torch.uint8)
    layout[:, 0, :, 0, 0] = 255  # one object pixel
    layout[:, OBJECT_CHANNELS:] = 128
    layout[1, OBJECT_CHANNELS, 2] = 200  # clip 1's camera moves
    sigma = torch.full((2, 3), 0.5)
    steady = torch.ones(2, 4, 3, 4, 4)  # the same error in every frame: nothing moves wrongly
    assert torch.equal(camera_motion_error(steady, layout, sigma), torch.zeros(2, 2))
    changing = torch.zeros(2, 4, 3, 4, 4)
    changing[:, :, 2, 3, 3] = 1.0  # the background goes wrong in the last frame only
    changing[:, :, 2, 0, 0] = 5.0  # and the object too, which this term ignores
    got = camera_motion_error(changing, layout, sigma)
    assert torch.equal(got[0], torch.zeros(2))  # a still camera: no term
    assert torch.allclose(got[1], torch.tensor([0.0, 0.25 / 15.0]))  # (0.5 x 1)^2 over 15 background pixels
    assert torch.equal(camera_motion_error(changing, layout[:, :OBJECT_CHANNELS], sigma), torch.zeros(2, 2))
    assert torch.equal(camera_motion_error(changing, None, sigma), torch.zeros(2, 2))


# ----------------------------------------------------------------------------- licences
def test_licence_gate_refuses_clips_without_a_grant(trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_grant = dataclasses.replace(BACKLOT_LICENCE, source="scraped-web", training_allowed=False)
    monkeypatch.setattr(training_data, "BACKLOT_LICENCE", no_grant)
    source = training_data.ClipSource([training_data.Bucket(1, 64, 64)], [1.0], seed=0, workers=0, with_captions=False)
    with pytest.raises(LicenceError, match="no training grant"):
        source.get()
    with pytest.raises(LicenceError, match="no training grant"):
        dit_train.main(_dit_cfg(tmp_path, trained["vae"]))
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "pretrained").exists()
    with pytest.raises(LicenceError):
        vae_train.main(VAETrainConfig(out=str(tmp_path / "vae"), preset="tiny", steps=1, batch=1, frames=(1,), size=(64, 64), bf16=False))


# ----------------------------------------------------------------------------- conditioning masks
def _kind(m: torch.Tensor) -> str:
    bits = "".join("1" if v else "0" for v in m.tolist())
    return {"00000": "none", "10000": "first", "11000": "prefix2", "00001": "last", "00011": "suffix2", "10001": "both"}.get(bits, "keyframes")


def test_condition_mask_curriculum_frequencies() -> None:
    rng = random.Random(0)
    draws = 20000
    counts = Counter(_kind(random_condition_mask(5, rng)) for _ in range(draws))
    freq = {k: v / draws for k, v in counts.items()}
    # n = 5: prefix/suffix lengths are 1 or 2; a single keyframe lands on each frame with p = 1/5
    expected = {
        "none": 0.35,
        "first": 0.20 + 0.12 / 2 + 0.05 / 5,
        "prefix2": 0.12 / 2,
        "last": 0.08 + 0.08 / 2 + 0.05 / 5,
        "suffix2": 0.08 / 2,
        "both": 0.12,
        "keyframes": 0.05 * 3 / 5,
    }
    for k, p in expected.items():
        assert freq.get(k, 0.0) == pytest.approx(p, abs=0.015), k


def test_training_sigmas_are_shifted_towards_noise_like_the_sampler() -> None:
    plain = training_sigmas(20000, 1.0, torch.Generator().manual_seed(0))
    shifted = training_sigmas(20000, 2.2, torch.Generator().manual_seed(0))
    assert plain.min() >= 0 and shifted.max() <= 1
    assert abs(float(plain.median()) - 0.5) < 0.02  # logit-normal around 0.5
    assert float(shifted.median()) > 0.65  # shift 2.2 moves the median to about 0.69
    # the share of draws above 0.8 (where a clip's layout is decided) grows several-fold
    assert float((shifted > 0.8).float().mean()) > 2.5 * float((plain > 0.8).float().mean())
    # the uniform tenth still reaches low noise
    assert float((shifted < 0.1).float().mean()) > 0.01

    half = training_sigmas(20000, 2.2, torch.Generator().manual_seed(0), shift_share=0.5)
    low = [float((s < 0.4).float().mean()) for s in (plain, half, shifted)]
    assert low[0] > low[1] > low[2] and abs(low[1] - (low[0] + low[2]) / 2) < 0.02  # half of each
    assert torch.equal(training_sigmas(50, 2.2, torch.Generator().manual_seed(3), shift_share=1.0),
                       training_sigmas(50, 2.2, torch.Generator().manual_seed(3)))  # the default's stream
    with pytest.raises(ValueError, match="shift_share"):
        training_sigmas(4, 2.2, torch.Generator(), shift_share=1.5)


def test_condition_mask_shapes_and_single_frame() -> None:
    rng = random.Random(1)
    assert not random_condition_mask(1, rng).any()
    for n in (2, 3, 9, 17):
        for _ in range(200):
            m = random_condition_mask(n, rng)
            assert m.shape == (n,) and m.dtype == torch.bool
            assert m.sum() < n or n == 2  # never the whole clip, except both ends of a 2-frame clip


# ----------------------------------------------------------------------------- schedule and flags
def test_cosine_lr_warmup_and_floor() -> None:
    base = 1e-3
    assert cosine_lr(base, 0, 10, 100) == pytest.approx(base / 10)
    assert cosine_lr(base, 9, 10, 100) == pytest.approx(base)
    assert cosine_lr(base, 10, 10, 100) == pytest.approx(base)
    mid = cosine_lr(base, 55, 10, 100)
    assert mid == pytest.approx(base * (0.1 + 0.9 * 0.5))
    assert cosine_lr(base, 100, 10, 100) == pytest.approx(0.1 * base)
    assert cosine_lr(base, 500, 10, 100) == pytest.approx(0.1 * base)  # floor, never below
    lrs = [cosine_lr(base, s, 10, 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_cosine_lr_anneals_by_wall_time() -> None:
    base = 1e-3
    assert cosine_lr(base, 20, 10, 10_000, elapsed_s=60.0, max_minutes=1.0) == pytest.approx(0.1 * base)
    assert cosine_lr(base, 20, 10, 10_000, elapsed_s=30.0, max_minutes=1.0) == pytest.approx(base * 0.55, rel=1e-2)


def test_config_from_argv_parses_tuples_bools_and_numbers() -> None:
    cfg = config_from_argv(
        DiTTrainConfig,
        ["--frames", "1,9", "--frame-weights", "0.5,0.5", "--aspect-weights", "1,0,0", "--bf16", "false", "--resume", "yes",
         "--steps", "7", "--lr", "0.01", "--preset", "tiny", "--max-minutes", "1.5"],
    )
    assert cfg.frames == (1, 9) and cfg.frame_weights == (0.5, 0.5) and cfg.aspect_weights == (1.0, 0.0, 0.0)
    assert cfg.bf16 is False and cfg.resume is True
    assert cfg.steps == 7 and cfg.lr == 0.01 and cfg.preset == "tiny" and cfg.max_minutes == 1.5
    assert config_from_argv(DiTTrainConfig, ["--sizes", "64x64,80x48"]).sizes == ("64x64", "80x48")
    vcfg = config_from_argv(VAETrainConfig, ["--size", "64,64", "--frames", "1,9"])
    assert vcfg.size == (64, 64) and vcfg.frames == (1, 9)
    assert config_from_argv(VAETrainConfig, []) == VAETrainConfig()


@pytest.mark.parametrize(
    "argv",
    [["--bf16", "maybe"], ["--frames", "1,x"], ["--steps", "3.5"], ["--steps", "abc"], ["--lr", "fast"], ["--no-such-flag", "1"]],
)
def test_config_from_argv_rejects_bad_values(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        config_from_argv(DiTTrainConfig, argv)
