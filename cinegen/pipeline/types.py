"""What the pipeline takes and gives: its component protocols, its error, its output and options.

Kept apart from the pipeline class so the loaders and adapters can name these without importing
the pipeline itself (the class imports its loader lazily; nothing imports back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

if TYPE_CHECKING:  # media imports PyAV
    from cinegen.media import AudioTrack

ProgressFn = Callable[[int, int], None]


class PipelineError(ValueError):
    """Bad arguments to the pipeline: the message names the argument and its value."""


class VideoAutoencoder(Protocol):
    """What the pipeline needs from a VAE: causal 4x time / 8x space, normalised latents."""

    latent_channels: int

    def encode_video(self, video: torch.Tensor) -> torch.Tensor: ...  # (B,3,1+4k,H,W) -> (B,C,1+k,h,w)

    # inverse, in [-1, 1], less the first `skip` frames (a VAE may skip decoding them)
    def decode_video(self, latents: torch.Tensor, skip: int = 0) -> torch.Tensor: ...


class PromptEncoder(Protocol):
    def __call__(self, prompts: list[str]) -> torch.Tensor: ...  # (B, L, D), padding zeroed


class PromptExtender(Protocol):
    """Rewrites a user's prompt into the caption language the model was trained on (Sora's
    recaptioning, Wan's prompt extension); returns the prompt unchanged when it cannot.

    The model declares its extender in model_index.json as "module:name"; the loader imports that
    module and takes `PROMPT_EXTENDERS[name]` from it, so the pipeline never imports a world.
    """

    @property
    def name(self) -> str: ...  # the key in its module's PROMPT_EXTENDERS

    def __call__(self, prompt: str, seed: int) -> str: ...


@dataclass
class VideoOutput:
    """frames (T, H, W, 3) uint8 at `fps`; timings per stage in seconds; `audio` the track a model
    that makes sound made with them (LTX-2), else None."""

    frames: np.ndarray
    fps: int
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    audio: AudioTrack | None = None


@dataclass(frozen=True)
class Sampling:
    """How one call denoises: steps per window, guidance scale, and the ODE solver (a key of SAMPLERS)."""

    steps: int
    guidance: float
    solver: str = "euler"
    transformer: str = "transformer"  # which of the pipeline's transformers (a quality's subfolder)


@dataclass(frozen=True)
class ScheduleEntry:
    start: float  # seconds
    prompt: str


class ShotPlanner(Protocol):
    """Plans where each object goes, frame by frame, and turns a plan into the model's layout input.

    A plan-conditioned model declares its planner in model_index.json as "module:name" (the
    module's `PLANNERS[name]`), as it declares its prompt extender; plans are opaque to the
    pipeline, which only asks the planner for them and for their layout channels.
    """

    @property
    def name(self) -> str: ...

    def make(
        self, prompt: str, *, seconds: float, fps: int, seed: int, width: int, height: int
    ) -> Any | None: ...  # None: the prompt cannot be planned

    def read(self, value: Any) -> Any: ...  # a plan, its dict or JSON -> a validated plan (else ValueError)

    def check(self, plan: Any, *, seconds: float, fps: int) -> None: ...  # ValueError: not the clip's length

    def with_path(self, plan: Any, points: Sequence[tuple[float, float]]) -> Any: ...

    def anchored(self, plan: Any, frame: np.ndarray, *, at_end: bool = False) -> Any: ...

    def between(self, plan: Any, first: np.ndarray, last: np.ndarray) -> Any: ...

    def looped(self, plan: Any, frames: int) -> Any: ...

    def to_dict(self, plan: Any) -> dict[str, Any]: ...

    def summary(self, plan: Any) -> str: ...

    def layout(
        self, plan: Any, start_frame: int, num_latents: int, width: int, height: int
    ) -> torch.Tensor: ...  # (channels, num_latents, height // 8, width // 8)
