"""The diffusion transformer over spacetime patches: diffusers' `WanTransformer3DModel`, sized small.

Why Wan's class: it is a flow-matching DiT with 3D RoPE (variable duration, resolution and
aspect ratio), text cross-attention and per-token timesteps (Wan 2.2 TI2V), which is exactly
what unified conditioning needs: clean conditioning frames carry timestep 0 while the rest are
denoised. Using it also means a diffusers-format Wan 2.1 checkpoint runs through the same
pipeline. `VelocityModel` adapts it to the sampler's contract `v = model(x, sigma)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel
from safetensors.torch import load_file
from torch import nn

from cinegen.config import config_from_dict
from cinegen.models.velocity import VelocityModel, layout_channels_of
from cinegen.models.world_rope import WorldRope, declares_world_positions, install

__all__ = ["DIT_PRESETS", "DiTConfig", "VelocityModel", "add_layout_channels", "build_transformer",
           "layout_channels_of", "load_transformer"]


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int = 16
    patch_size: tuple[int, int, int] = (1, 2, 2)
    num_heads: int = 4
    head_dim: int = 64
    ffn_dim: int = 1024
    num_layers: int = 8
    text_dim: int = 384
    freq_dim: int = 256
    rope_max_seq_len: int = 1024
    layout_channels: int = 0  # extra input channels of plan conditioning (0: text-only model)
    # token positions follow the plan's camera (models/world_rope.py; needs layout channels)
    world_positions: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiTConfig:
        return config_from_dict(cls, d, "DiT")


DIT_PRESETS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(in_channels=4, num_heads=2, head_dim=16, ffn_dim=64, num_layers=2),
    "small": DiTConfig(),
}


def build_transformer(cfg: DiTConfig) -> WanTransformer3DModel:
    model = WanTransformer3DModel(
        patch_size=cfg.patch_size,
        num_attention_heads=cfg.num_heads,
        attention_head_dim=cfg.head_dim,
        in_channels=cfg.in_channels + cfg.layout_channels,
        out_channels=cfg.in_channels,
        text_dim=cfg.text_dim,
        freq_dim=cfg.freq_dim,
        ffn_dim=cfg.ffn_dim,
        num_layers=cfg.num_layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=cfg.rope_max_seq_len,
    )
    _initialize_weights(model)
    if cfg.world_positions:
        if not cfg.layout_channels:
            raise ValueError("world_positions reads the plan's camera: it needs layout_channels > 0")
        install(model)
    return model


def _initialize_weights(model: WanTransformer3DModel) -> None:
    """Zero the output projection so training starts from a zero velocity (DiT's adaLN-Zero idea)."""
    nn.init.zeros_(model.proj_out.weight)
    nn.init.zeros_(model.proj_out.bias)


def add_layout_channels(transformer: WanTransformer3DModel, layout_channels: int) -> WanTransformer3DModel:
    """A copy of a transformer that takes `layout_channels` more plan channels (after any it has).

    The patch embedding gains input channels whose weights are zero, so the new model computes
    exactly what the old one did until training moves them (ControlNet's zero convolution idea).
    """
    if layout_channels < 1:
        raise ValueError(f"layout_channels to add must be >= 1, got {layout_channels}")
    cfg = dict(transformer.config)
    c = int(cfg["out_channels"] or cfg["in_channels"])  # latent channels
    cfg["in_channels"], cfg["out_channels"] = int(cfg["in_channels"]) + layout_channels, c
    new = WanTransformer3DModel.from_config(cfg)
    state = transformer.state_dict()
    w = state["patch_embedding.weight"]  # (D, C + Cl, pt, ph, pw)
    zeros = w.new_zeros((w.shape[0], layout_channels, *w.shape[2:]))
    state["patch_embedding.weight"] = torch.cat([w, zeros], dim=1)  # (D, C + Cl + added, pt, ph, pw)
    new.load_state_dict(state)
    return install(new) if isinstance(transformer.rope, WorldRope) else new


def load_transformer(path: str | Path) -> WanTransformer3DModel:
    """Load a diffusers-format WanTransformer3DModel directory (sharded or not) without accelerate."""
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"no transformer at {path} (config.json missing)")
    config = WanTransformer3DModel.load_config(str(path))
    model = WanTransformer3DModel.from_config(config)
    index = path / "diffusion_pytorch_model.safetensors.index.json"
    files = (
        sorted({path / f for f in json.loads(index.read_text())["weight_map"].values()})
        if index.exists()
        else [path / "diffusion_pytorch_model.safetensors"]
    )
    state: dict[str, torch.Tensor] = {}
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"transformer weights missing: {f}")
        try:
            state.update(load_file(str(f)))
        except Exception as e:  # safetensors raises several types for corrupt files
            raise ValueError(f"corrupt transformer weights {f}: {e}") from e
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    if missing or unexpected:
        raise ValueError(f"transformer weights at {path} do not match its config: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    if declares_world_positions(path):
        install(model)
    return model.eval()
