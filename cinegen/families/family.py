"""What a model family is: the diffusers pipeline per cinegen mode, and the shapes it can take.

A `Family` is one `model_index.json` `_class_name` (a Wan text-to-video directory and a Wan
image-to-video directory are two entries of the Wan family: their transformers differ). Its
`routes` name, for each cinegen mode it can do, the family's own diffusers pipeline class, built
from the loaded components (`from_pipe`), and `inputs` turns the mode's inputs into that
pipeline's keyword arguments, so what comes out is what diffusers produces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from cinegen.errors import CodedError
from cinegen.mode import Mode
from cinegen.pipeline.types import PipelineError


class FamilyError(CodedError, PipelineError):
    """A model, mode, shape or switch a family cannot take: `code` is the service's error code."""


@dataclass(frozen=True)
class FrameRule:
    """Frame counts a family takes: `step * k + 1` for k >= 0 (Wan 4k+1, LTX 8k+1)."""

    step: int

    def valid(self, frames: int) -> bool:
        return frames >= 1 and (frames - 1) % self.step == 0

    def nearest(self, frames: int) -> tuple[int, int]:
        """The valid counts just below and just above `frames` (equal when it is valid)."""
        below = max(1, (frames - 1) // self.step * self.step + 1)
        return below, below if below == frames else below + self.step

    def fit(self, frames: int) -> int:
        below, above = self.nearest(frames)
        return below if frames - below < above - frames else above

    def __str__(self) -> str:
        return f"{self.step}k+1"


@dataclass(frozen=True)
class SizeBuckets:
    """Sizes a pipeline picks itself: about `target` x `target` pixels in multiples of `multiple`, the
    aspect ratio nearest the request's (HunyuanVideo 1.5 image-to-video sizes its video so, from the
    image, with diffusers' `HunyuanVideo15ImageProcessor.calculate_default_height_width`)."""

    target: int
    multiple: int

    def nearest(self, width: int, height: int) -> tuple[int, int]:
        from diffusers.pipelines.hunyuan_video1_5.image_processor import HunyuanVideo15ImageProcessor

        processor = HunyuanVideo15ImageProcessor(vae_scale_factor=self.multiple)
        h, w = processor.calculate_default_height_width(height, width, self.target)
        return int(w), int(h)

    def __str__(self) -> str:
        return f"sizes of about {self.target}x{self.target} pixels in multiples of {self.multiple}"


@dataclass(frozen=True)
class ModeInputs:
    """A mode's inputs, already in the family's terms: frames counted, images as PIL.

    `keyframes` maps a frame index to its image (image-to-video's image is frame 0); `video` is
    the source clip (edit, extend) as PIL frames at the request's size.
    """

    num_frames: int
    width: int
    height: int
    fps: int
    image: Image.Image | None = None
    keyframes: Mapping[int, Image.Image] = field(default_factory=dict)
    video: tuple[Image.Image, ...] = ()
    strength: float = 0.6
    direction: str = "forward"
    references: tuple[Image.Image, ...] = ()


# (mode, its inputs, the keyword arguments every mode shares) -> the pipeline call's keyword arguments
InputsFn = Callable[[Mode, ModeInputs, dict[str, Any]], dict[str, Any]]
# (source frames, window frames) -> how many source frames an extension's window starts (or ends) with
ContextFn = Callable[[int, int], int]


@dataclass(frozen=True)
class Family:
    """One kind of model directory (its `_class_name`) and how cinegen drives it."""

    name: str  # the family: "wan", "ltx", "cogvideox", ...
    class_name: str  # model_index.json's _class_name
    routes: Mapping[Mode, str]  # cinegen mode -> the diffusers pipeline class that does it
    inputs: InputsFn
    frames: FrameRule
    size_multiple: int  # width and height must be multiples of this
    fps: int  # the rate the family was trained at
    steps: int
    guidance: float | None  # None: the checkpoint's own guider sets it (HunyuanVideo 1.5)
    default_size: tuple[int, int]  # (width, height)
    variant: str = ""  # e.g. "text-to-video", "Wan 2.2 TI2V"
    references: bool = False  # takes reference images (a character, an object)
    extension_context: ContextFn | None = None
    reports_steps: bool = True  # its pipelines take `callback_on_step_end` (progress, cancel)
    prepare: Callable[[Any, dict[str, Any]], dict[str,
                                                  Any]] | None = None  # (pipeline, call kwargs) -> kwargs
    buckets: SizeBuckets | None = None  # its pipelines choose the size by aspect ratio (else any multiple)
    upsampler: str | None = None  # the diffusers pipeline that upsamples its latents, where the directory
    # ships a latent upsampler (families/upscale.py)

    @property
    def modes(self) -> tuple[Mode, ...]:
        return tuple(self.routes)

    def route(self, mode: Mode) -> str:
        """The pipeline class for `mode`, or a FamilyError listing the modes this model can do."""
        if mode not in self.routes:
            can = ", ".join(m.value for m in self.routes)
            raise FamilyError("unsupported_mode",
                              f"{self.label} cannot do mode {mode.value!r}; it can do: {can}")
        return self.routes[mode]

    def check_upscale(self) -> None:
        """A FamilyError unless this directory ships a latent upsampler (upscaling is its second stage)."""
        if self.upsampler is None:
            raise FamilyError("invalid_request",
                              f"{self.label} ships no latent upsampler, so it cannot upscale (an LTX-Video "
                              "or LTX-2 directory with a latent_upsampler/ folder can)")

    def new_frames(self, mode: Mode, x: ModeInputs, frames: Any) -> Any:
        """The frames a mode returns: an extension's window less the source frames it started from."""
        if mode is not Mode.EXTEND or self.extension_context is None:
            return frames
        context = self.extension_context(len(x.video), x.num_frames)
        return frames[context:] if x.direction == "forward" else frames[: x.num_frames - context]

    def new_audio(self, mode: Mode, x: ModeInputs, audio: Any) -> Any:
        """An extension's sound (a `media.AudioTrack`) cut to the new frames' span, as `new_frames` cuts
        the frames: the window's N samples span its frames evenly (LTX-2 sizes its audio from them)."""
        if audio is None or mode is not Mode.EXTEND or self.extension_context is None:
            return audio
        context = self.extension_context(len(x.video), x.num_frames)
        n = audio.samples.shape[1]
        cut = round(n * context / x.num_frames)
        samples = audio.samples[:, cut:] if x.direction == "forward" else audio.samples[:, : n - cut]
        return replace(audio, samples=samples)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.class_name})"

    def check_size(self, width: int, height: int, *, fit: bool = False) -> tuple[int, int]:
        """(width, height) if both are positive multiples of `size_multiple` (or, with `buckets`, the
        size the pipeline would pick itself); the nearest such size when `fit`, else a FamilyError
        naming it."""
        m = self.size_multiple
        if self.buckets is not None:
            near, rule = self.buckets.nearest(width, height), str(self.buckets)
        else:
            near = (max(m, round(width / m) * m), max(m, round(height / m) * m))
            rule = f"widths and heights in multiples of {m}"
        if (width, height) == near or fit:
            return near
        raise FamilyError("invalid_size", f"{self.label} takes {rule}, not {width}x{height}: use "
                                          f"{near[0]}x{near[1]} (or ask to fit, --fit)")

    def check_frames(self, frames: int, fps: int, *, fit: bool = False) -> int:
        """`frames` if the family takes it; the nearest valid count when `fit`, else a FamilyError
        naming the counts (and durations at `fps`) on either side."""
        if self.frames.valid(frames):
            return frames
        if fit:
            return self.frames.fit(frames)
        below, above = self.frames.nearest(frames)
        raise FamilyError(
            "invalid_frames",
            f"{self.label} takes {self.frames} frames, not {frames}: use {below} ({below / fps:.3g} s) or "
            f"{above} ({above / fps:.3g} s) at {fps} fps (or ask to fit, --fit)")
