"""The real model behind the service: `CinegenPipeline` as a job backend.

Loaded once per worker process (or Ray actor) with `backend_options` as keyword arguments:

    cinegen serve --backend pipeline --backend-option model_dir=weights/backlot-v1 \\
                  --backend-option device=cuda --backend-option dtype=bfloat16

Each job maps onto one pipeline call (modes below); the pipeline's per-step callback reports
progress and is where a cancel lands (`JobCancelled` unwinds the denoising loop). Frames go out
through `publish_frames` with the model's training-data declaration for the C2PA manifest.

| job mode  | pipeline call                                                                  |
|-----------|--------------------------------------------------------------------------------|
| text      | `pipe(prompt, seconds=, fps=, width=, height=, seed=)`                          |
| image     | `image=` the uploaded reference                                                 |
| extend    | `extend=` the source at its own fps; the result is the source then new frames   |
| connect   | `connect=(first source, second source)`: the transition between them            |
| loop      | `loop=True`; a source video, when given, is ignored beyond its prompt context   |
| edit      | `edit=` the source, `strength` (default 0.6)                                    |
| remix     | an edit of the source with the new prompt, the source's seed, strength 0.6      |
| keyframes | `keyframes=` the first frame of each source, spread evenly over the clip        |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cinegen.service.backends import BackendError, JobCancelled, JobSpec, VideoResult, publish_frames

DEFAULT_MODEL_DIR = "weights/backlot-v1"
DEFAULT_STRENGTH = 0.6


def resolve_model_dir(model_dir: str | None) -> Path:
    """`model_dir` as given if it exists; a relative path is also tried against the repository
    (the directory above the `cinegen` package), where the shipped weights live."""
    p = Path(model_dir or DEFAULT_MODEL_DIR).expanduser()
    if p.is_absolute() or p.exists():
        return p
    repo = Path(__file__).resolve().parents[2]
    return repo / p if (repo / p).exists() else p


class PipelineBackend:
    """`CinegenPipeline` serving jobs: one model load per worker, one job at a time."""

    SIZES: ClassVar[tuple[str, ...]] = ("128x128", "176x96", "96x176")  # the shipped model's sizes
    MODES: ClassVar[tuple[str, ...]] = ("text", "image", "extend", "connect", "loop", "edit", "remix", "keyframes")

    def __init__(self, model_dir: str | None = None, device: str = "cpu", dtype: str = "auto") -> None:
        from cinegen.pipeline import CinegenPipeline
        from cinegen.trust.licences import declaration_for

        self.model_dir = resolve_model_dir(model_dir)
        if not (self.model_dir / "model_index.json").exists():
            raise FileNotFoundError(f"no model at {self.model_dir} (model_index.json is missing); "
                                    f"pass --backend-option model_dir=PATH")
        self.pipe = CinegenPipeline.from_pretrained(self.model_dir, device=device, dtype=dtype)
        info = self.pipe.info
        self.info: dict[str, Any] = {
            "model_name": str(info.get("name") or self.model_dir.name),
            "model_version": str(info.get("version") or "0"),
            "training_data": declaration_for(self.model_dir),
        }

    def generate(
        self,
        job: JobSpec,
        out_path: Path,
        progress: Callable[[float], None],
        should_cancel: Callable[[], bool],
    ) -> VideoResult:
        from cinegen.pipeline import PipelineError

        # 1. check the job against what this model serves
        w, h = job.size
        if (w, h) not in self.pipe.sizes:
            served = ", ".join(f"{a}x{b}" for a, b in self.pipe.sizes)
            raise BackendError("invalid_size", f"this model renders {served}, not {w}x{h}")
        if job.mode not in self.MODES:
            raise BackendError("invalid_mode", f"this backend does not serve mode {job.mode!r}")

        def on_step(i: int, n: int) -> None:
            if should_cancel():
                raise JobCancelled(job.id)
            progress(min(1.0, i / max(1, n)))

        # 2. the mode's inputs
        kwargs = self._mode_inputs(job)
        prefix = kwargs.pop("_prefix", None)
        # 3. generate
        try:
            out = self.pipe(
                job.prompt, negative_prompt=job.negative_prompt, seconds=float(job.seconds), fps=job.fps,
                width=w, height=h, seed=job.seed, steps=job.steps, guidance=job.guidance,
                extend_prompt=job.extend_prompt, progress=on_step, **kwargs,
            )
        except PipelineError as e:  # bad arguments for this model: permanent, not retried
            raise BackendError("invalid_request", str(e)) from None
        frames = out.frames if prefix is None else np.concatenate([prefix, out.frames])
        if should_cancel():
            raise JobCancelled(job.id)
        # 4. publish (watermark + C2PA under the service's default)
        info = {**self.info, "prompt": job.prompt, "model_prompt": out.settings.get("model_prompt", job.prompt)}
        publish_frames(frames, job.fps, out_path, job=job, info=info)
        progress(1.0)
        return VideoResult(out_path, len(frames), job.fps, w, h, {k: v for k, v in info.items() if k != "training_data"})

    def _mode_inputs(self, job: JobSpec) -> dict[str, Any]:
        """Pipeline keyword arguments for the job's mode (plus `_prefix`: frames to put before the result)."""
        from cinegen.media import MediaError, read_image, read_video
        from cinegen.pipeline import fit_video, retime

        def source(i: int) -> tuple[np.ndarray, float]:
            if i >= len(job.source_videos):
                raise BackendError("missing_source_video", f"mode {job.mode!r} needs {i + 1} source video(s)")
            try:
                return read_video(job.source_videos[i])
            except MediaError as e:
                raise BackendError("source_unavailable", f"source video {i} cannot be read: {e}") from None

        kwargs: dict[str, Any] = {}
        if job.input_reference is not None:
            try:
                image = read_image(job.input_reference)
            except MediaError as e:
                raise BackendError("input_unavailable", f"input_reference cannot be read: {e}") from None
            if job.mode in ("text", "image", "loop", "keyframes"):
                kwargs["image"] = image
        mode = job.mode
        if mode == "image" and "image" not in kwargs:
            raise BackendError("missing_input_reference", "mode 'image' needs an input_reference")
        if mode == "extend":
            src, fps = source(0)
            kwargs.update(extend=src, extend_fps=fps)
            w, h = job.size
            kwargs["_prefix"] = retime(fit_video(src, w, h), fps, job.fps)  # the result is the whole clip
        elif mode == "connect":
            (a, fa), (b, _fb) = source(0), source(1)
            if len(job.source_videos) > 2:
                raise BackendError("invalid_request", "connect takes exactly two source videos")
            kwargs.update(connect=(a, b), extend_fps=fa)
        elif mode == "loop":
            kwargs["loop"] = True
        elif mode in ("edit", "remix"):
            src, fps = source(0)
            kwargs.update(edit=src, extend_fps=fps,
                          strength=job.strength if job.strength is not None else DEFAULT_STRENGTH)
        elif mode == "keyframes":
            frames = [source(i)[0][0] for i in range(len(job.source_videos))]
            if not frames:
                raise BackendError("missing_source_video", "keyframes needs at least one source video")
            times = np.linspace(0.0, float(job.seconds), num=len(frames) + (1 if "image" in kwargs else 0))
            times = times[1:] if "image" in kwargs else times
            kwargs["keyframes"] = {float(t): f for t, f in zip(times, frames, strict=True)}
        return kwargs
