"""Which plan a call renders: the user's, the planner's, or none, anchored to the call's inputs.

The rules, in one place (docs/decisions.md):
  * `use_plan=False` (`--no-plan`) or a model without a planner: no plan, the text-only path;
    an explicit plan or path for such a model is an error.
  * an explicit plan is validated and must cover the request; otherwise the planner plans the
    prompt (None when it cannot place it: the text-only path).
  * a path moves the plan's first object along it.
  * image-to-video starts the first object where its colour is in the image; extend forward
    continues from the source's last frame, backward arrives at its first; connect travels from
    clip a's end to clip b's start; a loop's last frames return to its start.
  * edit follows its source's layout: it is planned only when a plan or path is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cinegen.pipeline.types import PipelineError, ShotPlanner


@dataclass(frozen=True)
class PlanRequest:
    """What the caller said about plans, and the inputs a plan is anchored to."""

    plan: Any = None  # a plan, its dict or JSON; None: the planner's
    use_plan: bool = True
    path: Sequence[tuple[float, float]] | None = None


def choose_plan(
    planner: ShotPlanner | None,
    takes_layout: bool,
    req: PlanRequest,
    *,
    prompt: str,
    seconds: float,
    fps: int,
    seed: int,
    width: int,
    height: int,
    mode_inputs: dict[str, Any],
) -> Any | None:
    """The plan to render, or None. `mode_inputs` holds the call's image/extend/connect/loop/edit inputs."""
    explicit = req.plan is not None or req.path is not None
    if not req.use_plan:
        if explicit:
            raise PipelineError(
                "a plan or path was given together with use_plan=False (--no-plan); choose one"
            )
        return None
    if planner is None or not takes_layout:
        if explicit:
            raise PipelineError("this model takes no plan (its model_index.json declares no planner)")
        return None
    if req.plan is not None:
        try:
            plan = planner.read(req.plan)
            planner.check(plan, seconds=seconds, fps=fps)
        except ValueError as e:
            raise PipelineError(str(e)) from e
    else:
        if mode_inputs.get("edit") is not None and req.path is None:
            return None
        plan = planner.make(prompt, seconds=seconds, fps=fps, seed=seed, width=width, height=height)
        if plan is None:
            if req.path is not None:
                raise PipelineError(
                    "a path needs an object to move: the planner could not place the prompt's objects"
                )
            return None
        plan = _anchor(planner, plan, mode_inputs)
    if req.path is not None:
        try:
            plan = planner.with_path(plan, req.path)
        except ValueError as e:
            raise PipelineError(str(e)) from e
    return plan


def _anchor(planner: ShotPlanner, plan: Any, inputs: dict[str, Any]) -> Any:
    image: np.ndarray | None = inputs.get("image")
    extend: np.ndarray | None = inputs.get("extend")
    connect: tuple[np.ndarray, np.ndarray] | None = inputs.get("connect")
    if image is not None:
        return planner.anchored(plan, image)
    if connect is not None:
        return planner.between(plan, connect[0][-1], connect[1][0])
    if extend is not None:
        backward = inputs.get("direction") == "backward"
        return planner.anchored(plan, extend[0] if backward else extend[-1], at_end=backward)
    if inputs.get("loop_bridge"):
        return planner.looped(plan, int(inputs["loop_bridge"]))
    return plan
