"""A light causal video VAE: 8x spatial and 4x temporal compression.

Why not diffusers' `AutoencoderKLWan`: it is several times slower to train and run on a 2-core
CPU at the widths we can afford (see docs/decisions.md). The pipeline accepts either; this one
keeps the same conventions (causal in time, 1 + 4k frames -> 1 + k latent frames, first frame
encoded on its own, per-channel latent normalisation).

Layout:
  encoder  = per-frame 2D conv pyramid (8x down)  ->  time-to-channel fold of 4 frames
             (frame 0 repeated 4x so latent 0 sees only frame 0)  ->  causal temporal convs
  decoder  = causal temporal convs  ->  channel-to-time unfold  ->  per-frame 2D conv pyramid (8x up)
Causal convs pad the past by replicating the first step, so a chunk decoded with `context`
preceding latent frames reproduces the full decode exactly (flat memory for minute-long clips).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from safetensors.torch import load_file, save_file
from torch import nn

from cinegen.config import config_from_dict

TIME_FOLD = 4  # frames per latent frame (after the first)
SPATIAL_DOWN = 8


@dataclass(frozen=True)
class VAEConfig:
    latent_channels: int = 16
    # widths at 1/2 (unused: space-to-depth), 1/2 and 1/4..1/8 resolution; 8x spatial compression
    channels: tuple[int, ...] = (0, 48, 96)
    temporal_channels: int = 192
    # per-channel normalisation of latents for diffusion (set after training from data statistics)
    latent_mean: tuple[float, ...] = ()
    latent_std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.channels) != 3:
            raise ValueError(f"channels must have 3 entries (level widths), got {self.channels}")
        if self.latent_mean and len(self.latent_mean) != self.latent_channels:
            raise ValueError("latent_mean length must equal latent_channels")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VAEConfig:
        return config_from_dict(cls, d, "VAE")


VAE_PRESETS: dict[str, VAEConfig] = {
    "tiny": VAEConfig(latent_channels=4, channels=(0, 8, 16), temporal_channels=16),
    "base": VAEConfig(),
}


# ----------------------------------------------------------------------------- blocks
class ResBlock2d(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, c), c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, c), c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class CausalConv3d(nn.Module):
    """Conv3d that sees only the current and past time steps (past padded by replication)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int]) -> None:
        super().__init__()
        kt, kh, kw = kernel
        self.pad_t = kt - 1
        self.conv = nn.Conv3d(cin, cout, kernel, padding=(0, kh // 2, kw // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, N, h, w)
        if self.pad_t:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.pad_t, -1, -1), x], dim=2)
        return self.conv(x)


