"""The backend protocol: what a worker calls to turn one job into one MP4.

A backend is loaded lazily, once per worker process (or Ray actor), by name (`fake`, `pipeline`),
and then serves one job at a time:

    result = backend.generate(job, out_path, progress=lambda f: ..., should_cancel=lambda: ...)

`progress(f)` takes a fraction in [0, 1]; `should_cancel()` turns True when the job was cancelled
or deleted (raise `JobCancelled` then). The backend writes the finished video to `out_path` through
`publish_frames` (the one place where frames become a published file), and returns a `VideoResult`.
Raise `BackendError(code, message)` for a permanent failure of this job (bad input, moderation);
any other exception counts as a transient failure and the job is retried (bounded attempts).

Which sizes and modes a backend serves is declared on its class (`SIZES`, `MODES`), so the API can
validate requests without loading a model.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from cinegen.errors import CodedError
from cinegen.mode import SERVICE_MODES
from cinegen.service.jobspec import JobSpec

__all__ = ["BackendError", "JobCancelled", "JobSpec", "VideoResult", "VideoBackend", "publish_frames"]


class BackendError(CodedError):
    """A permanent failure of one job: it is not retried. `code` becomes `error.code`."""


class JobCancelled(Exception):
    """Raised by a backend when `should_cancel()` turned True."""


@dataclass(frozen=True)
class VideoResult:
    """What a backend made: the published file and its shape."""

    path: Path
    num_frames: int
    fps: int
    width: int
    height: int
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (`cinegen.generate`)


class VideoBackend(Protocol):
    SIZES: ClassVar[tuple[str, ...]]  # sizes ("WxH") this backend renders
    MODES: ClassVar[tuple[str, ...]]  # generation modes it serves

    def generate(
        self,
        job: JobSpec, out_path: Path, progress: Callable[[float], None], should_cancel: Callable[[], bool]
    ) -> VideoResult: ...


# ----------------------------------------------------------------------------- output finishing
def publish_frames(
    frames: Iterable[np.ndarray] | np.ndarray, fps: int, out_path: Path, *, job: JobSpec, info: dict[str, Any]
) -> Path:
    """Frames ((H, W, 3) uint8) -> the published MP4 at `out_path`, atomically, for a backend that
    does not go through `cinegen.generate` (the fake one): the same publishing step and the same
    shape of provenance record (`job.publish`: "trust" signs, "plain" is the opt-out). `info` may
    name `model_name`, `model_version` and `training_data`."""
    from cinegen.generate import publish_frames as publish

    arr = frames if isinstance(frames, np.ndarray) else np.stack(list(frames))
    options = job.publish_options()
    if not options.sign:
        return publish(arr, fps, out_path, None, options)
    from cinegen.trust.publish import ProvenanceInfo

    w, h = job.size
    prov = ProvenanceInfo(
        model_name=str(info.get("model_name", "cinegen")), model_version=str(info.get("model_version", "0")),
        mode=str(job.mode), job_id=job.id,
        settings={"prompt": job.prompt, "negative_prompt": job.negative_prompt, "seconds": float(job.seconds),
                  "fps": job.fps, "size": f"{w}x{h}", "seed": job.seed, "steps": job.steps,
                  "guidance": job.guidance, "mode": str(job.mode)},
        ingredients=job.request().ingredients, training_data=dict(info.get("training_data") or {}),
    )
    return publish(arr, fps, out_path, prov, options)


# ----------------------------------------------------------------------------- the fake backend
_DIRECTIVE = re.compile(r"\[(fail|crash|delay|hang)(?:=([0-9.]+))?\]")


class FakeBackend:
    """A fast stand-in for the model: a deterministic backlot clip chosen by the prompt and seed.

    For tests and load runs, prompts may carry directives: `[delay=2.5]` (seconds spent
    generating), `[fail]` (a permanent `BackendError`), `[crash]` (the worker process dies hard,
    every attempt), `[crash=1]` (it dies on the first attempt only: recovery then succeeds).
    Option `delay` sets the default seconds per job.
    """

    SIZES: ClassVar[tuple[str, ...]] = ("128x128", "176x96", "96x176", "192x112", "112x192", "160x96",
                                        "96x160")
    MODES: ClassVar[tuple[str, ...]] = tuple(str(m) for m in SERVICE_MODES)

    def __init__(self, delay: float = 0.0, attempt_dir: str | None = None) -> None:
        self.delay = float(delay)
        self.attempt_dir = Path(attempt_dir) if attempt_dir else None

    def generate(
        self,
        job: JobSpec, out_path: Path, progress: Callable[[float], None], should_cancel: Callable[[], bool]
    ) -> VideoResult:
        from cinegen.backlot.render import iter_frames

        # 1. read the test directives
        directives = {m.group(1): m.group(2) for m in _DIRECTIVE.finditer(job.prompt)}
        if "fail" in directives:
            raise BackendError("generation_failed", "the fake backend was asked to fail")
        if "crash" in directives:
            n = int(float(directives["crash"] or 0))
            if n == 0 or job.attempt <= n:
                os._exit(17)  # simulate a worker dying mid-job (no cleanup, like kill -9)
        delay = float(directives["delay"]) if directives.get("delay") else self.delay
        # 2. the scene
        w, h = job.size
        scene = _scene_for(job.prompt, job.seed, job.seconds, job.fps, w, h)
        frames: list[np.ndarray] = []
        if job.mode == "extend" and job.source_videos:
            from cinegen.media import read_video

            src, _ = read_video(job.source_videos[0])
            if src.shape[1:3] == (h, w):
                frames.extend(src)
        first = _load_image(job.input_reference, w, h) if job.input_reference else None
        # 3. render frame by frame, reporting progress and honouring cancel
        n = scene.num_frames
        t0 = time.monotonic()
        for i, frame in enumerate(iter_frames(scene)):
            if should_cancel():
                raise JobCancelled(job.id)
            frames.append(first if (i == 0 and first is not None) else frame)
            if delay > 0:
                target = t0 + delay * (i + 1) / n
                while time.monotonic() < target:
                    if should_cancel():
                        raise JobCancelled(job.id)
                    time.sleep(min(0.05, max(0.0, target - time.monotonic())))
            progress((i + 1) / n)
        # 4. publish
        info = {"model_name": "cinegen-fake", "model_version": "1", "prompt": job.prompt}
        publish_frames(np.stack(frames), job.fps, out_path, job=job, info=info)
        return VideoResult(out_path, len(frames), job.fps, w, h, info)


def _scene_for(prompt: str, seed: int, seconds: int, fps: int, w: int, h: int) -> Any:
    from cinegen.backlot.scene import ObjectSpec, SceneSpec
    from cinegen.backlot.vocab import COLORS, MOTIONS, SETTINGS, SHAPES

    words = set(re.findall(r"[a-z]+", prompt.lower()))
    digest = int.from_bytes(hashlib.sha256(f"{prompt}|{seed}".encode()).digest()[:8], "big")
    pick = lambda options, salt: next(  # noqa: E731
        (o for o in options if o in words), options[(digest >> salt) % len(options)]
    )
    colors = [c for c in COLORS if c not in ("black",)] or list(COLORS)
    setting = pick([s for s in SETTINGS if s != "black"], 0)
    obj = ObjectSpec(
        shape=pick(list(SHAPES), 8),
        color=pick([c for c in colors if c not in ("white",)] if setting == "sky" else colors, 16),
        motion=pick([m for m in MOTIONS if m != "still"], 24),
        x=0.3 + 0.4 * ((digest >> 32) % 100) / 100,
    )
    try:
        return SceneSpec(objects=(obj,), setting=setting, seconds=float(seconds), fps=fps, width=w, height=h,
                         seed=seed)
    except ValueError:  # a colour invisible in that setting: fall back to the neutral studio
        return SceneSpec(objects=(obj,), setting="studio", seconds=float(seconds), fps=fps, width=w, height=h,
                         seed=seed)


def _load_image(path: Path, w: int, h: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((w, h)), dtype=np.uint8)


# ----------------------------------------------------------------------------- registry
# name -> "module:Class". The lead's real model registers as "pipeline".
BACKENDS: dict[str, str] = {
    "fake": "cinegen.service.backends:FakeBackend",
    "pipeline": "cinegen.service.pipeline_backend:PipelineBackend",
}


def backend_class(name: str) -> type[Any]:
    """The class registered under `name` (imports its module; does not load a model)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def backend_sizes(name: str) -> tuple[str, ...]:
    try:
        return tuple(backend_class(name).SIZES)
    except ImportError:
        return ()


def load_backend(name: str, options: dict[str, Any] | None = None) -> VideoBackend:
    """Instantiate a backend: called once per worker process, never in the API process."""
    return backend_class(name)(**(options or {}))  # type: ignore[no-any-return]
