"""A tiny plan-conditioned pipeline on random weights, shared by the plan tests of every door.

Its output layer and plan-input weights are non-zero, so text and plans change the frames.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from cinegen.models.text import TextEncoder
from cinegen.models.transformer import DIT_PRESETS, build_transformer
from cinegen.models.vae import VAE_PRESETS, VideoVAE
from cinegen.pipeline import CinegenPipeline
from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
from cinegen.planning.planner import PLANNERS
from cinegen.planning.raster import LAYOUT_CHANNELS


def tiny_planned_pipeline(size: int = 64, window_latents: int = 3, **kw: Any) -> CinegenPipeline:
    torch.manual_seed(0)
    cfg = dataclasses.replace(DIT_PRESETS["tiny"], layout_channels=LAYOUT_CHANNELS)
    transformer: Any = build_transformer(cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        transformer.proj_out.weight.normal_(0.0, 0.05, generator=g)
        transformer.patch_embedding.weight[:, 4:].normal_(0.0, 0.5, generator=g)  # the plan's input channels
    return CinegenPipeline(
        BuiltinVAE(VideoVAE(VAE_PRESETS["tiny"]).eval()), transformer.eval(), MiniLMPrompts(TextEncoder()),
        sizes=[(size, size)], window_latents=window_latents, default_steps=2, planner=PLANNERS["backlot"],
        **kw,
    )
