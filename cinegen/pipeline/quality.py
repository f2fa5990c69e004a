"""Qualities: the named ways a model directory can be sampled, and the checks on a call's settings.

`full` is the model's own transformer at its defaults (steps, guidance, solver). A distilled
student (`cinegen train distill`, installed by `scripts/install_student.py`) adds another, usually
`fast`: its own transformer in a subfolder, Euler at the step counts it was trained for, and the
teacher's guidance folded into its weights (one model call per step, no unconditional pass).
model_index.json declares them:

    "qualities": {"fast": {"transformer": "student", "steps": 4, "min_steps": 2, "max_steps": 4,
                           "sampler": "euler", "guidance_folded": 5.0}},
    "default_quality": "full"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cinegen.limits import MAX_STEPS
from cinegen.pipeline.types import PipelineError, Sampling

FULL = "full"


@dataclass(frozen=True)
class Quality:
    name: str
    steps: int  # the default step count
    guidance: float  # the guidance scale the sampler applies (1.0: one call per step)
    sampler: str
    min_steps: int = 1
    max_steps: int = MAX_STEPS
    transformer: str = "transformer"  # the model directory's subfolder holding its weights
    guidance_folded: float | None = None  # a student: the teacher's guidance, learned into the weights

    @classmethod
    def declared(cls, name: str, d: dict[str, Any]) -> Quality:
        """A quality from its model_index.json entry (a student's: guidance is folded, so 1.0 at sampling)."""
        known = {"transformer", "steps", "min_steps", "max_steps", "sampler", "guidance_folded", "guidance"}
        if not isinstance(d, dict) or set(d) - known:
            raise PipelineError(
                f"quality {name!r} in model_index.json: expected keys from {sorted(known)}, got {d!r}"
            )
        folded = d.get("guidance_folded")
        q = cls(
            name=name,
            steps=int(d["steps"]),
            guidance=1.0 if folded is not None else float(d.get("guidance", 5.0)),
            sampler=str(d.get("sampler", "euler")),
            min_steps=int(d.get("min_steps", 1)),
            max_steps=int(d.get("max_steps", MAX_STEPS)),
            transformer=str(d.get("transformer", "transformer")),
            guidance_folded=None if folded is None else float(folded),
        )
        if not 1 <= q.min_steps <= q.steps <= q.max_steps:
            raise PipelineError(f"quality {name!r}: steps must satisfy 1 <= min_steps <= steps <= max_steps")
        return q

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "transformer": self.transformer,
            "steps": self.steps,
            "min_steps": self.min_steps,
            "max_steps": self.max_steps,
            "sampler": self.sampler,
        }
        if self.guidance_folded is not None:
            d["guidance_folded"] = self.guidance_folded
        else:
            d["guidance"] = self.guidance
        return d


def choose_sampling(
    qualities: dict[str, Quality],
    default: str,
    quality: str | None,
    steps: int | None,
    guidance: float | None,
    sampler: str | None,
    samplers: tuple[str, ...],
) -> tuple[Quality, Sampling]:
    """The call's quality and sampling, checked: an unknown quality, steps outside what it supports,
    or guidance / a solver for a student that has them built in are errors that name the setting."""
    name = default if quality is None else quality
    if name not in qualities:
        raise PipelineError(
            f"quality {name!r} is not one this model has; choose from {', '.join(sorted(qualities))}"
        )
    q = qualities[name]
    n = q.steps if steps is None else steps
    if not isinstance(n, int) or not q.min_steps <= n <= q.max_steps:
        full = qualities.get(FULL)
        other = (f"; quality {FULL!r} takes {full.min_steps}..{full.max_steps}"
                 if name != FULL and full is not None else "")
        raise PipelineError(
            f"steps must be an integer in {q.min_steps}..{q.max_steps} for quality {name!r}, got {n!r}{other}"
        )
    if q.guidance_folded is not None and guidance is not None and guidance != q.guidance_folded:
        raise PipelineError(
            f"quality {name!r} has guidance {q.guidance_folded:g} built into its weights; "
            f"use quality {FULL!r} to set guidance"
        )
    if q.guidance_folded is not None and sampler is not None and sampler != q.sampler:
        raise PipelineError(f"quality {name!r} is trained for the {q.sampler!r} sampler, not {sampler!r}; "
                            f"use quality {FULL!r} to choose a sampler")
    solver = q.sampler if sampler is None else sampler
    if solver not in samplers:
        raise PipelineError(f"unknown sampler {solver!r}; choose from {', '.join(sorted(samplers))}")
    scale = q.guidance if (guidance is None or q.guidance_folded is not None) else guidance
    return q, Sampling(n, scale, solver, transformer=q.transformer)


def declared_qualities(meta: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """(the qualities a model_index.json offers, `full` first; its default), each entry checked."""
    declared = meta.get("qualities") or {}
    if not isinstance(declared, dict):
        raise PipelineError(f"model_index.json 'qualities' must be an object, got {declared!r}")
    names = (FULL, *(Quality.declared(k, v).name for k, v in declared.items()))
    default = str(meta.get("default_quality") or FULL)
    if default not in names:
        raise PipelineError(f"model_index.json default_quality {default!r} is not one of {', '.join(names)}")
    return names, default
