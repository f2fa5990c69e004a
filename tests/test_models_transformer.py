"""The Wan-class DiT on its tiny preset: shapes, per-frame timesteps, zero init, persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from cinegen.models.transformer import (
    DIT_PRESETS,
    DiTConfig,
    VelocityModel,
    build_transformer,
    load_transformer,
)

SHAPE = (1, 4, 3, 4, 6)  # (B, C, N, h, w) latents


def _randomise(model: Any, seed: int = 0) -> None:
    """Give the zero-initialised output layer weights, so the output depends on the input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.fixture(scope="module")
def model() -> VelocityModel:
    torch.manual_seed(0)
    t = build_transformer(DIT_PRESETS["tiny"])
    _randomise(t)
    return VelocityModel(t).eval()


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g)
    sigma = torch.full((1, 3), 0.5)
    text = torch.randn((1, 7, 384), generator=g)
    return x, sigma, text


def test_forward_shape(model: VelocityModel) -> None:
    x, sigma, text = _inputs()
    with torch.no_grad():
        v = model(x, sigma, text)
    assert v.shape == x.shape and torch.isfinite(v).all()


def test_batch_of_two(model: VelocityModel) -> None:
    x, sigma, text = _inputs()
    with torch.no_grad():
        one = model(x, sigma, text)
        two = model(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([text, text]))
    torch.testing.assert_close(two[:1], one, atol=1e-5, rtol=0)
    torch.testing.assert_close(two[1:], one, atol=1e-5, rtol=0)


def test_per_frame_sigma_matters(model: VelocityModel) -> None:
    x, sigma, text = _inputs()
    other = sigma.clone()
    other[0, 1] = 0.0  # frame 1 becomes clean conditioning
    with torch.no_grad():
        a = model(x, sigma, text)
        b = model(x, other, text)
    assert not torch.allclose(a[:, :, 1], b[:, :, 1], atol=1e-4)


def test_text_matters(model: VelocityModel) -> None:
    x, sigma, text = _inputs()
    with torch.no_grad():
        assert not torch.allclose(model(x, sigma, text), model(x, sigma, torch.zeros_like(text)), atol=1e-4)


def test_zero_init_gives_zero_velocity() -> None:
    torch.manual_seed(0)
    m = VelocityModel(build_transformer(DIT_PRESETS["tiny"])).eval()
    x, sigma, text = _inputs()
    with torch.no_grad():
        assert torch.count_nonzero(m(x, sigma, text)) == 0


def test_bad_shapes_raise(model: VelocityModel) -> None:
    x, sigma, text = _inputs()
    with pytest.raises(ValueError, match="patch size"):
        model(x[..., :5], sigma, text)
    with pytest.raises(ValueError, match="sigma"):
        model(x, sigma[:, :2], text)


def test_config_from_dict() -> None:
    assert DiTConfig.from_dict({"in_channels": 4, "patch_size": [1, 2, 2]}) == DiTConfig(in_channels=4)
    with pytest.raises(ValueError, match="unknown DiT config keys"):
        DiTConfig.from_dict({"depth": 3})


def test_save_sharded_load_round_trip(model: VelocityModel, tmp_path: Path) -> None:
    transformer: Any = model.transformer
    transformer.save_pretrained(tmp_path, max_shard_size="20KB", safe_serialization=True)
    assert (tmp_path / "diffusion_pytorch_model.safetensors.index.json").exists()
    loaded = VelocityModel(load_transformer(tmp_path))
    x, sigma, text = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x, sigma, text), model(x, sigma, text))


def test_unsharded_round_trip(model: VelocityModel, tmp_path: Path) -> None:
    transformer: Any = model.transformer
    transformer.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = VelocityModel(load_transformer(tmp_path))
    x, sigma, text = _inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x, sigma, text), model(x, sigma, text))


def test_missing_transformer_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_transformer(tmp_path)


def test_mismatched_weights_raise(model: VelocityModel, tmp_path: Path) -> None:
    transformer: Any = model.transformer
    transformer.save_pretrained(tmp_path, safe_serialization=True)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["num_layers"] = 3
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not match"):
        load_transformer(tmp_path)
    cfg["num_layers"] = 2
    cfg["ffn_dim"] = 32
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises((ValueError, RuntimeError)):
        load_transformer(tmp_path)


def test_corrupt_or_missing_shard_raises(model: VelocityModel, tmp_path: Path) -> None:
    transformer: Any = model.transformer
    transformer.save_pretrained(tmp_path, max_shard_size="20KB", safe_serialization=True)
    shards = sorted(tmp_path.glob("*-of-*.safetensors"))
    shards[0].write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_transformer(tmp_path)
    shards[0].unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        load_transformer(tmp_path)


def test_uniform_per_token_sigma_equals_scalar_timestep(model: VelocityModel) -> None:
    x, sigma, text = _inputs()
    transformer: Any = model.transformer
    with torch.no_grad():
        ours = model(x, sigma, text)
        scalar = transformer(hidden_states=x, timestep=torch.tensor([500.0]), encoder_hidden_states=text,
                             return_dict=False)[0]
    torch.testing.assert_close(ours, scalar, atol=1e-5, rtol=1e-5)


def test_layout_channels_zero_init_and_shapes() -> None:
    """A text-only model given zero-initialised plan inputs computes exactly what it did, for any layout;
    layouts of the wrong shape, or for a model without plan inputs, are refused."""
    from cinegen.models.transformer import VelocityModel, add_layout_channels, layout_channels_of

    torch.manual_seed(0)
    base = build_transformer(DIT_PRESETS["tiny"]).eval()
    with torch.no_grad():
        base.proj_out.weight.normal_(0.0, 0.05)
    planned = add_layout_channels(base, 12).eval()
    assert layout_channels_of(base) == 0 and layout_channels_of(planned) == 12
    assert planned.config["in_channels"] == 16 and planned.config["out_channels"] == 4
    x, s, t = torch.randn(2, 4, 3, 8, 8), torch.rand(2, 3), torch.randn(2, 7, 384)
    layout = torch.rand(1, 12, 3, 8, 8)  # one layout for the batch
    with torch.no_grad():
        want = VelocityModel(base)(x, s, t)
        got = VelocityModel(planned)(x, s, t, layout)
        none = VelocityModel(planned)(x, s, t)
    assert got.shape == (2, 4, 3, 8, 8)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(none, want, atol=1e-5)
    with pytest.raises(ValueError, match="layout must be"):
        VelocityModel(planned)(x, s, t, torch.rand(1, 11, 3, 8, 8))
    with pytest.raises(ValueError, match="takes no plan"):
        VelocityModel(base)(x, s, t, layout)
    # channels added later (the camera's) start at zero too; the older model's layout is the first 12
    grown = add_layout_channels(planned, 2).eval()
    assert layout_channels_of(grown) == 14 and grown.config["out_channels"] == 4
    newer = torch.cat([layout, torch.rand(1, 2, 3, 8, 8)], dim=1)  # (1, 14, N, h, w)
    with torch.no_grad():
        assert torch.allclose(VelocityModel(grown)(x, s, t, newer), want, atol=1e-5)
        assert torch.equal(VelocityModel(planned)(x, s, t, newer), got)  # takes the first 12
    with pytest.raises(ValueError, match="must be >= 1"):
        add_layout_channels(planned, 0)
