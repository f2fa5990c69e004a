"""The real model behind the service: `CinegenPipeline` as a job backend, through `cinegen.generate`.

Loaded once per worker process (or Ray actor) with `backend_options` as keyword arguments:

    cinegen serve --backend pipeline --backend-option model_dir=weights/backlot-v1 \\
                  --backend-option device=cuda --backend-option dtype=bfloat16

Each job becomes one `GenerateRequest` (`JobSpec.request()`) and one call of the shared
`generate` (the mode's inputs, the pipeline call and the provenance record live there, the same
for the CLI and the studio); moderation already happened at the HTTP edge. The pipeline's
per-step callback reports progress and is where a cancel lands (`JobCancelled` unwinds the
denoising loop). For `extend` the published video is the source followed by the new frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from cinegen.mode import SERVICE_MODES
from cinegen.service.backends import BackendError, JobCancelled, JobSpec, VideoResult

DEFAULT_MODEL_DIR = "weights/backlot-v1"


class PipelineBackend:
    """`CinegenPipeline` serving jobs: one model load per worker, one job at a time."""

    SIZES: ClassVar[tuple[str, ...]] = ("128x128", "176x96", "96x176")  # the shipped model's sizes
    MODES: ClassVar[tuple[str, ...]] = tuple(str(m) for m in SERVICE_MODES)

    def __init__(self, model_dir: str | None = None, device: str = "cpu", dtype: str = "auto") -> None:
        from cinegen import paths
        from cinegen.generate import Model

        self.model_dir = paths.model_dir(model_dir or DEFAULT_MODEL_DIR)
        if not (self.model_dir / "model_index.json").exists():
            raise FileNotFoundError(f"no model at {self.model_dir} (model_index.json is missing); "
                                    f"pass --backend-option model_dir=PATH")
        self.model = Model(self.model_dir, device=device, dtype=dtype)
        self.pipe = self.model.pipe  # loaded once, now
        w, h = self.pipe.sizes[0]
        # one tiny call, so the first job does not pay first-call allocations and kernel selection
        self.pipe("warm up", seconds=1.0, width=w, height=h, steps=1, still=True, extend_prompt=False,
                  use_plan=False)
        self.info: dict[str, Any] = {"model_name": self.model.name, "model_version": self.model.version}

    def generate(
        self,
        job: JobSpec, out_path: Path, progress: Callable[[float], None], should_cancel: Callable[[], bool]
    ) -> VideoResult:
        from cinegen.generate import GenerateError, generate

        if job.mode not in self.MODES:
            raise BackendError("invalid_mode", f"this backend does not serve mode {job.mode!r}")

        def on_step(i: int, n: int) -> None:
            if should_cancel():
                raise JobCancelled(job.id)
            progress(min(1.0, i / max(1, n)))

        def before_publish() -> None:
            if should_cancel():
                raise JobCancelled(job.id)

        try:
            done = generate(self.model, job.request(), out_path, publish=job.publish_options(),
                            progress=on_step, before_publish=before_publish)
        except GenerateError as e:  # bad input for this model: permanent, not retried
            raise BackendError(e.code, e.message) from None
        progress(1.0)
        if done.settings.get("plan"):  # readable at GET /v1/videos/{id}/plan
            from cinegen.service.plans import write_plan

            write_plan(out_path, done.settings["plan"])
        w, h = job.size
        info = {**self.info, "prompt": job.prompt,
                "model_prompt": done.settings.get("model_prompt", job.prompt)}
        return VideoResult(out_path, len(done.frames), done.fps, w, h, info, timings=done.timings)
