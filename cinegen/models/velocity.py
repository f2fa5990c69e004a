"""The sampler's contract over a diffusion transformer: `v = model(x, sigma, text, layout=None)`.

Kept apart from `transformer.py` (which imports diffusers' Wan class) so the pipeline, and the
TorchScript traces that stand in for the transformer (`traced.py`), use it without importing
diffusers.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import repeat
from torch import nn

from cinegen.models.world_rope import POSITION_CHANNELS, POSITION_OFFSET, WorldRope, decode_positions


def layout_channels_of(transformer: nn.Module) -> int:
    """Plan-conditioning input channels of a transformer: inputs beyond its outputs (0 for Wan 2.1 T2V)."""
    cfg: Any = transformer.config
    return int(cfg["in_channels"]) - int(cfg["out_channels"] or cfg["in_channels"])


class VelocityModel(nn.Module):
    """Adapter to the sampler contract: velocity = model(x (B,C,N,h,w), sigma (B,N)).

    `sigma` is the noise level per latent frame in [0, 1] (0 = clean conditioning); it is spread
    to every spatial token of that frame and scaled to Wan's 0..1000 timestep range. A
    plan-conditioned transformer also takes `layout` (B or 1, Cl, N, h, w), concatenated to the
    latents as extra channels; None gives zeros, the "no plan" input the model was trained with.
    """

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer
        self.input_channels = layout_channels_of(transformer)  # the layout channels the transformer takes
        self.world_positions = isinstance(getattr(transformer, "rope", None), WorldRope)
        # the layout channels this model reads: a transformer with world positions also reads the
        # view's change (planning/raster.py) into its tokens' positions (models/world_rope.py)
        self.layout_channels = self.input_channels + (POSITION_CHANNELS if self.world_positions else 0)
        if self.world_positions and self.input_channels < POSITION_OFFSET:
            raise ValueError(f"a transformer with world positions takes at least {POSITION_OFFSET} layout "
                             f"channels before the position block, this one {self.input_channels}")

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor, layout: torch.Tensor | None = None
    ) -> torch.Tensor:
        cfg: Any = self.transformer.config
        pt, ph, pw = cfg["patch_size"]
        b, _, n, h, w = x.shape
        layout = velocity_inputs(x, sigma, layout, self.layout_channels, (pt, ph, pw))
        rope: Any = self.transformer.rope if self.world_positions else None
        if rope is not None and layout is not None:  # (B', 4, N, h, w) -> pan, scale (B', N)
            rope.positions, layout = split_positions(layout)
        if layout is not None:
            x = torch.cat([x, layout.to(x.dtype).expand(b, -1, -1, -1, -1)], dim=1)  # (B, C + Cl, N, h, w)
        t = repeat(sigma * 1000.0, "b n -> b (n hw)", hw=(h // ph) * (w // pw))  # (B, tokens)
        try:
            out = self.transformer(hidden_states=x, timestep=t, encoder_hidden_states=text,
                                   return_dict=False)[0]
        finally:
            if rope is not None:
                rope.positions = None
        return out


def split_positions(layout: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A world-positions model's layout (B, Cl, N, h, w) -> (pan, scale), the transformer's inputs.

    The position block sits at POSITION_OFFSET; the channels before it and after it (sub-frame
    timing, planning/raster.py) are the transformer's input channels, in that order."""
    end = POSITION_OFFSET + POSITION_CHANNELS
    positions = decode_positions(layout[:, POSITION_OFFSET:end])
    inputs = layout[:, :POSITION_OFFSET] if layout.shape[1] == end else torch.cat(
        [layout[:, :POSITION_OFFSET], layout[:, end:]], dim=1)
    return positions, inputs


def known_layout(layout: torch.Tensor, layout_channels: int) -> torch.Tensor:
    """The first `layout_channels` of a layout (B, Cl', N, h, w): layout channels only ever grow at the end
    (planning/raster.py), so a model trained with fewer takes the ones it knows."""
    return layout[:, :layout_channels] if layout.ndim == 5 and layout.shape[1] > layout_channels else layout


def velocity_inputs(x: torch.Tensor, sigma: torch.Tensor, layout: torch.Tensor | None, layout_channels: int,
                    patch: tuple[int, int, int]) -> torch.Tensor | None:
    """Check a velocity call's inputs; returns its layout (zeros where a plan model gets none; the
    channels it knows of a newer layout: `known_layout`)."""
    b, _, n, h, w = x.shape
    pt, ph, pw = patch
    if h % ph or w % pw or n % pt:
        raise ValueError(f"latent size {(n, h, w)} is not divisible by the patch size {(pt, ph, pw)}")
    if sigma.shape != (b, n):
        raise ValueError(f"sigma must be (B, N) = {(b, n)}, got {tuple(sigma.shape)}")
    if not layout_channels:
        if layout is not None:
            raise ValueError("this transformer takes no plan (layout) input")
        return None
    if layout is None:
        return x.new_zeros((b, layout_channels, n, h, w))
    layout = known_layout(layout, layout_channels)
    if layout.shape[1:] != (layout_channels, n, h, w) or layout.shape[0] not in (1, b):
        raise ValueError(f"layout must be (B, *{(layout_channels, n, h, w)}), got {tuple(layout.shape)}")
    return layout
