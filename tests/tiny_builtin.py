"""A tiny random-weight built-in model directory (the service's and the backend's tests)."""

from __future__ import annotations

from pathlib import Path


def save_tiny_builtin(path: Path) -> Path:
    """A CinegenPipeline with the tiny VAE and transformer, 128x128 only, 2 steps, saved at `path`."""
    import torch

    from cinegen.models.text import TextEncoder
    from cinegen.models.transformer import DIT_PRESETS, build_transformer
    from cinegen.models.vae import VAE_PRESETS, VideoVAE
    from cinegen.pipeline import CinegenPipeline
    from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts

    torch.manual_seed(0)
    CinegenPipeline(BuiltinVAE(VideoVAE(VAE_PRESETS["tiny"])), build_transformer(DIT_PRESETS["tiny"]),
                    MiniLMPrompts(TextEncoder()), sizes=[(128, 128)], window_latents=3, default_steps=2,
                    info={"name": "tiny-test", "version": "0.0"}).save_pretrained(path)
    return path
