"""The real model behind the service: `CinegenPipeline` as a job backend, through `cinegen.generate`.

Loaded once per worker process (or Ray actor) with `backend_options` as keyword arguments:

    cinegen serve --backend pipeline --backend-option model_dir=weights/backlot-v1 \\
                  --backend-option device=cuda --backend-option dtype=bfloat16

or with several named models (`cinegen serve --model backlot=weights/backlot-v1 --model wan=/m/wan`),
each job rendered by the one its spec names. The service's switch settings (`--vae-tiling`,
`CINEGEN_CACHE`, ...) arrive as `switches` and are applied to the open-family models only: the
built-in model takes none (the service refused to start if no served model could use them).

Each job becomes one `GenerateRequest` (`JobSpec.request()`) and one call of the shared
`generate` (the mode's inputs, the pipeline call and the provenance record live there, the same
for the CLI and the studio); moderation already happened at the HTTP edge. The pipeline's
per-step callback reports progress and is where a cancel lands (`JobCancelled` unwinds the
denoising loop). For `extend` the published video is the source followed by the new frames.
On a CPU each job runs on the cores other processes left idle (cpu_share.JobThreads, as the CLI
does; `OMP_NUM_THREADS` fixes the count) and records its thread count in the job's metadata.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cinegen.cpu_share import JobThreads
from cinegen.mode import SERVICE_MODES
from cinegen.service.backends import BackendError, JobCancelled, JobSpec, VideoResult

if TYPE_CHECKING:
    from cinegen.families.switches import Switches

DEFAULT_MODEL_DIR = "weights/backlot-v1"


class PipelineBackend:
    """Models serving jobs: the default model loaded (and warmed) at start, others on their first job;
    at most `max_loaded` stay loaded per worker (the least recently used is dropped). One job at a time."""

    SIZES: ClassVar[tuple[str, ...]] = ("128x128", "176x96", "96x176")  # the shipped model's sizes
    MODES: ClassVar[tuple[str, ...]] = tuple(str(m) for m in SERVICE_MODES)

    def __init__(self, model_dir: str | None = None, device: str = "cpu", dtype: str = "auto",
                 models: dict[str, str] | None = None, max_loaded: int = 2,
                 switches: Switches | None = None) -> None:
        from cinegen import paths

        if models and model_dir:
            raise ValueError("give the backend either model_dir or models, not both")
        named = models or {"": model_dir or DEFAULT_MODEL_DIR}
        self.paths = {name: paths.model_dir(p) for name, p in named.items()}
        for path in self.paths.values():
            if not (path / "model_index.json").exists():
                raise FileNotFoundError(f"no model at {path} (model_index.json is missing); pass "
                                        f"--backend-option model_dir=PATH or --model NAME=PATH")
        self.device, self.dtype, self.max_loaded = device, dtype, max(1, max_loaded)
        self.switches = switches
        self.default = next(iter(self.paths))
        self.loaded: OrderedDict[str, Any] = OrderedDict()
        self.model = self._model(self.default)
        self.pipe = self.model.pipe  # the default model, loaded once, now
        self.info: dict[str, Any] = {"model_name": self.model.name, "model_version": self.model.version}
        import torch

        shared = device == "cpu" and "OMP_NUM_THREADS" not in os.environ
        self.threads = JobThreads(torch.get_num_threads()) if shared else None

    @property
    def model_dir(self) -> Path:
        return self.paths[self.default]

    def _model(self, name: str) -> Any:
        """The named model (loaded, warmed up and kept on first use; "" is the default)."""
        from cinegen.generate import Model

        single = len(self.paths) == 1 and self.default == ""  # one unnamed model serves every name
        key = self.default if single or not name else name
        if key not in self.paths:
            raise BackendError("unknown_model", f"this worker serves {', '.join(self.paths)}, not {name!r}")
        if key in self.loaded:
            self.loaded.move_to_end(key)
            return self.loaded[key]
        switches = self.switches if _is_family(self.paths[key]) else None
        model = Model(self.paths[key], device=self.device, dtype=self.dtype, switches=switches)
        pipe = model.pipe
        from cinegen.pipeline import CinegenPipeline

        if isinstance(pipe, CinegenPipeline):  # an open family has no cheap warm-up call (not all do stills)
            # one tiny call, so the first job does not pay first-call allocations and kernel selection
            w, h = pipe.sizes[0]
            pipe("warm up", seconds=1.0, width=w, height=h, steps=1, still=True, extend_prompt=False,
                 use_plan=False)
        self.loaded[key] = model
        while len(self.loaded) > self.max_loaded:
            self.loaded.popitem(last=False)
        return model

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

        threads = self._share_cpu()
        try:
            model = self._model(job.model)
            done = generate(model, job.request(), out_path, publish=job.publish_options(),
                            progress=on_step, before_publish=before_publish)
        except GenerateError as e:  # bad input for this model: permanent, not retried
            raise BackendError(e.code, e.message) from None
        finally:
            self._restore_threads()
        progress(1.0)
        if done.settings.get("plan"):  # readable at GET /v1/videos/{id}/plan
            from cinegen.service.plans import write_plan

            write_plan(out_path, done.settings["plan"])
        w, h = job.size
        info = {"model_name": model.name, "model_version": model.version, "prompt": job.prompt,
                "model_prompt": done.settings.get("model_prompt", job.prompt)}
        if threads is not None:
            info["threads"] = threads
        return VideoResult(out_path, len(done.frames), done.fps, w, h, info, timings=done.timings)

    def _share_cpu(self) -> int | None:
        """Threads for this job: the cores other processes left idle (None: not shared, left as set)."""
        if self.threads is None:
            return None
        import torch

        keep = self.threads.for_next_job()
        torch.set_num_threads(keep)
        return keep

    def _restore_threads(self) -> None:
        """Back to the count the worker started with: a job's share never outlives the job."""
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads.most)


def _is_family(path: Path) -> bool:
    """An open family's directory (the switches apply to it); a directory no family reads is left
    to the load to report."""
    from cinegen.families.registry import recognise

    try:
        return recognise(path) is not None
    except (FileNotFoundError, ValueError):
        return False
