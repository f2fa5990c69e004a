"""`DiffusersVideoModel`: a model family's diffusers pipelines behind CinegenPipeline's call.

`generate()` and every door call it exactly as they call the built-in pipeline:

    model = DiffusersVideoModel.load(path, device="cpu", dtype="float32", switches=Switches(vae_tiling=True))
    out = model("a red ball", seconds=1.0, fps=16, width=832, height=480, seed=0)   # VideoOutput

1. recognise the family; load its pipeline once (`weights.load_pipeline`), switches on;
2. per call: name the mode from the inputs given, refuse what the family cannot take (mode, frame
   count, size, options that only the built-in model has), unless `fit` rounds frames and size;
3. build the mode's pipeline from the loaded components (`from_pipe`, cached), call it with a
   seeded CPU `torch.Generator`, and return its frames as uint8, as diffusers itself converts them;
   with `upscale` (a directory that ships a latent upsampler) the call makes latents at half the size
   and the family's upsample pipeline doubles and decodes them (`upscale.py`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from cinegen.families.family import Family, FamilyError, ModeInputs
from cinegen.families.quantize import quantization_config
from cinegen.families.registry import read_index, recognise, weights_digest
from cinegen.families.switches import Switches, apply_switches, check_before_load, place
from cinegen.families.upscale import base_size, decode_audio, load_upsampler, upsample
from cinegen.families.weights import load_pipeline
from cinegen.mode import Mode
from cinegen.pipeline.frames import fit_image, fit_video, retime
from cinegen.pipeline.loading import resolve_dtype
from cinegen.pipeline.types import ProgressFn, VideoOutput

if TYPE_CHECKING:  # media imports PyAV
    from cinegen.media import AudioTrack


class DiffusersVideoModel:
    """One model directory of a known family, loaded once; called like `CinegenPipeline`."""

    def __init__(self, base: Any, family: Family, path: Path, meta: dict[str, Any],
                 switches: Switches, device: str = "cpu", upsampler: Any = None) -> None:
        self.base, self.family, self.path, self.switches, self.device = base, family, path, switches, device
        self._placed = type(base).__name__  # the pipeline whose offload hooks are on the shared components
        self.max_sequence_length = meta.get("cinegen_max_sequence_length")
        self._pipes: dict[str, Any] = {type(base).__name__: base}
        if upsampler is not None:  # the family's upsample pipeline (over the base's VAE)
            self._pipes[type(upsampler).__name__] = upsampler
        self.sizes = tuple(tuple(s) for s in meta.get("cinegen_sizes", [family.default_size]))
        digest = weights_digest(path)  # the weights' identity: the manifest's model version
        self.info = {"name": path.name, "version": f"sha256:{digest[:16]}", "family": family.name,
                     "class": family.class_name, "weights_sha256": digest}

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu", dtype: str | torch.dtype = "auto",
             switches: Switches | None = None) -> DiffusersVideoModel:
        switches = switches or Switches()
        path = Path(path)
        meta = read_index(path)
        family = recognise(path, meta)
        if family is None:
            raise FamilyError("model_unavailable",
                              f"{path} holds the built-in model; load it with CinegenPipeline")
        check_before_load(switches, device)
        torch_dtype = family_dtype(dtype, device)
        quantization = quantization_config(switches.quantize, meta) if switches.quantize else None
        base = load_pipeline(path, torch_dtype, family.label, meta, quantization)
        base.set_progress_bar_config(disable=True)
        apply_switches(base, switches, device, path)
        upsampler = load_upsampler(base, path, family, torch_dtype) if family.upsampler else None
        if upsampler is not None and switches.offload not in ("model", "sequential"):
            upsampler.latent_upsampler.to(device)  # the VAE it shares is placed (or group-offloaded) already
        return cls(base, family, path, meta, switches, device, upsampler)

    def pipeline(self, mode: Mode | None) -> Any:
        """The family's own diffusers pipeline for `mode` (None: its upsample pipeline), sharing the
        loaded components."""
        if mode is None:
            self.family.check_upscale()
        name = self.family.route(mode) if mode is not None else str(self.family.upsampler)
        if name not in self._pipes:
            import diffusers

            pipe = getattr(diffusers, name).from_pipe(self.base)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[name] = pipe
        if self.switches.offload in ("model", "sequential") and name != self._placed:
            place(self._pipes[name], self.switches.offload, self.device)  # pipeline-level hooks move with it
            self._placed = name
        return self._pipes[name]

    def __call__(
        self, prompt: str, *, negative_prompt: str = "", seconds: float = 4.0, fps: int = 16,
        width: int = 128,
        height: int = 128, seed: int = 0, steps: int | None = None, guidance: float | None = None,
        sampler: str | None = None, quality: str | None = None, image: np.ndarray | None = None,
        keyframes: dict[float, np.ndarray] | None = None, extend: np.ndarray | None = None,
        extend_fps: float | None = None, direction: str = "forward",
        connect: tuple[np.ndarray, np.ndarray] | None = None, loop: bool = False,
        edit: np.ndarray | None = None,
        strength: float = 0.6, schedule: Sequence[Any] | None = None, still: bool = False,
        extend_prompt: bool = True, plan: Any = None, use_plan: bool = True,
        path: Sequence[tuple[float, float]] | None = None, progress: ProgressFn | None = None,
        fit: bool = False, references: Sequence[np.ndarray] = (), upscale: bool = False,
    ) -> VideoOutput:
        """Generate with the family's pipeline for the mode these inputs name (see CinegenPipeline)."""
        # 1. the mode, and what this family cannot take
        mode = _mode(image, keyframes, extend, connect, loop, edit, schedule, still)
        pipe = self.pipeline(mode)
        self._refuse_builtin_only(sampler, quality, plan, path, references)
        # 2. frames and size in the family's terms (upscaling: the first stage's, half the request's)
        if upscale:
            self.family.check_upscale()
        width, height = (base_size(self.family, width, height, fit=fit) if upscale
                         else self.family.check_size(width, height, fit=fit))
        num_frames = 1 if still else self.family.check_frames(max(1, round(seconds * fps)), fps, fit=fit)
        source = edit if edit is not None else extend
        video = _frames(source, extend_fps or fps, fps, width, height)
        if mode in (Mode.EDIT, Mode.REMIX):
            video = self._edit_frames(video, num_frames)
        x = ModeInputs(num_frames=num_frames, width=width, height=height, fps=fps,
                       image=_pil(image, width, height) if image is not None else None,
                       keyframes=_pins(keyframes, fps, num_frames, width, height), video=video,
                       strength=strength, direction=direction,
                       references=tuple(Image.fromarray(r) for r in references))
        # 3. the family's own pipeline call
        steps = self.family.steps if steps is None else steps
        if guidance is not None and self.family.guidance is None:
            raise FamilyError("invalid_request",
                              f"{self.family.label} takes its guidance from the checkpoint's "
                                                 "guider; leave guidance unset")
        guidance = self.family.guidance if guidance is None else guidance
        kwargs = self.family.inputs(mode, x, self.common_kwargs(prompt, negative_prompt, x, steps, guidance,
                                                                seed))
        if self.family.prepare is not None:
            kwargs = self.family.prepare(pipe, kwargs)
        if progress is not None and self.family.reports_steps:
            kwargs["callback_on_step_end"] = _progress_callback(progress, steps)
        t0 = time.perf_counter()
        frames, audio = self._run(pipe, kwargs, x, upscale)  # (T, H, W, 3) floats in [0, 1]; a track or None
        elapsed = time.perf_counter() - t0
        frames = to_uint8(self.family.new_frames(mode, x, frames))
        audio = self.family.new_audio(mode, x, audio)
        settings = {"family": self.family.name, "pipeline": type(pipe).__name__, "num_frames": num_frames,
                    "width": frames.shape[2], "height": frames.shape[1], "steps": steps, "guidance": guidance,
                    "seed": int(seed), **({"upscale": self.family.upsampler} if upscale else {}),
                    "fps": fps, "switches": self.switches.describe(), "model_class": self.family.class_name,
                    "weights_sha256": self.info["weights_sha256"],
                    **({"audio": {"rate": audio.rate, "channels": audio.samples.shape[0]}} if audio else {})}
        return VideoOutput(frames, fps, int(seed), timings={"denoise": elapsed, "total": elapsed},
                           settings=settings, audio=audio)

    def _run(self, pipe: Any, kwargs: dict[str, Any], x: ModeInputs,
             upscale: bool) -> tuple[Any, AudioTrack | None]:
        """The pipeline call -> (frames, its audio track if it makes sound); upscaling, its latents
        through the upsample pipeline (the same generator)."""
        if not upscale:
            out = pipe(**kwargs)
            return out.frames[0], _audio(pipe, getattr(out, "audio", None))
        out = pipe(**{**kwargs, "output_type": "latent"})
        frames = upsample(self.pipeline(None), pipe, out.frames, x.num_frames, x.width, x.height,
                          kwargs["generator"])
        return frames, _audio(pipe, decode_audio(pipe, getattr(out, "audio", None)))

    def common_kwargs(self, prompt: str, negative_prompt: str, x: ModeInputs, steps: int,
                      guidance: float | None, seed: int) -> dict[str, Any]:
        """The keyword arguments every family's pipelines share; a seeded CPU generator, so a seed
        gives the same noise on every device."""
        kw: dict[str, Any] = {
            "prompt": prompt, "negative_prompt": negative_prompt or None, "height": x.height,
            "width": x.width,
            "num_frames": x.num_frames, "num_inference_steps": steps, "guidance_scale": guidance,
            "generator": torch.Generator("cpu").manual_seed(int(seed)), "output_type": "np",
        }
        if guidance is None:
            del kw["guidance_scale"]
        if self.max_sequence_length is not None:
            kw["max_sequence_length"] = int(self.max_sequence_length)
        return kw

    def _refuse_builtin_only(self, sampler: str | None, quality: str | None, plan: Any,
                             path: Sequence[tuple[float, float]] | None,
                             references: Sequence[np.ndarray]) -> None:
        label = self.family.label
        if sampler is not None:
            raise FamilyError("invalid_request", f"{label} samples with its own scheduler; sampler "
                                                 f"{sampler!r} is for the built-in model")
        if quality not in (None, "full"):
            raise FamilyError("invalid_request", f"{label} has one quality, 'full'; got {quality!r}")
        if plan is not None or path is not None:
            raise FamilyError("invalid_request",
                              f"{label} takes no shot plan or path (the built-in model does)")
        if references and not self.family.references:
            raise FamilyError("invalid_request", f"{label} takes no reference images (Wan VACE models do)")

    def _edit_frames(self, video: tuple[Image.Image, ...], num_frames: int) -> tuple[Image.Image, ...]:
        if len(video) < num_frames:
            raise FamilyError("invalid_request",
                              f"the source has {len(video)} frames at this fps; editing {num_frames} needs "
                              "at least that many (ask for fewer seconds)")
        return video[:num_frames]


