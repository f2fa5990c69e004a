"""The job spec: one typed record from the HTTP edge to the worker process and back.

The edge builds it from the request body, the store keeps `to_dict()` as JSON in the row's `spec`
column, the dispatcher reads it back with `from_dict` and fills in what one attempt needs (the
source videos' files, the attempt number, how to publish), the executors carry `to_dict()` to the
worker process or Ray actor, and the backend turns it into the shared `GenerateRequest`
(`request()`). `to_dict` / `from_dict` are the only serialisation; rows written by older stores
(no `version`: size as "WxH", `negative_prompt` null, no `extend_prompt`, worker fields in
`extra`) are read by `from_dict` too.

To add a field (a shot plan, say): add it here with a default, carry it in `request()`, and
accept it at the edge; older rows simply lack it and get the default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinegen.config import config_from_dict
from cinegen.generate import GenerateRequest, PublishOptions
from cinegen.mode import Mode

SPEC_VERSION = 2


@dataclass(frozen=True)
class JobSpec:
    """Everything a backend needs for one job. Paths are local to the process holding the spec."""

    id: str  # "" until the store accepts the job
    prompt: str
    negative_prompt: str = ""
    seconds: int = 4
    size: tuple[int, int] = (128, 128)  # (width, height)
    fps: int = 16
    seed: int = 0
    steps: int | None = None  # None: the backend's default
    model: str = ""  # the served model's name ("": the service's default)
    quality: str | None = None  # None: the model's default quality
    fit: bool = False  # an open family: round frames and size to what it takes
    upscale: bool = False  # a latent upsampler: half the size, then doubled (families/upscale.py)
    guidance: float | None = None
    mode: Mode = Mode.TEXT
    input_reference: Path | None = None  # an image, already validated
    source_video_ids: tuple[str, ...] = ()  # extend/connect/loop/edit/remix/keyframes sources, in order
    source_upload: Path | None = None  # extend/edit of the caller's own clip (re-encoded into inputs/)
    strength: float | None = None  # edit/remix: how far to move from the source (0..1)
    remix_of: str | None = None
    extend_prompt: bool = True  # let the model's prompt extender rewrite the prompt (a no-op without one)
    plan: dict[str, Any] | None = None  # a shot plan (JSON object); None: the model's planner plans it
    use_plan: bool = True  # False: text only
    path: tuple[tuple[float, float], ...] | None = None  # move the plan's first object along these points
    characters: tuple[str, ...] = ()  # the caller's characters (`char_...`) whose images are `references`
    references: tuple[Path, ...] = ()  # reference images (the characters' PNGs, copied into inputs/)
    # --- one attempt, filled in by the dispatcher (a stored row has the defaults)
    source_videos: tuple[Path, ...] = ()  # the sources' MP4 files, same order
    attempt: int = 1
    publish: str = "plain"  # "trust": watermark + C2PA (the service's default setting); "plain": opt-out
    data_dir: Path | None = None  # the service's data directory: signing keys under it
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode(self.mode))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: paths as strings, size as "WxH", the mode by name."""
        d = dataclasses.asdict(self)
        d.update(size=f"{self.size[0]}x{self.size[1]}", mode=str(self.mode),
                 input_reference=str(self.input_reference) if self.input_reference else None,
                 source_upload=str(self.source_upload) if self.source_upload else None,
                 source_video_ids=list(self.source_video_ids),
                 source_videos=[str(p) for p in self.source_videos],
                 characters=list(self.characters), references=[str(p) for p in self.references],
                 data_dir=str(self.data_dir) if self.data_dir else None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        """The inverse of `to_dict`, also for rows of older stores; unknown keys raise."""
        d = dict(d)
        if "version" not in d:  # version 1: before the typed spec
            d.setdefault("id", "")
            d.update(d.pop("extra", None) or {})
            d.pop("trust_dir", None)
            d["negative_prompt"] = d.get("negative_prompt") or ""
            d["extend_prompt"] = d.get("extend_prompt", True) is not False
            d["version"] = SPEC_VERSION
        size = d.get("size", (128, 128))
        w, h = (int(v) for v in (size.lower().split("x") if isinstance(size, str) else size))
        d["size"] = (w, h)
        d["input_reference"] = Path(d["input_reference"]) if d.get("input_reference") else None
        d["source_upload"] = Path(d["source_upload"]) if d.get("source_upload") else None
        d["data_dir"] = Path(d["data_dir"]) if d.get("data_dir") else None
        d["source_video_ids"] = tuple(d.get("source_video_ids") or ())
        d["source_videos"] = tuple(Path(p) for p in d.get("source_videos") or ())
        d["characters"] = tuple(d.get("characters") or ())
        d["references"] = tuple(Path(p) for p in d.get("references") or ())
        d["path"] = tuple((float(x), float(y)) for x, y in d["path"]) if d.get("path") else None
        return config_from_dict(cls, d, "job spec")

    def replace(self, **changes: Any) -> JobSpec:
        return dataclasses.replace(self, **changes)

    def request(self) -> GenerateRequest:
        """The shared request (`cinegen.generate`): an extended video is published whole."""
        return GenerateRequest(
            prompt=self.prompt, mode=self.mode, negative_prompt=self.negative_prompt,
            seconds=float(self.seconds),
            fps=self.fps, width=self.size[0], height=self.size[1], seed=self.seed, steps=self.steps,
            guidance=self.guidance, quality=self.quality, fit=self.fit, upscale=self.upscale,
            extend_prompt=self.extend_prompt,
            plan=self.plan, use_plan=self.use_plan,
            path=self.path,
            image=self.input_reference, references=self.references,
            sources=self.source_videos, strength=self.strength, include_source=True, job_id=self.id or None,
        )

    def publish_options(self) -> PublishOptions:
        if self.publish != "trust":
            return PublishOptions(sign=False)
        from cinegen.trust.publish import TrustSettings

        return PublishOptions(trust=TrustSettings.for_data_dir(self.data_dir))
