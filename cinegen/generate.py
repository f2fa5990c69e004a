"""The one way through: moderate -> generate -> publish, for every door.

The CLI (`cinegen generate`), the service's workers (`PipelineBackend`) and the studio's model
shots (`cinegen storyboard`) each build a `GenerateRequest` and call `generate`:

    model = Model(paths.model_dir(), device="cpu", dtype="auto")     # loads on first use
    done = generate(model, request, out_path, publish=PublishOptions(...), moderator=LocalModerator(data))

1. moderate: the prompt (and the consent grant it carries) against the policy, before any work;
   the service moderates at its HTTP edge instead and passes no moderator.
2. read the inputs (images, source videos) and turn the request's mode into one pipeline call;
3. generate with the pipeline;
4. publish: watermark, encode and C2PA-sign (or a plain MP4 / a PNG still), with the one
   provenance record every door shares: the mode decided once, the pipeline's settings.

Failures are `GenerateError(code, message)` (a ValueError); a refusal is its subclass `Refused`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cinegen.errors import CodedError
from cinegen.mode import Mode

if TYPE_CHECKING:
    from cinegen.families.model import DiffusersVideoModel
    from cinegen.families.switches import Switches
    from cinegen.media import AudioTrack
    from cinegen.models.traced import TraceCache
    from cinegen.pipeline import CinegenPipeline, ScheduleEntry
    from cinegen.trust.moderation import Decision, Policy
    from cinegen.trust.publish import ProvenanceInfo, TrustSettings

DEFAULT_STRENGTH = 0.6  # edit / remix: how far to move from the source


class GenerateError(CodedError, ValueError):
    """A request that cannot be served: `code` is machine-readable (the service's `error.code`)."""


class Refused(GenerateError):
    """The content policy refused the request (`code` is the decision's `safety.*` code)."""


@dataclass(frozen=True)
class GenerateRequest:
    """One generation, whatever door it came through. Paths are local files.

    `mode` is decided by the door (`Mode.from_flags` for the CLI, the API's field for the
    service); the inputs it uses: `image` (a first frame: image, text, loop, keyframes),
    `keyframes` ((seconds, image) pins), `sources` (videos: extend/edit/remix one, connect two,
    keyframes any: their first frames are spread over the clip), `schedule`, `strength`,
    `direction`. To add a conditioning input (a shot plan, say), add one optional field here,
    pass it on in `_pipeline_call`, and record it in `settings`.
    """

    prompt: str
    negative_prompt: str = ""
    mode: Mode = Mode.TEXT
    seconds: float = 4.0
    fps: int = 16
    width: int = 128
    height: int = 128
    seed: int = 0
    steps: int | None = None  # None: the model's default
    guidance: float | None = None
    sampler: str | None = None
    quality: str | None = None  # None: the model's default quality ("full", or a distilled student)
    extend_prompt: bool = True  # let the model's prompt extender rewrite the prompt
    plan: dict[str, Any] | None = None  # a shot plan (JSON object); None: the model's planner plans it
    use_plan: bool = True  # False: text only (--no-plan)
    path: tuple[tuple[float, float], ...] | None = None  # move the plan's first object along these points
    image: Path | None = None
    keyframes: tuple[tuple[float, Path], ...] = ()
    sources: tuple[Path, ...] = ()
    direction: str = "forward"
    strength: float | None = None  # edit / remix; None: DEFAULT_STRENGTH
    schedule: tuple[ScheduleEntry, ...] = ()
    include_source: bool = False  # extend: publish the source followed by the new frames (the service's rule)
    consent_grant_id: str | None = None
    fit: bool = False  # an open model family: round frames and size to the nearest it takes (else refuse)
    references: tuple[Path, ...] = ()  # reference images (a character, an object) for families that take them
    upscale: bool = False  # an open family that ships a latent upsampler: half size, then its 2x upsampler
    project: str | None = None
    job_id: str | None = None  # None: a hash of the settings
    # extra settings for the manifest (a storyboard shot id)
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def ingredients(self) -> tuple[Path, ...]:
        """The inputs a manifest lists: the image, the keyframe images, the source videos."""
        given = (self.image, *(p for _, p in self.keyframes), *self.sources, *self.references)
        return tuple(p for p in given if p is not None)


@dataclass(frozen=True)
class Published:
    """What `generate` made: the file, its frames and the settings its manifest records."""

    path: Path
    frames: np.ndarray  # (T, H, W, 3) uint8, as published
    fps: int
    mode: Mode
    settings: dict[str, Any]
    timings: dict[str, float]


@dataclass(frozen=True)
class PublishOptions:
    """How frames become a file: `sign` (watermark + C2PA, the default) with `trust` settings
    (None: `TrustSettings.for_data_dir()`), or a plain H.264 MP4 by explicit opt-out. A `.png`
    output is a still image (no manifest can be embedded in it)."""

    sign: bool = True
    trust: TrustSettings | None = None


class Moderator(Protocol):
    def __call__(self, request: GenerateRequest) -> Decision: ...


class LocalModerator:
    """The packaged policy, with the consent registry under the data directory (when one exists
    or the request carries a grant). What the CLI and the studio use; the service has its gate."""

    def __init__(self, data: Path, traces: TraceCache | None = None) -> None:
        self.data = data
        self.traces = traces  # a trace cache for the policy's sentence encoder (models/traced.py)
        self._policy: Policy | None = None  # loaded once: it keeps its encoder and embeddings

    def __call__(self, request: GenerateRequest) -> Decision:
        from cinegen import paths
        from cinegen.trust.consent import ConsentRegistry
        from cinegen.trust.moderation import load_policy, moderate

        if self._policy is None:
            self._policy = load_policy(traces=self.traces)

        grant_id = request.consent_grant_id
        exists = paths.consent_db(self.data).exists()
        registry = ConsentRegistry.in_data_dir(self.data) if exists or grant_id else None
        grant = registry.get_grant(grant_id) if (registry is not None and grant_id) else None
        return moderate(request.prompt, self._policy, consent=grant, registry=registry,
                        use=request.mode.consent_use, project=request.project)


class Model:
    """A model directory and its pipeline, loaded on first use (so a refusal costs no load), with
    the identity its manifests carry. The registry (`cinegen.families.registry`) picks the
    pipeline: the built-in `CinegenPipeline`, or an open family's `DiffusersVideoModel` (with
    its memory and speed `switches`)."""

    def __init__(self, model_dir: Path, *, device: str = "cpu", dtype: str = "auto",
                 pipe: CinegenPipeline | DiffusersVideoModel | None = None, runtime: str = "eager",
                 cache_dir: Path | None = None, switches: Switches | None = None,
                 traces: TraceCache | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.device, self.dtype = device, dtype
        self.runtime, self.cache_dir = runtime, cache_dir  # runtime: pipeline/runtimes.py
        self.traces = traces  # eager runtime: load the built-in model's TorchScript traces from here
        self.switches = switches
        self._pipe = pipe

    @property
    def pipe(self) -> CinegenPipeline | DiffusersVideoModel:
        if self._pipe is None:
            from cinegen.families.registry import recognise
            from cinegen.pipeline import PipelineError

            try:
                family = recognise(self.model_dir)
                self._pipe = self._load_builtin() if family is None else self._load_family()
            except GenerateError:
                raise
            except (FileNotFoundError, PipelineError) as e:
                raise GenerateError(getattr(e, "code", "model_unavailable"), str(e)) from e
        return self._pipe

    def check_mode(self, mode: Mode, *, upscale: bool = False) -> None:
        """Refuse, before any load, a mode an open family's directory cannot do (naming those it can),
        and upscaling where the directory ships no latent upsampler."""
        from cinegen.families.registry import recognise
        from cinegen.pipeline import PipelineError

        try:
            family = recognise(self.model_dir)
            if family is None and upscale:
                raise GenerateError("invalid_request", "the built-in model has no latent upsampler; "
                                                       "upscaling is for LTX-Video directories that ship one")
            if family is not None:
                family.route(mode)
                if upscale:
                    family.check_upscale()
        except FileNotFoundError:
            return  # the load reports a missing model
        except PipelineError as e:
            raise GenerateError(getattr(e, "code", "invalid_request"), str(e)) from None

    def _load_builtin(self) -> CinegenPipeline:
        from cinegen.pipeline import CinegenPipeline
        from cinegen.pipeline.runtimes import apply_runtime

        if self.switches is not None and self.switches.describe():
            on = ", ".join(self.switches.describe())
            raise GenerateError("invalid_switch",
                                f"the built-in model takes no memory or speed switches ({on}); open families "
                                "do")
        dtype = "float32" if (self.runtime != "eager" and self.dtype == "auto") else self.dtype
        traces = self.traces if self.runtime == "eager" else None  # other runtimes export the torch modules
        pipe = CinegenPipeline.from_pretrained(self.model_dir, device=self.device, dtype=dtype, traces=traces)
        apply_runtime(pipe, self.runtime, self.cache_dir)
        return pipe

    def _load_family(self) -> DiffusersVideoModel:
        from cinegen.families.model import DiffusersVideoModel

        if self.runtime != "eager":
            raise GenerateError("invalid_request",
                                f"runtime {self.runtime!r} is for the built-in model; open "
                                                   "families run in PyTorch (see --compile)")
        return DiffusersVideoModel.load(self.model_dir, device=self.device, dtype=self.dtype,
                                        switches=self.switches)

    @property
    def name(self) -> str:
        return str(self.pipe.info.get("name") or self.model_dir.name)

    @property
    def version(self) -> str:
        return str(self.pipe.info.get("version") or "0")

    def training_data(self) -> dict[str, Any]:
        from cinegen.trust.licences import declaration_for

        return declaration_for(self.model_dir)


# ----------------------------------------------------------------------------- the one function
def generate(
    model: Model,
    request: GenerateRequest,
    out: Path,
    *,
    publish: PublishOptions | None = None,
    moderator: Moderator | None = None,
    progress: Callable[[int, int], None] | None = None,
    before_publish: Callable[[], None] | None = None,
) -> Published:
    """moderate -> read inputs -> generate -> publish. `progress(i, n)` is called per denoising step
    (raise from it to stop); `before_publish()` runs between generating and publishing (the
    service checks for a cancel there)."""
    from cinegen.pipeline import PipelineError

    clock = _Stages()
    # 1. moderate, before any work
    if moderator is not None:
        decision = moderator(request)
        if not decision.allowed:
            raise Refused(str(decision.code), decision.message)
    clock.lap("moderation")
    # 2. the mode (an open family may lack it), the inputs, and the mode as one pipeline call
    pinned = request.mode is Mode.IMAGE and bool(request.keyframes)  # an image and keyframes: pinned frames
    model.check_mode(Mode.KEYFRAMES if pinned else request.mode, upscale=request.upscale)
    kwargs, prefix = _pipeline_call(request)
    clock.lap("inputs")
    pipe = model.pipe
    clock.lap("model_load")  # ~0 once the model is warm (a service worker loads it at start)
    kwargs.update(_model_inputs(pipe, request))
    # 3. generate
    try:
        result = pipe(
            request.prompt, negative_prompt=request.negative_prompt, seconds=request.seconds, fps=request.fps,
            width=request.width, height=request.height, seed=request.seed, steps=request.steps,
            guidance=request.guidance, sampler=request.sampler, quality=request.quality,
            extend_prompt=request.extend_prompt,
            plan=request.plan, use_plan=request.use_plan, path=request.path, progress=progress, **kwargs,
        )
    except PipelineError as e:
        raise GenerateError(getattr(e, "code", "invalid_request"), str(e)) from None
    clock.lap("pipeline")
    frames = result.frames
    if prefix is not None:
        from cinegen.pipeline import fit_video, retime

        frames = np.concatenate([retime(fit_video(prefix[0], request.width, request.height), prefix[1],
                                        request.fps),
                                 frames])
    if before_publish is not None:
        before_publish()
    # 4. publish with the one provenance record
    settings = {**result.settings, "mode": str(request.mode), **request.labels}
    info = provenance(model, request, settings)
    if prefix is not None and result.audio is not None:  # no family with audio extends yet
        raise GenerateError("invalid_request", "a source prefix cannot be published beside generated audio")
    path = publish_frames(frames, result.fps, out, info, publish or PublishOptions(), audio=result.audio)
    clock.lap("publish")
    stages = {k: v for k, v in result.timings.items() if k != "total"}  # the pipeline's: text, denoise, ...
    timings = {**stages, **clock.laps, "total": clock.total()}
    return Published(path, frames, result.fps, request.mode, settings, timings)


def _model_inputs(pipe: Any, request: GenerateRequest) -> dict[str, Any]:
    """What only one kind of model takes: the built-in model's fixed sizes are checked here; an open
    family checks its own size and frame rules in its call, rounding them with `fit`, and takes
    reference images."""
    from cinegen.pipeline import CinegenPipeline

    if isinstance(pipe, CinegenPipeline):
        if (request.width, request.height) not in pipe.sizes:
            served = ", ".join(f"{w}x{h}" for w, h in pipe.sizes)
            raise GenerateError("invalid_size",
                                f"this model renders {served}, not {request.width}x{request.height}")
        if request.references:
            raise GenerateError("invalid_request", "the built-in model takes no reference images")
        return {}
    return {"fit": request.fit, "references": [_read_image(p) for p in request.references],
            "upscale": request.upscale}


def _read_image(p: Path) -> np.ndarray:
    from cinegen.media import MediaError, read_image

    try:
        return read_image(p)
    except MediaError as e:
        raise GenerateError("input_unavailable", str(e)) from None


class _Stages:
    """Wall time of each stage of one `generate` call, in seconds (lap = time since the last lap)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self.last
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def provenance(model: Model, request: GenerateRequest, settings: dict[str, Any]) -> ProvenanceInfo:
    """The manifest's claims: the model, the mode, the job, the settings, the inputs, the training data."""
    from cinegen.trust.publish import ProvenanceInfo

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    job_id = request.job_id or digest
    return ProvenanceInfo(
        model_name=model.name, model_version=model.version, mode=str(request.mode), job_id=job_id,
        settings=settings, ingredients=request.ingredients, training_data=model.training_data(),
    )


def publish_frames(frames: np.ndarray, fps: int, out: Path, info: ProvenanceInfo | None,
                   options: PublishOptions, audio: AudioTrack | None = None) -> Path:
    """Frames (T, H, W, 3) uint8 (and the model's audio track, if it made one) -> the published file
    at `out`, atomically: a signed MP4, a plain MP4 (opt-out), or a PNG of the first frame for a
    `.png` path."""
    from cinegen import media

    if out.suffix.lower() == ".png":
        return media.write_image(out, frames[0])
    if not options.sign:
        return media.write_video(out, frames, fps, audio=audio)
    from cinegen.trust.publish import TrustSettings, publish_video

    if info is None:
        raise ValueError("a signed video needs its provenance record")
    trust = options.trust if options.trust is not None else TrustSettings.for_data_dir()
    return Path(publish_video(frames, fps, out, info=info, settings=trust, audio=audio))


# ----------------------------------------------------------------------------- mode -> pipeline call
def _pipeline_call(req: GenerateRequest) -> tuple[dict[str, Any], tuple[np.ndarray, float] | None]:
    """The pipeline's keyword arguments for the request's mode, and (for `include_source`) the
    source frames and their fps to put before the result."""
    from cinegen.media import MediaError, read_image, read_video

    low, high = req.mode.source_videos
    if len(req.sources) < low:
        raise GenerateError("missing_source_video", f"mode {req.mode.value!r} needs {low} source video(s)")
    if high is not None and len(req.sources) > high:
        raise GenerateError("invalid_request", f"mode {req.mode.value!r} takes {high} source video(s), "
                                               f"got {len(req.sources)}")
    if req.mode is Mode.IMAGE and req.image is None:
        raise GenerateError("missing_input_reference", "mode 'image' needs an image")

    def image(p: Path) -> np.ndarray:
        try:
            return read_image(p)
        except MediaError as e:
            raise GenerateError("input_unavailable", str(e)) from None

    def video(i: int) -> tuple[np.ndarray, float]:
        try:
            return read_video(req.sources[i])
        except MediaError as e:
            raise GenerateError("source_unavailable", str(e)) from None

    kw: dict[str, Any] = {}
    if req.image is not None:
        kw["image"] = image(req.image)
    pins = {t: image(p) for t, p in req.keyframes}
    prefix = None
    if req.mode is Mode.EXTEND:
        src, fps = video(0)
        kw.update(extend=src, extend_fps=fps, direction=req.direction)
        prefix = (src, fps) if req.include_source else None
    elif req.mode is Mode.CONNECT:
        (a, fa), (b, _) = video(0), video(1)
        kw.update(connect=(a, b), extend_fps=fa)
    elif req.mode in (Mode.EDIT, Mode.REMIX):
        src, fps = video(0)
        kw.update(edit=src, extend_fps=fps,
                  strength=DEFAULT_STRENGTH if req.strength is None else req.strength)
    elif req.mode is Mode.KEYFRAMES and req.sources:  # the first frame of each source, spread over the clip
        firsts = [video(i)[0][0] for i in range(len(req.sources))]
        times = np.linspace(0.0, float(req.seconds), num=len(firsts) + (1 if "image" in kw else 0))
        times = times[1:] if "image" in kw else times
        pins.update({float(t): f for t, f in zip(times, firsts, strict=True)})
    elif req.mode is Mode.KEYFRAMES and not pins:
        raise GenerateError("missing_source_video", "mode 'keyframes' needs keyframe images or source videos")
    kw.update(loop=req.mode is Mode.LOOP, still=req.mode is Mode.STILL)
    if pins:
        kw["keyframes"] = pins
    if req.schedule:
        kw["schedule"] = list(req.schedule)
    if req.strength is not None and "strength" not in kw:
        kw["strength"] = req.strength
    return kw, prefix
