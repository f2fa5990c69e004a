"""World positions: rotary position embeddings that follow the camera.

Wan's RoPE gives each token its integer (frame, row, column). A transformer trained on still cameras
learns that a background point stays at the same row and column from frame to frame. With world
positions a token's row and column are those of the world point it shows, seen through the plan's
pan and zoom relative to the window's first frame (planning/raster.py, channels 14..17): in the first
frame they are the usual integers, and under a pan the same world point keeps the same position while
its screen column moves. So "the background stays where it is" becomes, for free, "the background
moves as the camera says". A one-off check on plan5's step-5,000 weights without any training moved
the backgrounds of 8 of 26 moving-camera prompts as asked (5 with screen positions), and 7 more the
wrong way; 500 steps of training with world positions made it 20 of 26 (docs/benchmarks.md).

`WorldRope` wraps diffusers' `WanRotaryPosEmbed` (same buffers, no parameters, so weights load
unchanged) and takes the per-frame view change for one call through `positions`, which
`VelocityModel` sets around its transformer call. Without it, it is the wrapped embedding exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

THETA = 10000.0  # Wan's RoPE base
# The contract with the plan's rasteriser (planning/raster.py writes these channels after the 14
# rasterised ones): pan ahead, pan behind, scale up, scale down; 1.0 stands for POSITION_RANGE.
# Channels after them (sub-frame timing) are transformer inputs again (models/velocity.py).
POSITION_OFFSET = 14
POSITION_CHANNELS = 4
POSITION_RANGE = 0.5  # frame heights of pan, and units of scale


class WorldRope(nn.Module):
    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        # (B or 1, N) pan and scale change per latent frame, set for one call by VelocityModel
        self.positions: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.positions is None:
            out: tuple[torch.Tensor, torch.Tensor] = self.base(hidden_states)
            return out
        b: Any = self.base
        _, _, nf, hh, ww = hidden_states.shape
        pt, ph, pw = b.patch_size
        ppf, pph, ppw = nf // pt, hh // ph, ww // pw
        pan, scale = (p[:, ::pt].double() for p in self.positions)  # (B', ppf) each
        rows, cols = token_positions(pan, scale, pph, ppw)  # (B', ppf, pph), (B', ppf, ppw)
        split = [b.t_dim, b.h_dim, b.w_dim]
        cos_t, sin_t = (f.split(split, dim=1)[0][:ppf] for f in (b.freqs_cos, b.freqs_sin))  # (ppf, t_dim)
        cos_h, sin_h = _rotary(rows, b.h_dim)  # (B', ppf, pph, h_dim)
        cos_w, sin_w = _rotary(cols, b.w_dim)  # (B', ppf, ppw, w_dim)
        n = pan.shape[0]

        def grid(t: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            shape = (n, ppf, pph, ppw, -1)
            full = torch.cat([t.view(1, ppf, 1, 1, -1).expand(shape), h[:, :, :, None].expand(shape),
                              w[:, :, None, :].expand(shape)], dim=-1)
            return full.reshape(n, ppf * pph * ppw, 1, -1).to(b.freqs_cos.dtype)  # (B', tokens, 1, dim)

        return grid(cos_t, cos_h, cos_w), grid(sin_t, sin_h, sin_w)


def token_positions(
    pan: torch.Tensor, scale: torch.Tensor, pph: int, ppw: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column positions (token units) of each token's world point. pan, scale: (B, F) as in
    `planning.raster.view_change`; returns rows (B, F, pph), cols (B, F, ppw): the integer grid where
    pan = scale = 0."""
    r = torch.arange(pph, dtype=pan.dtype, device=pan.device)
    c = torch.arange(ppw, dtype=pan.dtype, device=pan.device)
    v = r + 0.5 - pph / 2  # (pph,) token units from the centre, in the first view
    u = c + 0.5 - ppw / 2  # (ppw,)
    grow = (1.0 + scale)[..., None]  # (B, F, 1): a zoom-out shows more world per token
    rows = v * grow + pph / 2 - 0.5
    cols = u * grow + (pan * pph)[..., None] + ppw / 2 - 0.5
    return rows, cols


def decode_positions(channels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A layout's position channels (B, 4, N, h, w) -> pan, scale (B, N) (planning/raster.py)."""
    if channels.shape[1] != POSITION_CHANNELS:
        raise ValueError(f"expected {POSITION_CHANNELS} position channels, got {channels.shape[1]}")
    m = channels.float().mean(dim=(3, 4)) * POSITION_RANGE  # (B, 4, N)
    return m[:, 0] - m[:, 1], m[:, 2] - m[:, 3]


def _rotary(pos: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of Wan's RoPE at (fractional) positions (..., P) -> (..., P, dim), interleaved like
    diffusers' `get_1d_rotary_pos_embed(use_real=True, repeat_interleave_real=True)`. Written here, not
    called from diffusers, so this module (and the traced path through models/velocity.py) does not
    import diffusers; equality with it at the integer grid is tested (tests/test_world_positions.py)."""
    inv = 1.0 / (THETA ** (torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device)[: dim // 2] / dim))
    ang = pos[..., None] * inv  # (..., P, dim/2)
    return ang.cos().repeat_interleave(2, dim=-1), ang.sin().repeat_interleave(2, dim=-1)


def install(transformer: nn.Module) -> nn.Module:
    """Give a Wan transformer world positions (in place; idempotent). Returns it."""
    rope: Any = transformer.rope
    if not isinstance(rope, WorldRope):
        transformer.rope = WorldRope(rope)
    return transformer


def declares_world_positions(path: Path) -> bool:
    """Whether the transformer directory at `path` was trained with world positions: its
    `cinegen.json` (written by the trainers and the export script) says so in its DiT config."""
    meta = path / "cinegen.json"
    if not meta.exists():
        return False
    try:
        return bool(json.loads(meta.read_text()).get("dit", {}).get("world_positions", False))
    except (json.JSONDecodeError, AttributeError) as e:
        raise ValueError(f"{meta} is not a cinegen transformer record: {e}") from e
