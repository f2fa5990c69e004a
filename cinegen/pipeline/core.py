"""Prompt -> latents -> frames, for every generation mode. Reads like a diffusers pipeline.

Every mode is one primitive, `_window`: denoise N latent frames from text, with some latent
frames pinned clean (per-token timesteps) and optionally starting from a source video (SDEdit).
It is the one place that takes conditioning. Anchors are given in pixels and encoded by the
causal VAE in the layout training used:
  * a prefix of 1 + 4a frames  -> latents 0..a        (image-to-video, extend forward, windows)
  * a suffix of 4b frames      -> the last b latents  (extend backward, connect)
  * a keyframe image           -> one latent at its time
Clips longer than one window are generated window by window, each conditioned on the last
frames of the one before (pixel re-encoding keeps latent 0 a single-frame latent, as trained),
so time grows linearly with duration and memory stays flat. The mode helpers share one `_Call`
(the encoded text, size, generator, sampling and progress of this call).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cinegen.limits import MAX_FPS, MAX_GUIDANCE, MAX_PROMPT_CHARS, MAX_SECONDS, MAX_STEPS, MIN_FPS
from cinegen.models.traced import as_velocity
from cinegen.pipeline.frames import (
    carry_residual,
    fit_image,
    fit_video,
    frames_to_video,
    latents_for_frames,
    pin_frames,
    retime,
    video_to_frames,
)
from cinegen.pipeline.plans import PlanRequest, choose_plan
from cinegen.pipeline.quality import FULL, Quality, choose_sampling
from cinegen.pipeline.types import PipelineError, Sampling, ScheduleEntry, VideoOutput
from cinegen.sampling import SAMPLERS, Conditioning, guided, make_sigmas, shift_for_tokens

if TYPE_CHECKING:  # the component protocols: annotations only
    from cinegen.models.traced import TraceCache
    from cinegen.pipeline.types import (
        ProgressFn,
        PromptEncoder,
        PromptExtender,
        ShotPlanner,
        VideoAutoencoder,
    )

MODEL_FPS = 16  # the built-in model's native frame rate
WINDOW_LATENTS = 9  # 33 frames (about 2 s) per window
OVERLAP_LATENTS = 2  # 5 frames of context carried into the next window


@dataclass(frozen=True)
class _Call:
    """What every window of one call shares: the encoded prompt, the size, the seeded generator,
    how to sample, and the progress callback."""

    text: torch.Tensor  # (1, L, D) the prompt as the model sees it
    uncond: torch.Tensor  # (1, L, D) the negative prompt
    width: int
    height: int
    generator: torch.Generator
    sampling: Sampling
    progress: ProgressFn | None = None
    plan: Any = None  # the planner's plan over this call's output frames (None: text only)
    plan_origin: int = 0  # the plan frame of this part's frame 0 (a loop's bridge starts after its body)


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
        planner: ShotPlanner | None = None,
        plan_guidance: bool = True,
        students: dict[str, tuple[torch.nn.Module, Quality]] | None = None,
        default_quality: str = FULL,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.vae = vae
        self.transformer = transformer  # a torch module, or its trace (`TracedVelocity`, loaded from a cache)
        self.model = as_velocity(transformer)
        # the qualities this pipeline samples at: "full" (this transformer at the defaults) and students
        self.qualities = {FULL: Quality(FULL, default_steps, default_guidance, default_sampler)}
        self.models = {"transformer": self.model}
        for sub, (module, quality) in (students or {}).items():
            self.models[sub] = as_velocity(module)
            self.qualities[quality.name] = quality
        if default_quality not in self.qualities:
            raise PipelineError(f"default_quality {default_quality!r} is not one of {sorted(self.qualities)}")
        self.default_quality = default_quality
        self.encode_prompt = encode_prompt
        self.sizes = tuple(sizes)
        self.native_fps = native_fps
        self.window_latents = window_latents
        self.default_steps = default_steps
        self.default_guidance = default_guidance
        if default_sampler not in SAMPLERS:
            raise PipelineError(f"unknown default sampler {default_sampler!r}; choose from "
                                f"{', '.join(sorted(SAMPLERS))}")
        self.default_sampler = default_sampler
        self.info = dict(info or {})
        self.prompt_extender = prompt_extender
        self.planner = planner
        self.plan_guidance = plan_guidance  # guidance moves towards the plan too (its uncond pass has none)
        self.device = torch.device(device)
        self.dtype = dtype
        self._timings: dict[str, float] = {}

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str = "cpu",
                        dtype: str | torch.dtype = "auto",
                        traces: TraceCache | Path | None = None) -> CinegenPipeline:
        """Load a saved cinegen pipeline, or a diffusers-format Wan 2.1 text-to-video directory.

        dtype 'auto' picks bfloat16 where the hardware runs it fast (AMX / AVX512-BF16, CUDA), else float32.
        `traces`: a directory of TorchScript traces of the built-in model's networks (made there on
        first use), so later loads skip importing diffusers and transformers (models/traced.py).
        """
        from cinegen.pipeline.loading import load_pipeline

        return load_pipeline(cls, Path(path), device=device, dtype=dtype, traces=traces)

    def save_pretrained(self, path: str | Path) -> None:
        from cinegen.pipeline.loading import save_pipeline

        save_pipeline(self, Path(path))

    def config(self) -> dict[str, Any]:
        """The settings model_index.json records (the components are saved beside it)."""
        ext = self.prompt_extender
        return {
            "sizes": [list(s) for s in self.sizes],
            "native_fps": self.native_fps,
            "window_latents": self.window_latents,
            "default_steps": self.default_steps,
            "default_guidance": self.default_guidance,
            "default_sampler": self.default_sampler,
            "prompt_extender": f"{type(ext).__module__}:{ext.name}" if ext is not None else None,
            "planner": None if (pl := self.planner) is None else f"{type(pl).__module__}:{pl.name}",
            "plan_guidance": self.plan_guidance,
            "qualities": {k: q.to_dict() for k, q in self.qualities.items() if k != FULL},
            "default_quality": self.default_quality,
            "info": self.info,
        }

    # -- checks ---------------------------------------------------------------------------------------
    def check_inputs(self, prompt: str, seconds: float, fps: int, width: int, height: int, steps: int,
                     guidance: float) -> None:
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
            raise PipelineError(f"size {width}x{height} is not one this model serves ({allowed}); no silent "
                                "resize")
        if not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS):
            raise PipelineError(f"steps must be an integer in 1..{MAX_STEPS}, got {steps!r}")
        if not (0.0 <= guidance <= MAX_GUIDANCE):
            raise PipelineError(f"guidance must be in [0, {MAX_GUIDANCE:g}], got {guidance!r}")

    def _sampling(self, steps: int | None, guidance: float | None, sampler: str | None,
                  quality: str | None = None) -> Sampling:
        """The call's sampling: its quality's defaults where not given, checked against the quality."""
        return choose_sampling(self.qualities, self.default_quality, quality, steps, guidance, sampler,
                               tuple(SAMPLERS))[1]

    @staticmethod
    def _check_mode_inputs(modes: list[str], strength: float, direction: str, negative_prompt: str) -> None:
        if len(modes) > 1:
            raise PipelineError(f"choose one mode, got {', '.join(modes)}")
        if not 0.0 <= strength <= 1.0:
            raise PipelineError(f"strength must be in [0, 1], got {strength!r}")
        if direction not in ("forward", "backward"):
            raise PipelineError(f"direction must be 'forward' or 'backward', got {direction!r}")
        if not isinstance(negative_prompt, str) or len(negative_prompt) > MAX_PROMPT_CHARS:
            raise PipelineError(f"negative_prompt must be a string of at most {MAX_PROMPT_CHARS} characters")

    # -- text -------------------------------------------------------------------------------------------
    def _text(self, prompt: str, negative: str) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.encode_prompt([prompt, negative]).to(self.device, self.dtype)  # (2, L, D)
        return emb[:1], emb[1:]

    def _schedule_text(
        self, schedule: Sequence[ScheduleEntry] | None, seconds: float, negative: str,
        extender: PromptExtender | None,
        seed: int,
    ) -> list[tuple[float, torch.Tensor]]:
        """Each schedule entry's start and its prompt's embedding (extended like the main prompt)."""
        if schedule is None:
            return []
        _check_schedule(schedule, seconds)
        return [(e.start,
                 self._text(extender(e.prompt, seed) if extender is not None else e.prompt, negative)[0])
                for e in schedule]

    # -- the one denoising primitive ------------------------------------------------------------------
    def _window(
        self,
        call: _Call,
        n: int,
        *,
        first_frame: int = 0,
        text: torch.Tensor | None = None,
        prefix: np.ndarray | None = None,
        suffix: np.ndarray | None = None,
        keyframes: dict[int, np.ndarray] | None = None,
        init: np.ndarray | None = None,
        strength: float = 1.0,
        cond_sigma: float = 0.0,
        progress: ProgressFn | None = None,
    ) -> torch.Tensor:
        """Denoise n latent frames. Returns latents (1, C, n, h, w).

        `first_frame` is the frame of this call's output that latent 0 stands for (negative for pinned context
        before it): the plan's layout is taken from there. `text` overrides the call's prompt
        embedding (a schedule's entry); `progress` the call's callback.
        """
        c, h, w = self.vae.latent_channels, call.height // 8, call.width // 8
        shape = (1, c, n, h, w)
        noise = torch.randn(shape, generator=call.generator, dtype=torch.float32).to(self.device, self.dtype)
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
        start = strength if init_lat is not None else 1.0
        sigmas = make_sigmas(call.sampling.steps, shift=shift_for_tokens(tokens), start=start)
        cond = Conditioning(cond_lat, mask, cond_sigma) if mask.any() else None
        layout = uncond_layout = None
        if call.plan is not None and self.planner is not None:
            first = call.plan_origin + first_frame
            lay = self.planner.layout(call.plan, first, n, call.width, call.height)  # (Cl, n, h, w)
            layout = lay[None].to(self.device, self.dtype)  # (1, Cl, n, h, w)
            uncond_layout = torch.zeros_like(layout) if self.plan_guidance else layout
        velocity = guided(self.models[call.sampling.transformer], call.text if text is None else text,
                          call.uncond, call.sampling.guidance, layout=layout, uncond_layout=uncond_layout)
        solve = SAMPLERS[call.sampling.solver]
        bf16 = self.dtype == torch.bfloat16
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            return solve(velocity, noise, sigmas, init=init_lat, cond=cond,
                         callback=progress or call.progress)

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        t = time.perf_counter()
        with torch.no_grad():
            z = self.vae.encode_video(frames_to_video(frames, self.device, self.dtype))
        self._timings["vae_encode"] = self._timings.get("vae_encode", 0.0) + time.perf_counter() - t
        return z

    def _decode(self, latents: torch.Tensor, skip: int = 0) -> np.ndarray:
        t = time.perf_counter()
        with torch.no_grad():
            frames = video_to_frames(self.vae.decode_video(latents, skip=skip))
        self._timings["vae_decode"] = self._timings.get("vae_decode", 0.0) + time.perf_counter() - t
        return frames

    def _decode_new(self, latents: torch.Tensor, *, prefix: np.ndarray | None = None,
                    suffix: np.ndarray | None = None) -> np.ndarray:
        """Decode a window and return only the frames it adds, with its joints hidden.

        The window's reconstructions of the pinned `prefix` / `suffix` frames are dropped (those of
        the prefix, all but its last, are never decoded), and each pinned frame's decode error is
        faded into the new frames beside it (`carry_residual`).
        """
        skip = 0 if prefix is None else len(prefix) - 1  # keep the last pinned frame's reconstruction
        frames = self._decode(latents, skip=skip)
        a = 0 if prefix is None else 1
        b = len(frames) if suffix is None else len(frames) - len(suffix)
        new = frames[a:b]
        if prefix is not None:
            new = carry_residual(new, prefix[-1], frames[0])
        if suffix is not None:
            new = carry_residual(new, suffix[0], frames[b], at_end=True)
        return new

    # -- public entry ------------------------------------------------------------------------------------
    def __call__(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        seconds: float = 4.0, fps: int = 16, width: int = 128, height: int = 128, seed: int = 0,
        steps: int | None = None, guidance: float | None = None, sampler: str | None = None,
        quality: str | None = None,
        image: np.ndarray | None = None, keyframes: dict[float, np.ndarray] | None = None,
        extend: np.ndarray | None = None, extend_fps: float | None = None, direction: str = "forward",
        connect: tuple[np.ndarray, np.ndarray] | None = None, loop: bool = False,
        edit: np.ndarray | None = None, strength: float = 0.6,
        schedule: Sequence[ScheduleEntry] | None = None, still: bool = False, extend_prompt: bool = True,
        plan: Any = None, use_plan: bool = True, path: Sequence[tuple[float, float]] | None = None,
        progress: ProgressFn | None = None,
    ) -> VideoOutput:
        """Generate a video; at most one mode input may be set (image and keyframes combine).

        Returns frames at `fps` covering `seconds` (extend: only the new frames; connect: the
        transition; loop: a clip whose last frame flows into its first). With `extend_prompt` a
        model's prompt extender rewrites the prompt and schedule entries (`settings["model_prompt"]`).
        The caller names the mode (`cinegen.generate` records it); the pipeline refuses two at once.
        A model with a planner renders a plan (`plan`, else the planner's, moved along `path`;
        `use_plan=False` for text only; rules in pipeline/plans.py); `settings["plan"]` records it.
        """
        # 1. check inputs
        sampling = self._sampling(steps, guidance, sampler, quality)
        seconds = 1.0 / self.native_fps if still else seconds
        self.check_inputs(prompt, seconds, fps, width, height, sampling.steps, sampling.guidance)
        given = (("extend", extend), ("connect", connect), ("edit", edit), ("schedule", schedule),
                 ("loop", loop or None))
        self._check_mode_inputs([m for m, v in given if v is not None], strength, direction, negative_prompt)
        timings: dict[str, float] = {}
        self._timings = timings  # per-call stage timings; _encode/_decode add to it
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(int(seed))
        total_frames = max(1, round(seconds * self.native_fps))

        # 2. extend and encode the prompt(s)
        extender = self.prompt_extender if extend_prompt else None
        model_prompt = extender(prompt, int(seed)) if extender is not None else prompt
        text, uncond = self._text(model_prompt, negative_prompt)
        sched_text = self._schedule_text(schedule, seconds, negative_prompt, extender, int(seed))
        timings["text"] = time.perf_counter() - t0

        # 3. fit inputs to the request (documented rules: fit_image, fit_video, retime)
        fit = functools.partial(self._fit_clip, width=width, height=height, fps=extend_fps)
        pinned = self._pinned_images(image, keyframes, seconds, total_frames, width, height)
        source = extend if extend is not None else edit
        src = fit(source) if source is not None else None
        pair = (fit(connect[0]), fit(connect[1])) if connect is not None else None

        # 4. plan: where each object goes, frame by frame
        inputs = {"image": pinned.get(0), "extend": src if extend is not None else None,
                  "direction": direction, "connect": pair, "edit": edit,
                  "loop_bridge": _loop_bridge(total_frames) if loop else 0}
        request = PlanRequest(plan, use_plan, path)
        shot_plan = choose_plan(self.planner, self.model.layout_channels > 0, request,
                                prompt=prompt, seconds=total_frames / self.native_fps, fps=self.native_fps,
                                seed=int(seed), width=width, height=height, mode_inputs=inputs)
        call = _Call(text, uncond, width, height, generator, sampling, progress, shot_plan)

        # 5. denoise (window by window) and 6. decode
        t1 = time.perf_counter()
        frames = self._render(call, total_frames, pinned, src=src, edit=edit is not None, pair=pair,
                              loop=loop, direction=direction, strength=strength, schedule=sched_text)
        timings["denoise_and_decode"] = time.perf_counter() - t1
        coding = timings.get("vae_decode", 0) + timings.get("vae_encode", 0)
        timings["denoise"] = timings["denoise_and_decode"] - coding
        frames = retime(frames[:total_frames] if not loop else frames, self.native_fps, fps)
        if still:  # one frame at any fps (retiming a 1-frame clip to 24 fps would repeat it)
            frames = frames[:1]
        timings["total"] = time.perf_counter() - t0
        settings = {"prompt": prompt, "negative_prompt": negative_prompt, "seconds": seconds, "fps": fps,
                    "size": f"{width}x{height}", "seed": seed, "steps": sampling.steps,
                    "guidance": sampling.guidance, "sampler": sampling.solver,
                    "quality": quality or self.default_quality, "model_prompt": model_prompt,
                    "prompt_extender": extender.name if extender is not None else None,
                    "plan": self.planner.to_dict(call.plan) if call.plan and self.planner else None}
        return VideoOutput(frames=frames, fps=fps, seed=seed, timings=timings, settings=settings)

    def _render(
        self, call: _Call, total_frames: int, pinned: dict[int, np.ndarray], *, src: np.ndarray | None,
        edit: bool,
        pair: tuple[np.ndarray, np.ndarray] | None, loop: bool, direction: str, strength: float,
        schedule: list[tuple[float, torch.Tensor]],
    ) -> np.ndarray:
        """Denoise and decode in the mode the inputs name: the new frames (T, H, W, 3) uint8."""
        if edit and src is not None:  # the first `seconds` of the source are edited
            return self._edit(call, src[:total_frames], strength)
        if pair is not None:
            return self._connect(call, pair[0], pair[1], total_frames)
        if loop:
            return self._loop(call, total_frames, pinned)
        if src is not None and direction == "forward":
            return self._forward(call, total_frames, {}, start=src)
        if src is not None:
            return self._backward(call, src, total_frames)
        return self._forward(call, total_frames, pinned, schedule=schedule)

    def _fit_clip(self, v: np.ndarray, *, width: int, height: int, fps: float | None) -> np.ndarray:
        """A source clip fitted to the size and retimed from its `fps` to the model's."""
        return retime(fit_video(v, width, height), fps or self.native_fps, self.native_fps)

    def _pinned_images(
        self, image: np.ndarray | None, keyframes: dict[float, np.ndarray] | None, seconds: float,
        total_frames: int,
        width: int, height: int,
    ) -> dict[int, np.ndarray]:
        """The images to pin, by global frame index: `image` at frame 0, each keyframe at its time."""
        pinned: dict[int, np.ndarray] = {}
        if image is not None:
            pinned[0] = fit_image(image, width, height)
        for t, img in (keyframes or {}).items():
            if not 0 <= t <= seconds:
                raise PipelineError(f"keyframe at {t}s is outside the clip (0..{seconds:g}s)")
            pinned[min(round(t * self.native_fps), total_frames - 1)] = fit_image(img, width, height)
        return pinned

    # -- modes -----------------------------------------------------------------------------------------------
    def _forward(
        self,
        call: _Call,
        total_frames: int,
        keyframes: dict[int, np.ndarray],
        *,
        start: np.ndarray | None = None,
        schedule: list[tuple[float, torch.Tensor]] | None = None,
    ) -> np.ndarray:
        """Window-by-window generation of `total_frames` new frames, forward in time.

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
        total_steps, done = call.sampling.steps * n_windows, 0

        def prog(i: int, n: int) -> None:
            if call.progress is not None:
                call.progress(done + i, total_steps)

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
            txt = None
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
            z = self._window(call, n, first_frame=g0, text=txt, prefix=prefix, keyframes=kf, progress=prog)
            new = self._decode_new(z, prefix=prefix)
            # pinned images come back exactly as given
            new = pin_frames(new, {f - produced: img for f, img in keyframes.items()
                                   if produced <= f < produced + len(new)})
            out.append(new)
            produced += len(new)
            tail = np.concatenate([tail, new])[-ctx_frames:] if tail is not None else new[-ctx_frames:]
            done += call.sampling.steps
        return np.concatenate(out)[:total_frames]

    def _backward(self, call: _Call, src: np.ndarray, total_frames: int) -> np.ndarray:
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
            z = self._window(call, n, first_frame=total_frames - produced - (4 * new_lat - 3), suffix=head)
            frames = self._decode_new(z, suffix=head)
            out.insert(0, frames)
            produced += len(frames)
            head = np.concatenate([*out, head])[:ctx]  # the first frames of what exists so far
        return np.concatenate(out)[-total_frames:]

    def _connect(self, call: _Call, a: np.ndarray, b: np.ndarray, total_frames: int) -> np.ndarray:
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
            lead = self._forward(call, total_frames - cap, {}, start=a)
            a = np.concatenate([a[-ctx_frames:], lead])
        pre = a[-ctx_frames:] if len(a) >= ctx_frames else a[-1:]
        suf_len = 4 * ov
        suf = b[:suf_len] if len(b) >= suf_len else np.concatenate([b[:1]] * (suf_len - len(b)) + [b])
        new = max(1, min(cap // 4, math.ceil((total_frames - len(lead)) / 4)))
        n = a_lat + new + ov
        z = self._window(call, n, first_frame=len(lead) - len(pre), prefix=pre, suffix=suf)
        out = np.concatenate([lead, self._decode_new(z, prefix=pre, suffix=suf)])
        if len(out) != total_frames:  # windows add 4 frames at a time: resample, keeping both ends
            out = out[np.round(np.linspace(0, len(out) - 1, total_frames)).astype(int)]
        return out

    def _loop(self, call: _Call, total_frames: int, keyframes: dict[int, np.ndarray]) -> np.ndarray:
        """A clip whose last frame flows into its first: generate, then connect its end to its start."""
        body_frames = max(1, total_frames - _loop_bridge(total_frames))
        body = self._forward(call, body_frames, keyframes)
        bridge = self._connect(replace(call, plan_origin=len(body)), body, body, total_frames - len(body))
        return np.concatenate([body, bridge])

    def _edit(self, call: _Call, src: np.ndarray, strength: float) -> np.ndarray:
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
            z = self._window(call, n, first_frame=pos, prefix=prefix, init=seg, strength=strength)
            out.append(self._decode_new(z, prefix=prefix))
            if pos + len(seg) >= len(padded):
                break
            pos += len(seg) - ctx_frames
        return np.concatenate(out)[:T]


def _loop_bridge(total_frames: int) -> int:
    """Frames of a loop's bridge back to its start: 4k, so body + bridge == total_frames."""
    return 4 * max(1, min(3, (total_frames - 5) // 4))


def _check_schedule(schedule: Sequence[ScheduleEntry], seconds: float) -> None:
    if not schedule:
        raise PipelineError("schedule must have at least one entry")
    last = -1.0
    for e in schedule:
        if not e.prompt.strip():
            raise PipelineError(f"schedule entry at {e.start}s has an empty prompt")
        if e.start <= last:
            raise PipelineError(f"schedule times must increase without overlap; {e.start}s comes after "
                                f"{last}s")
        if not 0 <= e.start < seconds:
            raise PipelineError(f"schedule entry at {e.start}s is outside the clip (0..{seconds:g}s)")
        last = e.start

