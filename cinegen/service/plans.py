"""Shot plans at the service's edge: a `plan` on create is validated before a job is queued, and
the plan a video was rendered from is readable at `GET /v1/videos/{id}/plan`.

The worker writes the plan it rendered (the caller's, or the model's planner's) beside the video
as `<video>.plan.json`; a video rendered without a plan answers 404 `no_plan`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cinegen.service.errors import ApiError


def _given(v: Any, field: str) -> Any:
    """The body's `field` (None when absent); refused together with `use_plan: false`."""
    raw = getattr(v, field, None)
    if raw is not None and getattr(v, "use_plan", None) is False:
        message = f"a {field} was given together with use_plan=false; choose one"
        raise ApiError(400, f"invalid_{field}", message, field)
    return raw


def checked_plan(v: Any, seconds: int) -> dict[str, Any] | None:
    """The body's `plan` validated (a JSON object, or its text in a multipart form), or None.

    A bad plan is a 400 `invalid_plan` naming the field and value; nothing is queued.
    """
    from cinegen.planning.plan import PlanError, ShotPlan

    raw = _given(v, "plan")
    if raw is None:
        return None
    try:
        plan = ShotPlan.from_json(raw) if isinstance(raw, str) else ShotPlan.from_dict(raw)
    except PlanError as e:
        raise ApiError(400, "invalid_plan", str(e), "plan") from None
    except RecursionError:
        raise ApiError(400, "invalid_plan", "plan is nested too deeply", "plan") from None
    if abs(plan.seconds - seconds) > 1e-6:
        message = f"plan.seconds is {plan.seconds:g}, but the video is {seconds} s"
        raise ApiError(400, "invalid_plan", message, "plan")
    return plan.to_dict()


def checked_path(v: Any) -> tuple[tuple[float, float], ...] | None:
    """The body's `path` parsed ('x,y x,y ...'), or None; 400 `invalid_path` naming the field."""
    from cinegen.planning.paths import parse_path
    from cinegen.planning.plan import PlanError

    raw = _given(v, "path")
    try:
        return None if raw is None else tuple(parse_path(raw))
    except PlanError as e:
        raise ApiError(400, "invalid_path", str(e), "path") from None


def plan_file(video: Path) -> Path:
    """Where the worker keeps the plan a video was rendered from."""
    return video.with_name(video.name + ".plan.json")


def write_plan(video: Path, plan: dict[str, Any]) -> None:
    tmp = video.with_name(f".{video.name}.plan.part")
    tmp.write_text(json.dumps(plan))
    tmp.replace(plan_file(video))
