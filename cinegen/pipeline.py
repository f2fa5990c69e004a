"""Prompt -> latents -> frames, for every generation mode. Reads like a diffusers pipeline.

Every mode is one primitive, `_window`: denoise N latent frames from text, with some latent
frames pinned clean (per-token timesteps) and optionally starting from a source video (SDEdit).
Anchors are given in pixels and encoded by the causal VAE in the layout training used:
  * a prefix of 1 + 4a frames  -> latents 0..a        (image-to-video, extend forward, windows)
  * a suffix of 4b frames      -> the last b latents  (extend backward, connect)
  * a keyframe image           -> one latent at its time
Clips longer than one window are generated window by window, each conditioned on the last
frames of the one before (pixel re-encoding keeps latent 0 a single-frame latent, as trained),
so time grows linearly with duration and memory stays flat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from cinegen.sampling import SAMPLERS, Conditioning, guided, make_sigmas, shift_for_tokens

MAX_SECONDS = 60.0
MIN_FPS, MAX_FPS = 1, 60
MAX_PROMPT_CHARS = 2000
MODEL_FPS = 16  # the built-in model's native frame rate
WINDOW_LATENTS = 9  # 33 frames (about 2 s) per window
OVERLAP_LATENTS = 2  # 5 frames of context carried into the next window
SEAM_FADE_FRAMES = 8  # frames after a joint over which the context's decode error fades out

ProgressFn = Callable[[int, int], None]


class PipelineError(ValueError):
    """Bad arguments to the pipeline: the message names the argument and its value."""


# ----------------------------------------------------------------------------- components
class VideoAutoencoder(Protocol):
    """What the pipeline needs from a VAE: causal 4x time / 8x space, normalised latents."""

    latent_channels: int

    def encode_video(self, video: torch.Tensor) -> torch.Tensor: ...  # (B,3,1+4k,H,W) -> (B,C,1+k,h,w)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor: ...  # inverse, in [-1, 1]


class PromptEncoder(Protocol):
    def __call__(self, prompts: list[str]) -> torch.Tensor: ...  # (B, L, D), padding zeroed


class PromptExtender(Protocol):
    """Rewrites a user's prompt into the caption language the model was trained on (Sora's
    recaptioning, Wan's prompt extension); returns the prompt unchanged when it cannot."""

    @property
    def name(self) -> str: ...  # what model_index.json records

    def __call__(self, prompt: str, seed: int) -> str: ...


@dataclass
class VideoOutput:
    """frames (T, H, W, 3) uint8 at `fps`; timings per stage in seconds."""

    frames: np.ndarray
    fps: int
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sampling:
    """How one call denoises: steps per window, guidance scale, and the ODE solver (a key of SAMPLERS)."""

    steps: int
    guidance: float
    solver: str = "euler"


@dataclass(frozen=True)
class ScheduleEntry:
    start: float  # seconds
    prompt: str