class NearestUpConv(nn.Module):
    """`Conv2d(cin, cout, 3, padding=1)` of the nearest-2x upsampled input, run as one stride-2 transposed
    conv: each output pixel's 3x3 window over the upsampled image covers a 2x2 footprint of the input,
    so along each axis the taps (w0, w1, w2) fold into the 4 taps (w2, w1 + w2, w0 + w1, w0) of a
    4x4, stride-2, padding-1 transposed kernel. 16 multiply-adds per input pixel and channel pair
    instead of 36, and no upsampled tensor: the decoder's two upsampling convs run 2x faster on a
    CPU (docs/decisions.md); equal to upsample-then-conv up to float rounding. Keeps the conv's own
    `weight` (Cout, Cin, 3, 3) and `bias`, so checkpoints read and write as before."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or conv.groups != 1:
            raise ValueError(f"NearestUpConv folds a 3x3, padding-1, stride-1 conv, got {conv}")
        self.weight, self.bias = conv.weight, conv.bias
        self._kernel: tuple[tuple[int, int, torch.dtype, torch.device], torch.Tensor] | None = None

    def kernel(self) -> torch.Tensor:
        """The transposed conv's weight (Cin, Cout, 4, 4), in the weight's memory format; cached while the
        weight is unchanged and no gradient is wanted (training differentiates through the fold)."""
        w = self.weight
        key = (w.data_ptr(), w._version, w.dtype, w.device)
        if self._kernel is not None and self._kernel[0] == key and not torch.is_grad_enabled():
            return self._kernel[1]

        def taps(t: torch.Tensor, dim: int) -> torch.Tensor:
            a, b, c = t.unbind(dim)
            return torch.stack([c, b + c, a + b, a], dim)

        k = taps(taps(w.float(), 2), 3).transpose(0, 1).to(w.dtype)  # (Cin, Cout, 4, 4)
        if w.is_contiguous(memory_format=torch.channels_last):
            k = k.contiguous(memory_format=torch.channels_last)
        if not torch.is_grad_enabled():
            self._kernel = (key, k)
        return k

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, h, w) -> (B, Cout, 2h, 2w)
        return F.conv_transpose2d(x, self.kernel(), self.bias, stride=2, padding=1)


def _receptive_context(n_convs: int, kt: int = 3) -> int:
    return n_convs * (kt - 1)


# ----------------------------------------------------------------------------- model
class VideoVAE(nn.Module):
    latent_mean: torch.Tensor
    latent_std: torch.Tensor

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c2, c3 = config.channels[1], config.channels[2]
        ct, cz = config.temporal_channels, config.latent_channels
        # per-frame encoder: space-to-depth 2x, then two strided convs (128px -> 16px)
        self.enc_in = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(3 * 4, c2, 3, padding=1))
        self.enc_down = nn.ModuleList(
            [
                nn.Sequential(ResBlock2d(c2), nn.Conv2d(c2, c3, 3, stride=2, padding=1)),
                nn.Sequential(ResBlock2d(c3), nn.Conv2d(c3, c3, 3, stride=2, padding=1)),
            ]
        )
        self.enc_mid = ResBlock2d(c3)
        # temporal encoder over folded groups of 4 frames
        self.enc_t1 = CausalConv3d(c3 * TIME_FOLD, ct, (3, 1, 1))
        self.enc_t2 = CausalConv3d(ct, ct, (3, 3, 3))
        self.enc_out = nn.Conv3d(ct, 2 * cz, 1)
        # temporal decoder
        self.dec_in = CausalConv3d(cz, ct, (3, 3, 3))
        self.dec_t2 = CausalConv3d(ct, ct, (3, 1, 1))
        self.dec_t3 = nn.Conv3d(ct, c3 * TIME_FOLD, 1)
        # per-frame decoder: 16px -> 64px, then a sub-pixel conv to 128px
        self.dec_mid = ResBlock2d(c3)
        self.dec_up = nn.ModuleList(
            [
                nn.Sequential(ResBlock2d(c3), nn.Upsample(scale_factor=2.0), nn.Conv2d(c3, c3, 3, padding=1)),
                nn.Sequential(ResBlock2d(c3), nn.Upsample(scale_factor=2.0), nn.Conv2d(c3, c2, 3, padding=1)),
                ResBlock2d(c2),
            ]
        )
        self.dec_norm = nn.GroupNorm(min(8, c2), c2)
        self.dec_out = nn.Sequential(nn.Conv2d(c2, 3 * 4, 3, padding=1), nn.PixelShuffle(2))
        self.decode_context = _receptive_context(2)  # latent frames of context for exact chunking
        mean = torch.tensor(config.latent_mean or [0.0] * cz).view(1, cz, 1, 1, 1)
        std = torch.tensor(config.latent_std or [1.0] * cz).view(1, cz, 1, 1, 1)
        self.register_buffer("latent_mean", mean, persistent=False)
        self.register_buffer("latent_std", std, persistent=False)

    # -- sizes
    @staticmethod
    def latent_frames(num_frames: int) -> int:
        if num_frames < 1 or (num_frames - 1) % TIME_FOLD:
            raise ValueError(f"the VAE takes 1 + 4k frames, got {num_frames}")
        return 1 + (num_frames - 1) // TIME_FOLD

    @staticmethod
    def pixel_frames(latent_frames: int) -> int:
        return 1 + TIME_FOLD * (latent_frames - 1)

    # -- encode
    def encode_moments(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """video (B, 3, T, H, W) in [-1, 1], T = 1 + 4k, H and W multiples of 8
        -> mean, logvar (B, Cz, 1+k, H/8, W/8)."""
        b, c, t, h, w = video.shape
        if c != 3 or h % SPATIAL_DOWN or w % SPATIAL_DOWN:
            raise ValueError("video must be (B, 3, 1+4k, H, W) with H, W multiples of 8, got "
                             f"{tuple(video.shape)}")
        self.latent_frames(t)
        x = rearrange(video, "b c t h w -> (b t) c h w")
        x = self.enc_in(x)
        for down in self.enc_down:
            x = down(x)
        x = self.enc_mid(x)  # (B*T, c3, h, w)
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b)
        x = torch.cat([x[:, :, :1].expand(-1, -1, TIME_FOLD - 1, -1, -1), x], dim=2)  # (B, c3, 4(k+1), h, w)
        x = rearrange(x, "b c (n f) h w -> b (c f) n h w", f=TIME_FOLD)  # (B, 4*c3, k+1, h, w)
        x = self.enc_t2(F.silu(self.enc_t1(x)))
        mean, logvar = self.enc_out(F.silu(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-20, 10)

    def encode(self, video: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = False) -> torch.Tensor:
        """Normalised latents (B, Cz, 1+k, H/8, W/8) for diffusion."""
        mean, logvar = self.encode_moments(video)
        z = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + eps * (0.5 * logvar).exp()
        return (z - self.latent_mean.to(z)) / self.latent_std.to(z)

    # -- decode
    def _decode_raw(self, z: torch.Tensor, skip: int = 0) -> torch.Tensor:
        """z (B, Cz, N, h, w) unnormalised -> (B, 3, 4N - skip, H, W): the 4N frames (3 leading copies
        first) less the first `skip`, which the per-frame 2D decoder, nearly all the cost, never sees."""
        b = z.shape[0]
        x = self.dec_t2(F.silu(self.dec_in(z)))
        x = self.dec_t3(F.silu(x))  # (B, 4*c3, N, h, w)
        x = rearrange(x, "b (c f) n h w -> b (n f) c h w", f=TIME_FOLD)[:, skip:]  # (B, T, c3, h, w)
        x = x.flatten(0, 1)  # (B*T, c3, h, w)
        x = self.dec_mid(x)
        for up in self.dec_up:
            x = up(x)
        x = self.dec_out(F.silu(self.dec_norm(x)))  # (B*T, 3, H, W)
        return rearrange(x, "(b t) c h w -> b c t h w", b=b)

    def channels_last(self) -> VideoVAE:
        """Store the per-frame 2D convolutions' weights channels-last (NHWC), which oneDNN runs faster
        on CPUs: bfloat16 decode of a 2 s window 0.63 s -> 0.41 s on one AMX thread, float32 1.8 s ->
        1.5 s. Outputs move by at most one 8-bit level (docs/decisions.md). In place; returns self."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, NearestUpConv)):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
        return self

    def fold_upsampling(self) -> VideoVAE:
        """Run each nearest-2x upsampling and the 3x3 conv after it as one transposed conv
        (`NearestUpConv`), its two upsampling layers 2x faster: in float32 the same frames up to
        rounding; in bfloat16 as close to the float32 frames as the unfolded decode is (its folded taps
        are rounded to bfloat16 once). The checkpoint's keys and values are unchanged. In place;
        returns self."""
        for block in self.dec_up:
            if isinstance(block, nn.Sequential) and isinstance(block[1], nn.Upsample):
                conv = block[2]
                if not isinstance(conv, nn.Conv2d):
                    raise TypeError(f"an upsampling block ends in {type(conv).__name__}, not a Conv2d")
                block[1], block[2] = nn.Identity(), NearestUpConv(conv)
        return self

    def decode(self, latents: torch.Tensor, chunk: int | None = None, skip: int = 0) -> torch.Tensor:
        """Normalised latents (B, Cz, N, h, w) -> video (B, 3, 1+4(N-1) - skip, 8h, 8w) in about [-1, 1].

        With `chunk`, latent frames are decoded `chunk` at a time (plus exact causal context), so
        memory stays flat however long the clip is; the result is identical to a full decode.
        `skip` drops the first frames before the per-frame 2D decoder (nearly all the cost) sees
        them: the same frames as a full decode's `[:, :, skip:]`.
        """
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        z = latents * self.latent_std.to(latents) + self.latent_mean.to(latents)
        n = z.shape[2]
        if chunk is None or chunk >= n:
            return self._decode_raw(z, skip=TIME_FOLD - 1 + skip)
        return torch.cat(list(self.iter_decode(latents, chunk, skip=skip)), dim=2)

    def iter_decode(self, latents: torch.Tensor, chunk: int, skip: int = 0):
        """Yield decoded pixel chunks (B, 3, t, H, W) in order; concatenated they equal `decode`
        (less its first `skip` frames: chunks wholly inside them are not decoded)."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        z = latents * self.latent_std.to(latents) + self.latent_mean.to(latents)
        n, ctx = z.shape[2], self.decode_context
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            made = (e - s) * TIME_FOLD - (TIME_FOLD - 1 if s == 0 else 0)  # frames this chunk adds
            if skip >= made:
                skip -= made
                continue
            lo = max(0, s - ctx)
            # frames for latents s..e-1; latents lo..s-1 are causal context for the temporal convs only
            lead = (s - lo) * TIME_FOLD + (TIME_FOLD - 1 if s == 0 else 0)
            yield self._decode_raw(z[:, :, lo:e], skip=lead + skip)
            skip = 0

    def forward(
        self, video: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction for training: returns (recon, mean, logvar).

        `sample` draws z from the posterior (whole-VAE training); without it the decoder gets the
        means, the latents `encode` gives the transformer (decoder-only training).
        """
        mean, logvar = self.encode_moments(video)
        z = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + eps * (0.5 * logvar).exp()
        recon = self._decode_raw(z, skip=TIME_FOLD - 1)
        return recon, mean, logvar

    # -- persistence
    def save_pretrained(self, path: str | Path, dtype: torch.dtype = torch.float16) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {"_class": "VideoVAE", **dataclasses.asdict(self.config)}
        (path / "config.json").write_text(json.dumps(config, indent=2))
        save_file({k: v.detach().to(dtype).contiguous() for k, v in self.state_dict().items()},
                  str(path / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> VideoVAE:
        path = Path(path)
        cfg_file, weights = path / "config.json", path / "model.safetensors"
        if not cfg_file.exists() or not weights.exists():
            raise FileNotFoundError(f"no VideoVAE at {path} (need config.json and model.safetensors)")
        d = json.loads(cfg_file.read_text())
        if d.pop("_class", "VideoVAE") != "VideoVAE":
            raise ValueError(f"{cfg_file} is not a VideoVAE config")
        model = cls(VAEConfig.from_dict(d))
        try:
            state = load_file(str(weights))
        except Exception as e:  # safetensors raises several types for corrupt files
            raise ValueError(f"corrupt VAE weights at {weights}: {e}") from e
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return model.eval()


def frames_to_tensor(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) or (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1]."""
    if frames.ndim == 4:
        frames = frames[None]
    return rearrange(frames.float() / 127.5 - 1.0, "b t h w c -> b c t h w")


def tensor_to_frames(video: torch.Tensor) -> torch.Tensor:
    """float (B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3)."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rearrange(x, "b c t h w -> b t h w c")
