"""The causal video VAE on its tiny preset: shapes, causality, exact chunked decode, persistence."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from cinegen.models.vae import VAE_PRESETS, VAEConfig, VideoVAE, frames_to_tensor, tensor_to_frames

H, W = 16, 24


@pytest.fixture(scope="module")
def vae() -> VideoVAE:
    torch.manual_seed(0)
    return VideoVAE(VAE_PRESETS["tiny"]).eval()


def _video(frames: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, frames, H, W), generator=g) * 2 - 1  # (B, 3, T, H, W)


@pytest.mark.parametrize(("frames", "latents"), [(1, 1), (5, 2), (9, 3)])
def test_shapes(vae: VideoVAE, frames: int, latents: int) -> None:
    with torch.no_grad():
        z = vae.encode(_video(frames))
        assert z.shape == (1, 4, latents, H // 8, W // 8)
        assert vae.decode(z).shape == (1, 3, frames, H, W)
        recon, mean, logvar = vae(_video(frames), generator=torch.Generator().manual_seed(0))
    assert recon.shape == (1, 3, frames, H, W)
    assert mean.shape == logvar.shape == z.shape


def test_first_frame_is_encoded_on_its_own(vae: VideoVAE) -> None:
    video = _video(9)
    with torch.no_grad():
        alone = vae.encode(video[:, :, :1])
        full = vae.encode(video)
        five = vae.encode(video[:, :, :5])
    torch.testing.assert_close(alone[:, :, 0], full[:, :, 0], atol=1e-5, rtol=0)
    # causal: later frames change nothing before them
    torch.testing.assert_close(five, full[:, :, :2], atol=1e-5, rtol=0)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_chunked_decode_equals_full_decode(vae: VideoVAE, chunk: int) -> None:
    z = torch.randn((1, 4, 6, H // 8, W // 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = vae.decode(z)
        chunked = vae.decode(z, chunk=chunk)
        pieces = list(vae.iter_decode(z, chunk))
    assert full.shape == (1, 3, 21, H, W)
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=0)
    assert sum(p.shape[2] for p in pieces) == 21


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
@pytest.mark.parametrize("skip", [0, 1, 4, 5, 9, 20])
def test_decode_skip_equals_slicing_the_full_decode(vae: VideoVAE, chunk: int | None, skip: int) -> None:
    """Skipped frames never reach the 2D decoder, and the rest are a full decode's frames exactly,
    whether the skip ends inside a chunk, at its edge, or after whole chunks."""
    z = torch.randn((1, 4, 6, H // 8, W // 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = vae.decode(z, chunk=chunk)
        part = vae.decode(z, chunk=chunk, skip=skip)
    assert part.shape[2] == 21 - skip
    torch.testing.assert_close(part, full[:, :, skip:], atol=1e-5, rtol=0)
    calls: list[int] = []
    hook = vae.dec_out.register_forward_hook(lambda _m, _i, out: calls.append(int(out.shape[0])))
    with torch.no_grad():
        vae.decode(z, chunk=chunk, skip=skip)
    hook.remove()
    assert sum(calls) == 21 - skip  # the 2D decoder saw only the frames returned
    with pytest.raises(ValueError, match="skip"):
        vae.decode(z, skip=-1)


def test_iter_decode_rejects_bad_chunk(vae: VideoVAE) -> None:
    with pytest.raises(ValueError, match="chunk"):
        next(vae.iter_decode(torch.zeros(1, 4, 2, 2, 3), 0))


@pytest.mark.parametrize("frames", [0, 4, 8, 6])
def test_latent_frames_rejects_non_causal_lengths(frames: int) -> None:
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        VideoVAE.latent_frames(frames)


def test_latent_pixel_frame_round_trip() -> None:
    for k in range(5):
        assert VideoVAE.latent_frames(VideoVAE.pixel_frames(k + 1)) == k + 1


def test_encode_rejects_bad_shapes(vae: VideoVAE) -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        vae.encode(torch.zeros(1, 3, 1, 12, 16))
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        vae.encode(torch.zeros(1, 3, 4, 16, 16))


def test_latent_normalisation_round_trip() -> None:
    cfg = VAEConfig(latent_channels=4, channels=(0, 8, 16), temporal_channels=16,
                    latent_mean=(0.1, -0.2, 0.3, 0.0), latent_std=(2.0, 0.5, 1.0, 3.0))
    torch.manual_seed(0)
    a = VideoVAE(cfg).eval()
    b = VideoVAE(VAE_PRESETS["tiny"]).eval()
    b.load_state_dict(a.state_dict())
    v = _video(5)
    with torch.no_grad():
        raw = b.encode(v)
        norm = a.encode(v)
        std, mean = torch.tensor(cfg.latent_std).view(1, 4, 1, 1, 1), torch.tensor(cfg.latent_mean).view(1, 4,
                                                                                                         1, 1,
                                                                                                         1)
        torch.testing.assert_close(norm * std + mean, raw, atol=1e-5, rtol=0)
        torch.testing.assert_close(a.decode(norm), b.decode(raw), atol=1e-5, rtol=0)


def test_save_load_round_trip(vae: VideoVAE, tmp_path: Path) -> None:
    vae.save_pretrained(tmp_path, dtype=torch.float32)
    loaded = VideoVAE.from_pretrained(tmp_path)
    assert loaded.config == vae.config
    v = _video(5)
    with torch.no_grad():
        assert torch.equal(loaded.encode(v), vae.encode(v))
        z = vae.encode(v)
        assert torch.equal(loaded.decode(z), vae.decode(z))


def test_save_default_fp16_is_close(vae: VideoVAE, tmp_path: Path) -> None:
    vae.save_pretrained(tmp_path)  # shipped weights are fp16
    loaded = VideoVAE.from_pretrained(tmp_path)
    v = _video(5)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(v), vae.encode(v), atol=2e-2, rtol=0)


def test_missing_weights_raise(vae: VideoVAE, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="VideoVAE"):
        VideoVAE.from_pretrained(tmp_path)
    vae.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        VideoVAE.from_pretrained(tmp_path)


def test_corrupt_weights_raise(vae: VideoVAE, tmp_path: Path) -> None:
    vae.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="corrupt VAE weights"):
        VideoVAE.from_pretrained(tmp_path)


def test_weights_for_another_config_raise(vae: VideoVAE, tmp_path: Path) -> None:
    vae.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["latent_channels"] = 8
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises((RuntimeError, ValueError)):
        VideoVAE.from_pretrained(tmp_path)


def test_unknown_config_keys_raise(vae: VideoVAE, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown VAE config keys"):
        VAEConfig.from_dict({"latent_channels": 4, "depth": 3})
    vae.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["depth"] = 3
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="depth"):
        VideoVAE.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class": "Other"}))
    with pytest.raises(ValueError, match="not a VideoVAE"):
        VideoVAE.from_pretrained(tmp_path)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="channels"):
        VAEConfig(channels=(8, 16))
    with pytest.raises(ValueError, match="latent_mean"):
        VAEConfig(latent_channels=4, latent_mean=(0.0, 0.0))


def test_frames_tensor_round_trip() -> None:
    frames = torch.randint(0, 256, (5, H, W, 3), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)
    x = frames_to_tensor(frames)
    assert x.shape == (1, 3, 5, H, W) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(tensor_to_frames(x)[0], frames)


def test_deterministic_golden_slice() -> None:
    torch.manual_seed(0)
    a = VideoVAE(VAE_PRESETS["tiny"]).eval()
    torch.manual_seed(0)
    b = VideoVAE(VAE_PRESETS["tiny"]).eval()
    v = _video(5)
    with torch.no_grad():
        assert torch.equal(a.encode(v), b.encode(v))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_channels_last_decodes_the_same_frames(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"]).eval().to(dtype)
    z = torch.randn(1, vae.config.latent_channels, 5, 4, 4).to(dtype)
    with torch.no_grad():
        want = vae.decode(z, chunk=2).float()
        got = vae.channels_last().decode(z, chunk=2).float()
    assert any(m.weight.is_contiguous(memory_format=torch.channels_last) and not m.weight.is_contiguous()
               for m in vae.modules() if isinstance(m, torch.nn.Conv2d))
    levels = ((got - want).abs() * 127.5).max().item()  # 8-bit levels
    assert got.shape == want.shape and levels <= (0.01 if dtype == torch.float32 else 1.5)


def test_folded_upsampling_decodes_the_same_frames() -> None:
    """Upsample + 3x3 conv run as one transposed conv: in float32 the same frames up to float rounding,
    in either memory format; in bfloat16 as close to the float32 frames as the unfolded bfloat16 decode
    is (the folded taps are rounded to bfloat16 once); the checkpoint's keys and values unchanged."""
    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"]).eval()
    z = torch.randn(1, vae.config.latent_channels, 5, 4, 4)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    with torch.no_grad():
        want = vae.decode(z, chunk=2)
        plain_bf16 = copy.deepcopy(vae).to(torch.bfloat16).decode(z.bfloat16(), chunk=2).float()
        vae.fold_upsampling()
        assert not any(isinstance(m, torch.nn.Upsample) for m in vae.modules())
        got = vae.decode(z, chunk=2)
        got_cl = copy.deepcopy(vae).channels_last().decode(z, chunk=2)
        state = vae.state_dict()
        got_bf16 = vae.to(torch.bfloat16).decode(z.bfloat16(), chunk=2).float()
    assert state.keys() == before.keys() and all(torch.equal(state[k], before[k]) for k in before)

    def levels(a: torch.Tensor) -> torch.Tensor:  # 8-bit levels from the float32 frames
        return (a - want).abs() * 127.5

    for g in (got, got_cl):
        assert g.shape == want.shape and levels(g).max() <= 0.01
    assert levels(got_bf16).mean() <= 1.1 * levels(plain_bf16).mean()
    assert levels(got_bf16).max() <= levels(plain_bf16).max() + 1.0


def test_folded_upsampling_follows_weight_changes_and_trains() -> None:
    """The folded kernel is derived from the conv's weight: a changed weight changes the output, and a
    gradient reaches the 3x3 weight as through upsample-then-conv."""
    from cinegen.models.vae import NearestUpConv

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 4, 3, padding=1)
    up = NearestUpConv(conv)
    x = torch.randn(2, 6, 5, 7)
    ref = conv(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))
    got = up(x)
    assert got.shape == (2, 4, 10, 14) and torch.allclose(got, ref, atol=1e-5)
    g_ref = torch.autograd.grad(ref.square().sum(), conv.weight)[0]
    g_got = torch.autograd.grad(up(x).square().sum(), conv.weight)[0]
    assert torch.allclose(g_got, g_ref, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        first = up(x).clone()
        conv.weight.mul_(2.0)  # in place: the cached kernel is stale and must be re-derived
        assert torch.allclose(up(x) - conv.bias[:, None, None], 2 * (first - conv.bias[:, None, None]),
                              atol=1e-5)
    with pytest.raises(ValueError, match="3x3, padding-1"):
        NearestUpConv(torch.nn.Conv2d(6, 4, 5, padding=2))