def family_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    """'auto' is bfloat16 on a GPU that has it and float32 on a CPU (the families' pipelines are
    checked against diffusers in float32 there); names and torch dtypes pass through."""
    dev = torch.device(device)
    if dtype == "auto" and dev.type == "cpu":
        return torch.float32
    if dtype in ("float16", "fp16"):
        return torch.float16
    return resolve_dtype(dtype, dev)


def _mode(image: Any, keyframes: Any, extend: Any, connect: Any, loop: bool, edit: Any, schedule: Any,
          still: bool) -> Mode:
    """The mode the inputs name (the door decided it; this reads it back from its inputs)."""
    for mode, given in ((Mode.STILL, still), (Mode.LOOP, loop), (Mode.SCHEDULE, bool(schedule)),
                        (Mode.EXTEND, extend is not None), (Mode.CONNECT, connect is not None),
                        (Mode.EDIT, edit is not None), (Mode.KEYFRAMES, bool(keyframes)),
                        (Mode.IMAGE, image is not None)):
        if given:
            return mode
    return Mode.TEXT


def _pil(frame: np.ndarray, width: int, height: int) -> Image.Image:
    return Image.fromarray(fit_image(frame, width, height))


def _pins(keyframes: dict[float, np.ndarray] | None, fps: int, num_frames: int, width: int,
          height: int) -> dict[int, Image.Image]:
    """Keyframes at seconds -> frame indices (the nearest frame, the last one at most)."""
    return {min(num_frames - 1, round(t * fps)): _pil(f, width, height) for t, f in (keyframes or {}).items()}


def _frames(video: np.ndarray | None, src_fps: float, fps: int, width: int,
            height: int) -> tuple[Image.Image, ...]:
    if video is None:
        return ()
    return tuple(Image.fromarray(f) for f in fit_video(retime(video, src_fps, fps), width, height))


def _audio(pipe: Any, audio: Any) -> AudioTrack | None:
    """The first video's waveform ((B, C, N) tensor) at the pipeline's vocoder rate (LTX-2), or None."""
    if audio is None:
        return None
    from cinegen.media import AudioTrack

    samples = audio[0].float().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio[0])
    return AudioTrack(samples.astype(np.float32), int(pipe.vocoder.config.output_sampling_rate))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8, rounded as diffusers' `numpy_to_pil` rounds."""
    return np.asarray((np.clip(frames, 0.0, 1.0) * 255).round(), dtype=np.uint8)


def _progress_callback(progress: ProgressFn, steps: int) -> Any:
    def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        progress(i + 1, getattr(pipe, "num_timesteps", steps))
        return {}

    return callback
