"""World positions (models/world_rope.py): token positions that follow the plan's camera."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.models.traced import TracedVelocity, trace_velocity
from cinegen.models.transformer import DIT_PRESETS, add_layout_channels, build_transformer, load_transformer
from cinegen.models.velocity import VelocityModel
from cinegen.models.world_rope import POSITION_CHANNELS, WorldRope, decode_positions, install, token_positions
from cinegen.planning.planner import plan_prompt
from cinegen.planning.raster import LAYOUT_CHANNELS, PLAN_CHANNELS, TIMING_CHANNELS, latent_layout
from cinegen.training import dit as dit_train
from cinegen.training.dit import DiTTrainConfig

POSITIONS_END = LAYOUT_CHANNELS + POSITION_CHANNELS  # what a world-positions model without timing reads


def _transformer(world: bool) -> Any:
    torch.manual_seed(0)
    cfg = dataclasses.replace(DIT_PRESETS["tiny"], layout_channels=LAYOUT_CHANNELS, world_positions=world)
    t: Any = build_transformer(cfg).eval()
    with torch.no_grad():
        t.proj_out.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(1))
    return t


def _inputs(layout: torch.Tensor) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(2)
    b, _, n, h, w = layout.shape
    x, sigma = torch.randn(b, 4, n, h, w, generator=g), torch.rand(b, n, generator=g)
    return x, sigma, torch.randn(b, 3, 384, generator=g)


def _layout(prompt: str) -> torch.Tensor:  # (1, 22, 3, 8, 8) of a 64x64 plan
    plan = plan_prompt(prompt, seconds=2.0, seed=0, width=64, height=64)
    assert plan is not None
    return latent_layout(plan, 0, 9, 64, 64)[None, :, ::4]


def test_token_positions_are_the_grid_until_the_view_changes() -> None:
    zero = torch.zeros(1, 2, dtype=torch.float64)
    rows, cols = token_positions(zero, zero, 4, 6)
    assert torch.equal(rows[0, 0], torch.arange(4.0, dtype=torch.float64))
    assert torch.equal(cols[0, 1], torch.arange(6.0, dtype=torch.float64))
    pan = torch.tensor([[0.0, 0.25]], dtype=torch.float64)  # a quarter frame height to the right
    _, cols = token_positions(pan, zero, 4, 6)
    assert torch.allclose(cols[0, 1] - cols[0, 0], torch.full((6,), 1.0, dtype=torch.float64))  # 0.25 x 4
    scale = torch.tensor([[0.0, 0.5]], dtype=torch.float64)  # a zoom out: the view shows 1.5x the world
    rows, cols = token_positions(zero, scale, 4, 6)
    assert torch.allclose(cols[0, 1], (torch.arange(6.0, dtype=torch.float64) - 2.5) * 1.5 + 2.5)
    assert torch.allclose(rows[0, 1].mean(), torch.tensor(1.5, dtype=torch.float64))  # about the centre


def test_a_still_camera_gives_exactly_the_screen_positions() -> None:
    layout = _layout("a red ball moving right")
    plain, world = VelocityModel(_transformer(False)), VelocityModel(_transformer(True))
    assert (plain.layout_channels, world.layout_channels) == (LAYOUT_CHANNELS, POSITIONS_END)
    assert isinstance(world.transformer.rope, WorldRope) and world.world_positions
    x, s, text = _inputs(layout)
    with torch.no_grad():
        assert torch.equal(plain(x, s, text, layout), world(x, s, text, layout))
        assert torch.equal(plain(x, s, text), world(x, s, text))  # no plan: zeros, no view change
        rope = world.transformer.rope
        base = rope.base(x)
        rope.positions = decode_positions(layout[:, LAYOUT_CHANNELS:POSITIONS_END])
        assert all(torch.equal(a.expand_as(b), b) for a, b in zip(base, rope(x), strict=True))
        rope.positions = None


def test_a_pan_moves_the_positions_and_so_the_output_and_the_trace_follows() -> None:
    still, pan = _layout("a red ball moving right"), _layout("a red ball moving right, camera pans right")
    pan_s, _ = decode_positions(pan[:, LAYOUT_CHANNELS:POSITIONS_END])
    assert float(pan_s[0, 0]) == 0.0 and float(pan_s[0, -1]) > 0.05
    world = VelocityModel(_transformer(True)).eval()
    x, s, text = _inputs(still)
    layout = still.clone()
    layout[:, LAYOUT_CHANNELS:POSITIONS_END] = pan[:, LAYOUT_CHANNELS:POSITIONS_END]  # the camera's move only
    with torch.no_grad():
        a, b = world(x, s, text, still), world(x, s, text, layout)
        assert not torch.allclose(a, b)
        assert world.transformer.rope.positions is None  # set for one call only
        traced = TracedVelocity(trace_velocity(world, torch.float32), POSITIONS_END, (1, 2, 2))
        torch.testing.assert_close(traced(x, s, text, layout), b, atol=1e-5, rtol=1e-5)
        older = VelocityModel(_transformer(False))  # a model without world positions takes the first 14
        assert torch.equal(older(x, s, text, layout), older(x, s, text, still))


def test_world_positions_survive_saving_loading_and_new_layout_channels(tmp_path: Path) -> None:
    t = _transformer(True)
    t.save_pretrained(tmp_path)
    assert not isinstance(load_transformer(tmp_path).rope, WorldRope)  # no record: screen positions
    cfg = dataclasses.asdict(dataclasses.replace(DIT_PRESETS["tiny"], layout_channels=LAYOUT_CHANNELS,
                                                 world_positions=True))
    (tmp_path / "cinegen.json").write_text(json.dumps({"dit": cfg}))
    loaded = load_transformer(tmp_path)
    assert isinstance(loaded.rope, WorldRope) and VelocityModel(loaded).layout_channels == POSITIONS_END
    assert isinstance(add_layout_channels(loaded, 2).rope, WorldRope)
    assert install(loaded) is loaded and not isinstance(loaded.rope.base, WorldRope)  # idempotent
    with pytest.raises(ValueError, match="layout_channels"):
        build_transformer(dataclasses.replace(DIT_PRESETS["tiny"], world_positions=True))


def test_sub_frame_timing_enters_after_the_position_block_and_starts_as_a_no_op() -> None:
    fall = _layout("a red ball falling, camera pans right")
    assert fall.shape[1] == PLAN_CHANNELS
    world = VelocityModel(_transformer(True)).eval()
    timed = VelocityModel(add_layout_channels(world.transformer, TIMING_CHANNELS)).eval()
    assert timed.world_positions and timed.layout_channels == PLAN_CHANNELS
    x, s, text = _inputs(fall)
    with torch.no_grad():
        assert torch.equal(timed(x, s, text, fall), world(x, s, text, fall))  # zero-initialised inputs
        w = timed.transformer.patch_embedding.weight  # (D, C + 18, pt, ph, pw): the last 4 are timing
        w[:, -TIMING_CHANNELS:].normal_(0.0, 0.5, generator=torch.Generator().manual_seed(3))
        moved = fall.clone()
        moved[:, POSITIONS_END:] = moved[:, POSITIONS_END:].flip(1)  # the same mean, frames reversed
        assert not torch.allclose(timed(x, s, text, fall), timed(x, s, text, moved))
        no_view = fall.clone()
        no_view[:, LAYOUT_CHANNELS:POSITIONS_END] = 0  # the view's change still goes to the positions
        assert not torch.allclose(timed(x, s, text, fall), timed(x, s, text, no_view))
        traced = TracedVelocity(trace_velocity(timed, torch.float32), PLAN_CHANNELS, (1, 2, 2))
        torch.testing.assert_close(traced(x, s, text, fall), timed(x, s, text, fall), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="world_positions"):
        dit_train.main(DiTTrainConfig(sub_frames=True, world_positions=False))


def test_a_tiny_training_run_with_world_positions_samples(tmp_path: Path) -> None:
    from cinegen.models.text import TextEncoder
    from cinegen.models.vae import VAE_PRESETS, VideoVAE
    from cinegen.pipeline import CinegenPipeline
    from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
    from cinegen.planning.planner import PLANNERS

    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"]).eval()
    vae.save_pretrained(tmp_path / "vae")
    cfg = DiTTrainConfig(
        out=str(tmp_path / "dit"), vae=str(tmp_path / "vae"), preset="tiny", steps=2, tokens_per_batch=256,
        max_batch=4, warmup=1, frames=(9,), frame_weights=(1.0,), aspect_weights=(1.0,), sizes=("64x64",),
        bank_size=4, fill_seconds=0.0, refresh_per_step=1, workers=0, bf16=False, log_every=1, ckpt_every=100,
        world_positions=True, sub_frames=True, plan_dropout=0.0,
    )
    out = dit_train.main(cfg)
    assert json.loads((out / "cinegen.json").read_text())["dit"]["world_positions"] is True
    transformer = load_transformer(out)
    assert isinstance(transformer.rope, WorldRope)
    assert VelocityModel(transformer).layout_channels == PLAN_CHANNELS  # with the sub-frame timing
    pipe = CinegenPipeline(BuiltinVAE(VideoVAE.from_pretrained(tmp_path / "vae")), transformer,
                           MiniLMPrompts(TextEncoder()), sizes=[(64, 64)], window_latents=3, default_steps=2,
                           planner=PLANNERS["backlot"])
    a = pipe("a red ball, camera pans right", seconds=0.5, seed=0, width=64, height=64)
    b = pipe("a red ball, camera pans right", seconds=0.5, seed=0, width=64, height=64)
    assert a.frames.shape == (8, 64, 64, 3) and np.array_equal(a.frames, b.frames)
    with pytest.raises(ValueError, match="world_positions"):
        dit_train.main(dataclasses.replace(cfg, plan=False, out=str(tmp_path / "no-plan")))


def test_the_onnx_runtime_runs_world_positions(tmp_path: Path) -> None:
    from cinegen.pipeline.runtimes import OnnxVelocity

    pan = _layout("a red ball moving right, camera pans right")
    world = VelocityModel(_transformer(True)).eval()
    x, s, text = _inputs(pan)
    with torch.no_grad():
        want = world(x, s, text, pan)
    got = OnnxVelocity(world, tmp_path)(x, s, text, pan)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