# ----------------------------------------------------------------------------- pixel helpers
def frames_to_video(frames: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (1, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return (x.permute(3, 0, 1, 2)[None].to(dtype) / 127.5 - 1.0)


def video_to_frames(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    x = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


def carry_residual(new: np.ndarray, given: np.ndarray, decoded: np.ndarray, *, at_end: bool = False) -> np.ndarray:
    """Hide a joint: fade the difference between a pinned frame and its VAE reconstruction into the new frames.

    `new` (T, H, W, 3) uint8 follows the pinned frame `given` (H, W, 3) (or, with at_end, precedes
    it); `decoded` is the window's reconstruction of that same frame. The VAE redraws pinned frames
    (31.5 dB), so without this every joint shows a jump in texture and sharpness; the difference is
    added at full weight next to the joint and fades to zero over SEAM_FADE_FRAMES frames.
    """
    k = min(SEAM_FADE_FRAMES, len(new))
    if k == 0:
        return new
    w = 1.0 - np.arange(1, k + 1, dtype=np.float32) / (SEAM_FADE_FRAMES + 1)  # (k,) near 1 at the joint
    if at_end:
        w = w[::-1]
    residual = given.astype(np.float32) - decoded.astype(np.float32)  # (H, W, 3)
    out = new.copy()
    part = out[-k:] if at_end else out[:k]
    part[...] = np.clip(part.astype(np.float32) + w[:, None, None, None] * residual, 0, 255).round().astype(np.uint8)
    return out


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize-and-centre-crop an image to (height, width): scale so it covers the frame, crop the rest.

    This is the documented rule for image inputs of any size: aspect is kept, nothing is stretched.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PipelineError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = max(width / w, height / h)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    t = torch.tensor(image).permute(2, 0, 1)[None].float()  # a copy: decoded images may be read-only
    t = F.interpolate(t, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    t = t[:, :, y0 : y0 + height, x0 : x0 + width]
    return t[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def fit_video(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Apply `fit_image` to every frame (the rule for source videos of another size)."""
    return np.stack([fit_image(f, width, height) for f in frames])


def retime(frames: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Nearest-frame retiming from src_fps to dst_fps, keeping the duration."""
    if abs(src_fps - dst_fps) < 1e-6:
        return frames
    n_out = max(1, round(len(frames) * dst_fps / src_fps))
    idx = np.minimum((np.arange(n_out) * src_fps / dst_fps).round().astype(int), len(frames) - 1)
    return frames[idx]


def latents_for_frames(num_frames: int) -> int:
    """Smallest latent count N whose 1 + 4(N - 1) frames cover num_frames."""
    return 1 + max(0, math.ceil((num_frames - 1) / 4))


# ----------------------------------------------------------------------------- the pipeline
class CinegenPipeline:
    """Text (and image/video) to video with a latent flow-matching transformer.

    Components: `vae` (VideoAutoencoder), `transformer` (a diffusers WanTransformer3DModel),
    `encode_prompt` (PromptEncoder), optionally `prompt_extender` (PromptExtender). `sizes` are
    the (width, height) the model serves.
    """

    def __init__(
        self,
        vae: VideoAutoencoder,
        transformer: torch.nn.Module,
        encode_prompt: PromptEncoder,
        *,
        sizes: Sequence[tuple[int, int]] = ((128, 128), (176, 96), (96, 176)),
        native_fps: int = MODEL_FPS,
        window_latents: int = WINDOW_LATENTS,
        default_steps: int = 12,
        default_guidance: float = 5.0,
        default_sampler: str = "euler",
        info: dict[str, Any] | None = None,
        prompt_extender: PromptExtender | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        from cinegen.models.transformer import VelocityModel

        self.vae = vae
        self.transformer = transformer
        self.model = VelocityModel(transformer)  # type: ignore[arg-type]
        self.encode_prompt = encode_prompt
        self.sizes = tuple(sizes)
        self.native_fps = native_fps
        self.window_latents = window_latents
        self.default_steps = default_steps
        self.default_guidance = default_guidance
        if default_sampler not in SAMPLERS:
            raise PipelineError(f"unknown default sampler {default_sampler!r}; choose from {', '.join(sorted(SAMPLERS))}")
        self.default_sampler = default_sampler
        self.info = dict(info or {})
        self.prompt_extender = prompt_extender
        self.device = torch.device(device)
        self.dtype = dtype
        self._timings: dict[str, float] = {}

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str = "cpu", dtype: str | torch.dtype = "auto") -> CinegenPipeline:
        """Load a saved cinegen pipeline, or a diffusers-format Wan 2.1 text-to-video directory.

        dtype 'auto' picks bfloat16 where the hardware runs it fast (AMX / AVX512-BF16, CUDA), else float32.
        """
        from cinegen.models.loading import load_pipeline

        return load_pipeline(Path(path), device=device, dtype=dtype)

    def save_pretrained(self, path: str | Path) -> None:
        from cinegen.models.loading import save_pipeline

        save_pipeline(self, Path(path))

    # -- checks ---------------------------------------------------------------------------------------
    def check_inputs(self, prompt: str, seconds: float, fps: int, width: int, height: int, steps: int, guidance: float) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise PipelineError("prompt must be a non-empty string")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PipelineError(f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
        if not (isinstance(seconds, (int, float)) and 0 < seconds <= MAX_SECONDS):
            raise PipelineError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds!r}")
        if not (isinstance(fps, int) and MIN_FPS <= fps <= MAX_FPS):
            raise PipelineError(f"fps must be an integer in {MIN_FPS}..{MAX_FPS}, got {fps!r}")
        if (width, height) not in self.sizes:
            allowed = ", ".join(f"{w}x{h}" for w, h in self.sizes)
            raise PipelineError(f"size {width}x{height} is not one this model serves ({allowed}); no silent resize")
        if not (isinstance(steps, int) and 1 <= steps <= 200):
            raise PipelineError(f"steps must be an integer in 1..200, got {steps!r}")
        if not (0.0 <= guidance <= 30.0):
            raise PipelineError(f"guidance must be in [0, 30], got {guidance!r}")

    # -- text -------------------------------------------------------------------------------------------
    def _text(self, prompt: str, negative: str) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.encode_prompt([prompt, negative]).to(self.device, self.dtype)  # (2, L, D)
        return emb[:1], emb[1:]

    # -- the one denoising primitive ------------------------------------------------------------------
    def _window(
        self,
        text: torch.Tensor,
        uncond: torch.Tensor,
        n: int,
        width: int,
        height: int,
        generator: torch.Generator,
        sampling: Sampling,
        *,
        prefix: np.ndarray | None = None,
        suffix: np.ndarray | None = None,
        keyframes: dict[int, np.ndarray] | None = None,
        init: np.ndarray | None = None,
        strength: float = 1.0,
        cond_sigma: float = 0.0,
        progress: ProgressFn | None = None,
    ) -> torch.Tensor:
        """Denoise n latent frames. Returns latents (1, C, n, h, w)."""
        c, h, w = self.vae.latent_channels, height // 8, width // 8
        shape = (1, c, n, h, w)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device, self.dtype)
        cond_lat = torch.zeros(shape, device=self.device, dtype=self.dtype)
        mask = torch.zeros(n, dtype=torch.bool)
        if prefix is not None:  # 1 + 4a frames -> latents 0..a
            z = self._encode(prefix)
            a = z.shape[2]
            cond_lat[:, :, :a], mask[:a] = z, True
        if suffix is not None:  # 4b frames -> the last b latents (a throwaway first frame keeps the layout)
            z = self._encode(np.concatenate([suffix[:1], suffix]))[:, :, 1:]
            b = z.shape[2]
            cond_lat[:, :, n - b :], mask[n - b :] = z, True
        for j, image in (keyframes or {}).items():
            z = self._encode(np.repeat(image[None], 1 if j == 0 else 5, axis=0))
            cond_lat[:, :, j] = z[:, :, 0 if j == 0 else 1]
            mask[j] = True
        init_lat = self._encode(init) if init is not None else None
        tokens = n * (h // 2) * (w // 2)
        sigmas = make_sigmas(sampling.steps, shift=shift_for_tokens(tokens), start=strength if init_lat is not None else 1.0)
        cond = Conditioning(cond_lat, mask, cond_sigma) if mask.any() else None
        velocity = guided(self.model, text, uncond, sampling.guidance)
        solve = SAMPLERS[sampling.solver]
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            return solve(velocity, noise, sigmas, init=init_lat, cond=cond, callback=progress)

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        t = time.perf_counter()
        with torch.no_grad():
            z = self.vae.encode_video(frames_to_video(frames, self.device, self.dtype))
        self._timings["vae_encode"] = self._timings.get("vae_encode", 0.0) + time.perf_counter() - t
        return z

    def _decode(self, latents: torch.Tensor) -> np.ndarray:
        t = time.perf_counter()
        with torch.no_grad():
            frames = video_to_frames(self.vae.decode_video(latents))
        self._timings["vae_decode"] = self._timings.get("vae_decode", 0.0) + time.perf_counter() - t
        return frames

    # -- public entry ------------------------------------------------------------------------------------
    def _decode_new(self, latents: torch.Tensor, *, prefix: np.ndarray | None = None, suffix: np.ndarray | None = None) -> np.ndarray:
        """Decode a window and return only the frames it adds, with its joints hidden.

        The window's reconstructions of the pinned `prefix` / `suffix` frames are dropped, and each
        pinned frame's decode error is faded into the new frames beside it (`carry_residual`).
        """
        frames = self._decode(latents)
        a = 0 if prefix is None else len(prefix)
        b = len(frames) if suffix is None else len(frames) - len(suffix)
        new = frames[a:b]
        if prefix is not None:
            new = carry_residual(new, prefix[-1], frames[a - 1])
        if suffix is not None:
            new = carry_residual(new, suffix[0], frames[b], at_end=True)
        return new

    def __call__(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        seconds: float = 4.0,
        fps: int = 16,
        width: int = 128,
        height: int = 128,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        image: np.ndarray | None = None,
        keyframes: dict[float, np.ndarray] | None = None,
        extend: np.ndarray | None = None,
        extend_fps: float | None = None,
        direction: str = "forward",
        connect: tuple[np.ndarray, np.ndarray] | None = None,
        loop: bool = False,
        edit: np.ndarray | None = None,
        strength: float = 0.6,
        schedule: Sequence[ScheduleEntry] | None = None,
        still: bool = False,
        extend_prompt: bool = True,
        progress: ProgressFn | None = None,
    ) -> VideoOutput:
        """Generate a video. Exactly one of the mode inputs may be set (image and keyframes combine).

        Returns frames at `fps` covering `seconds` (for extend: only the new frames; for connect:
        the transition; for a loop: a clip whose last frame flows into its first). With
        `extend_prompt` (the default) a model that has a prompt extender sees its rewrite of the
        prompt (and of each schedule entry); `settings["model_prompt"]` records what it saw.
        """
        # 1. check inputs
        steps = self.default_steps if steps is None else steps
        guidance = self.default_guidance if guidance is None else guidance
        sampler = self.default_sampler if sampler is None else sampler
        if sampler not in SAMPLERS:
            raise PipelineError(f"unknown sampler {sampler!r}; choose from {', '.join(sorted(SAMPLERS))}")
        sampling = Sampling(steps, guidance, sampler)
        if still:
            seconds = 1.0 / self.native_fps
        self.check_inputs(prompt, seconds, fps, width, height, steps, guidance)
        modes = [m for m, v in (("extend", extend), ("connect", connect), ("edit", edit), ("schedule", schedule)) if v is not None]
        if loop:
            modes.append("loop")
        if len(modes) > 1:
            raise PipelineError(f"choose one mode, got {', '.join(modes)}")
        if not 0.0 <= strength <= 1.0:
            raise PipelineError(f"strength must be in [0, 1], got {strength!r}")
        if direction not in ("forward", "backward"):
            raise PipelineError(f"direction must be 'forward' or 'backward', got {direction!r}")
        if not isinstance(negative_prompt, str) or len(negative_prompt) > MAX_PROMPT_CHARS:
            raise PipelineError(f"negative_prompt must be a string of at most {MAX_PROMPT_CHARS} characters")
        timings: dict[str, float] = {}
        self._timings = timings  # per-call stage timings; _encode/_decode add to it
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(int(seed))
        total_frames = max(1, round(seconds * self.native_fps))

        # 2. extend and encode the prompt(s)
        extender = self.prompt_extender if extend_prompt else None

        def as_seen(p: str) -> str:  # what the model is given for prompt p
            return extender(p, int(seed)) if extender is not None else p

        model_prompt = as_seen(prompt)
        text, uncond = self._text(model_prompt, negative_prompt)
        sched_text: list[tuple[float, torch.Tensor]] = []
        if schedule is not None:
            _check_schedule(schedule, seconds)
            sched_text = [(e.start, self._text(as_seen(e.prompt), negative_prompt)[0]) for e in schedule]
        timings["text"] = time.perf_counter() - t0

        # 3. fit inputs to the request (documented rules: fit_image, fit_video, retime)
        def fit(v: np.ndarray, vfps: float | None) -> np.ndarray:
            return retime(fit_video(v, width, height), vfps or self.native_fps, self.native_fps)

        key_lat: dict[int, np.ndarray] = {}  # global frame index -> image
        if image is not None:
            key_lat[0] = fit_image(image, width, height)
        for t, img in (keyframes or {}).items():
            if not 0 <= t <= seconds:
                raise PipelineError(f"keyframe at {t}s is outside the clip (0..{seconds:g}s)")
            key_lat[min(round(t * self.native_fps), total_frames - 1)] = fit_image(img, width, height)

        # 4. denoise (window by window) and 5. decode
        t1 = time.perf_counter()
        if edit is not None:
            src = fit(edit, extend_fps)[:total_frames]  # the first `seconds` of the source are edited
            frames = self._edit(src, text, uncond, width, height, generator, sampling, strength, progress)
        elif connect is not None:
            a, b = fit(connect[0], extend_fps), fit(connect[1], extend_fps)
            frames = self._connect(a, b, total_frames, text, uncond, width, height, generator, sampling, progress)
        elif loop:
            frames = self._loop(total_frames, text, uncond, width, height, generator, sampling, key_lat, progress)
        elif extend is not None:
            src = fit(extend, extend_fps)
            if direction == "forward":
                frames = self._long(total_frames, text, uncond, width, height, generator, sampling, {}, progress, start=src)
            else:
                frames = self._backward(src, total_frames, text, uncond, width, height, generator, sampling, progress)
        else:
            frames = self._long(
                total_frames, text, uncond, width, height, generator, sampling, key_lat, progress, schedule=sched_text
            )
        timings["denoise_and_decode"] = time.perf_counter() - t1
        timings["denoise"] = timings["denoise_and_decode"] - timings.get("vae_decode", 0.0) - timings.get("vae_encode", 0.0)
        frames = retime(frames[:total_frames] if not loop else frames, self.native_fps, fps)
        if still:  # one frame at any fps (retiming a 1-frame clip to 24 fps would repeat it)
            frames = frames[:1]
        timings["total"] = time.perf_counter() - t0
        settings = {
            "prompt": prompt, "negative_prompt": negative_prompt, "seconds": seconds, "fps": fps, "size": f"{width}x{height}",
            "seed": seed, "steps": steps, "guidance": guidance, "sampler": sampler, "mode": modes[0] if modes else ("image" if image is not None else "text"),
            "model_prompt": model_prompt, "prompt_extender": extender.name if extender is not None else None,
        }
        return VideoOutput(frames=frames, fps=fps, seed=seed, timings=timings, settings=settings)

    # -- modes -----------------------------------------------------------------------------------------------
    def _long(
        self,
        total_frames: int,
        text: torch.Tensor,
        uncond: torch.Tensor,
        width: int,
        height: int,
        generator: torch.Generator,
        sampling: Sampling,
        keyframes: dict[int, np.ndarray],
        progress: ProgressFn | None,
        *,
        start: np.ndarray | None = None,
        schedule: list[tuple[float, torch.Tensor]] | None = None,
    ) -> np.ndarray:
        """Window-by-window generation of `total_frames` new frames.

        Each window after the first is pinned to the last 1 + 4(ov - 1) frames made so far (or of
        `start`, the clip being extended, whose frames are not returned). `keyframes` maps global
        frame indices to images. With `schedule`, each window uses the prompt active at its middle.
        """
        win, ov = self.window_latents, OVERLAP_LATENTS
        ctx_frames = 1 + 4 * (ov - 1)
        first_cover = 1 + 4 * (win - 1)
        per_window = 4 * (win - ov)
        if start is None:
            n_windows = 1 + math.ceil(max(0, total_frames - first_cover) / per_window)
        else:
            n_windows = math.ceil(total_frames / per_window)
        total_steps, done = sampling.steps * n_windows, 0

        def prog(i: int, n: int) -> None:
            if progress is not None:
                progress(done + i, total_steps)

        out: list[np.ndarray] = []
        produced = 0
        tail = None if start is None else (start[-ctx_frames:] if len(start) >= ctx_frames else start[-1:])
        while produced < total_frames:
            need = total_frames - produced
            if tail is None:
                n, g0, a, prefix = min(win, latents_for_frames(need)), 0, 0, None
            else:
                prefix = tail
                a = latents_for_frames(len(prefix))
                n = a + min(win - a, math.ceil(need / 4))
                g0 = produced - len(prefix)
            txt = text
            if schedule:
                mid = (produced + 2 * (n - a)) / self.native_fps
                for s_start, emb in schedule:
                    if mid >= s_start:
                        txt = emb
            kf: dict[int, np.ndarray] = {}
            for f, img in keyframes.items():
                local = (f - g0 + 3) // 4 if f - g0 > 0 else (0 if f == g0 else -1)
                if a <= local < n and (local > 0 or prefix is None):
                    kf[local] = img
            z = self._window(txt, uncond, n, width, height, generator, sampling, prefix=prefix, keyframes=kf, progress=prog)
            new = self._decode_new(z, prefix=prefix)
            out.append(new)
            produced += len(new)
            tail = np.concatenate([tail, new])[-ctx_frames:] if tail is not None else new[-ctx_frames:]
            done += sampling.steps
        return np.concatenate(out)[:total_frames]

    def _backward(
        self, src: np.ndarray, total_frames: int, text: torch.Tensor, uncond: torch.Tensor, width: int, height: int, generator: torch.Generator, sampling: Sampling,
        progress: ProgressFn | None,
    ) -> np.ndarray:
        """Frames that lead into `src`: windows grow backwards from its first frames."""
        win, ov = self.window_latents, OVERLAP_LATENTS
        ctx = 4 * ov  # suffix frames pinned at the end of each window
        out: list[np.ndarray] = []
        head = src[:ctx] if len(src) >= ctx else np.concatenate([src[:1]] * (ctx - len(src)) + [src])
        produced = 0
        while produced < total_frames:
            need = total_frames - produced
            new_lat = min(win - ov, latents_for_frames(need + 4) - 1)
            n = new_lat + ov
            z = self._window(text, uncond, n, width, height, generator, sampling, suffix=head, progress=progress)
            frames = self._decode_new(z, suffix=head)
            out.insert(0, frames)
            produced += len(frames)
            head = np.concatenate([*out, head])[:ctx]  # the first frames of what exists so far
        return np.concatenate(out)[-total_frames:]

    def _connect(
        self, a: np.ndarray, b: np.ndarray, total_frames: int, text: torch.Tensor, uncond: torch.Tensor, width: int, height: int, generator: torch.Generator, sampling: Sampling,
        progress: ProgressFn | None,
    ) -> np.ndarray:
        """A transition that starts where clip a ends and arrives where clip b starts.

        The last window is pinned at both ends; a transition longer than one window's free middle
        first extends clip a forward, window by window, and then lands on clip b.
        """
        ov = OVERLAP_LATENTS
        ctx_frames = 1 + 4 * (ov - 1)
        a_lat = latents_for_frames(min(len(a), ctx_frames))
        cap = 4 * max(1, self.window_latents - a_lat - ov)  # frames the landing window can add
        lead = np.zeros((0, *a.shape[1:]), np.uint8)
        if total_frames > cap:
            lead = self._long(total_frames - cap, text, uncond, width, height, generator, sampling, {}, progress, start=a)
            a = np.concatenate([a[-ctx_frames:], lead])
        pre = a[-ctx_frames:] if len(a) >= ctx_frames else a[-1:]
        suf_len = 4 * ov
        suf = b[:suf_len] if len(b) >= suf_len else np.concatenate([b[:1]] * (suf_len - len(b)) + [b])
        new = max(1, min(cap // 4, math.ceil((total_frames - len(lead)) / 4)))
        n = a_lat + new + ov
        z = self._window(text, uncond, n, width, height, generator, sampling, prefix=pre, suffix=suf, progress=progress)
        out = np.concatenate([lead, self._decode_new(z, prefix=pre, suffix=suf)])
        if len(out) != total_frames:  # windows add 4 frames at a time: resample, keeping both ends
            out = out[np.round(np.linspace(0, len(out) - 1, total_frames)).astype(int)]
        return out

    def _loop(
        self, total_frames: int, text: torch.Tensor, uncond: torch.Tensor, width: int, height: int, generator: torch.Generator, sampling: Sampling,
        keyframes: dict[int, np.ndarray], progress: ProgressFn | None,
    ) -> np.ndarray:
        """A clip whose last frame flows into its first: generate, then connect its end to its start."""
        k = max(1, min(3, (total_frames - 5) // 4))  # the bridge is 4k frames, so body + bridge == total_frames
        body_frames = max(1, total_frames - 4 * k)
        body = self._long(body_frames, text, uncond, width, height, generator, sampling, keyframes, progress)
        bridge = self._connect(body, body, total_frames - len(body), text, uncond, width, height, generator, sampling, progress)
        return np.concatenate([body, bridge])

    def _edit(
        self, src: np.ndarray, text: torch.Tensor, uncond: torch.Tensor, width: int, height: int, generator: torch.Generator, sampling: Sampling,
        strength: float, progress: ProgressFn | None,
    ) -> np.ndarray:
        """SDEdit: noise the source to `strength` and denoise toward the new prompt, window by window."""
        if strength == 0.0:
            return src
        T = len(src)
        n_all = latents_for_frames(T)
        padded = np.concatenate([src, np.repeat(src[-1:], 1 + 4 * (n_all - 1) - T, axis=0)])
        out: list[np.ndarray] = []
        win, ov = self.window_latents, OVERLAP_LATENTS
        ctx_frames = 1 + 4 * (ov - 1)
        pos = 0  # first frame of the current window in `padded`
        while True:
            remaining = len(padded) - pos
            n = min(win, latents_for_frames(remaining))
            seg = padded[pos : pos + 1 + 4 * (n - 1)]
            prefix = np.concatenate(out)[-ctx_frames:] if out else None
            z = self._window(text, uncond, n, width, height, generator, sampling, prefix=prefix, init=seg, strength=strength, progress=progress)
            out.append(self._decode_new(z, prefix=prefix))
            if pos + len(seg) >= len(padded):
                break
            pos += len(seg) - ctx_frames
        return np.concatenate(out)[:T]


def _check_schedule(schedule: Sequence[ScheduleEntry], seconds: float) -> None:
    if not schedule:
        raise PipelineError("schedule must have at least one entry")
    last = -1.0
    for e in schedule:
        if not e.prompt.strip():
            raise PipelineError(f"schedule entry at {e.start}s has an empty prompt")
        if e.start <= last:
            raise PipelineError(f"schedule times must increase without overlap; {e.start}s comes after {last}s")
        if not 0 <= e.start < seconds:
            raise PipelineError(f"schedule entry at {e.start}s is outside the clip (0..{seconds:g}s)")
        last = e.start


def pipeline_config(p: CinegenPipeline) -> dict[str, Any]:
    return {
        "sizes": [list(s) for s in p.sizes],
        "native_fps": p.native_fps,
        "window_latents": p.window_latents,
        "default_steps": p.default_steps,
        "default_guidance": p.default_guidance,
        "default_sampler": p.default_sampler,
        "prompt_extender": p.prompt_extender.name if p.prompt_extender is not None else None,
        "info": p.info,
    }
