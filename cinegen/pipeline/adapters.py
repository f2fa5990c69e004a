"""Adapters from concrete models to the pipeline's component protocols (`pipeline.types`):
the built-in VideoVAE and MiniLM text encoder, and Wan 2.1's AutoencoderKLWan and UMT5."""

from __future__ import annotations

from typing import Any

import torch

from cinegen.models.text import TextEncoder
from cinegen.models.vae import VideoVAE


class BuiltinVAE:
    """Adapter: cinegen's VideoVAE to the pipeline's VideoAutoencoder protocol (chunked decode)."""

    def __init__(self, vae: VideoVAE, decode_chunk: int = 8) -> None:
        self.vae = vae
        self.latent_channels = vae.config.latent_channels
        self.decode_chunk = decode_chunk

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(video)

    def decode_video(self, latents: torch.Tensor, skip: int = 0) -> torch.Tensor:
        return self.vae.decode(latents, chunk=self.decode_chunk, skip=skip)


class WanVAE:
    """Adapter: diffusers' AutoencoderKLWan with Wan's per-channel latent normalisation."""

    def __init__(self, vae: Any) -> None:
        self.vae = vae
        cfg = vae.config
        self.latent_channels = cfg.z_dim
        self.mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1)
        self.std = torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        z = self.vae.encode(video.to(self.vae.dtype)).latent_dist.mode()
        return (z - self.mean.to(z)) / self.std.to(z)

    def decode_video(self, latents: torch.Tensor, skip: int = 0) -> torch.Tensor:
        dev, dt = latents.device, self.vae.dtype
        z = latents.to(dt) * self.std.to(dev, dt) + self.mean.to(dev, dt)
        return self.vae.decode(z, return_dict=False)[0][:, :, skip:]


class MiniLMPrompts:
    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        return self.encoder.encode(prompts)[0]


class T5Prompts:
    """Adapter: Wan's UMT5 text encoder, padded positions zeroed as WanPipeline does."""

    def __init__(self, tokenizer: Any, encoder: Any, max_length: int = 512) -> None:
        self.tokenizer, self.encoder, self.max_length = tokenizer, encoder, max_length

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        mask = tok.attention_mask.bool()
        hidden = self.encoder(tok.input_ids, attention_mask=tok.attention_mask).last_hidden_state.float()
        return hidden * mask[..., None]
