"""The pipeline with a plan-conditioned model: every mode renders a plan, anchored to its inputs,
the layout reaches the model at the right frames, and bad plans are refused before any work."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.pipeline import CinegenPipeline, PipelineError, ScheduleEntry
from cinegen.planning.plan import ShotPlan
from cinegen.planning.planner import BacklotPlanner, plan_prompt
from cinegen.planning.raster import LAYOUT_CHANNELS

sys.path.insert(0, str(Path(__file__).parent))
from tiny_planned import tiny_planned_pipeline  # noqa: E402

SIZE: dict[str, Any] = {"width": 64, "height": 64}
PROMPT = "a red ball moving right on a grass field"


class RecordingPlanner(BacklotPlanner):
    """The backlot planner, recording the start frame of every layout it is asked for."""

    def __init__(self) -> None:
        object.__setattr__(self, "starts", [])

    def layout(self, plan: Any, start_frame: int, num_latents: int, width: int, height: int) -> torch.Tensor:
        self.starts.append((start_frame, num_latents))  # type: ignore[attr-defined]
        return super().layout(plan, start_frame, num_latents, width, height)


@pytest.fixture(scope="module")
def pipe() -> CinegenPipeline:
    return tiny_planned_pipeline(window_latents=6)


def _with(pipe: CinegenPipeline, planner: Any) -> CinegenPipeline:
    return CinegenPipeline(
        pipe.vae,
        pipe.transformer,
        pipe.encode_prompt,
        sizes=pipe.sizes,
        window_latents=6,
        default_steps=2,
        planner=planner,
    )


def _disc(x: float, y: float) -> np.ndarray:
    img = np.full((64, 64, 3), 120, np.uint8)
    yy, xx = np.mgrid[:64, :64]
    img[(xx - x * 64) ** 2 + (yy - y * 64) ** 2 < 36] = (215, 38, 38)
    return img


def test_text_to_video_renders_the_planners_plan(pipe: CinegenPipeline) -> None:
    out = pipe(PROMPT, seconds=1.0, seed=3, **SIZE)
    plan = out.settings["plan"]
    assert (
        plan is not None and plan == plan_prompt(PROMPT, seconds=1.0, seed=3, width=64, height=64).to_dict()
    )  # type: ignore[union-attr]
    plain = pipe(PROMPT, seconds=1.0, seed=3, use_plan=False, **SIZE)
    assert plain.settings["plan"] is None
    assert not np.array_equal(out.frames, plain.frames)  # the layout reaches the model
    assert np.array_equal(pipe(PROMPT, seconds=1.0, seed=3, **SIZE).frames, out.frames)  # deterministic


def test_explicit_plan_and_path(pipe: CinegenPipeline) -> None:
    plan = plan_prompt(PROMPT, seconds=1.0, seed=9, width=64, height=64)
    assert plan is not None
    out = pipe(PROMPT, seconds=1.0, seed=3, plan=plan.to_json(), **SIZE)
    assert out.settings["plan"] == plan.to_dict()
    moved = pipe(PROMPT, seconds=1.0, seed=3, path=[(0.1, 0.9), (0.9, 0.1)], **SIZE).settings["plan"]
    first, last = moved["objects"][0]["boxes"][0], moved["objects"][0]["boxes"][-1]
    assert first[:2] == [0.1, 0.9] and np.allclose(last[:2], [0.9, 0.1])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"plan": "{bad"}, "not valid JSON"),
        ({"plan": "PLAN2S"}, "request is for 1 s"),
        ({"plan": "PLAN", "use_plan": False}, "use_plan=False"),
        ({"path": [(0.1, 0.1)]}, "at least two points"),
        ({"path": [(0.1, 0.1), (1.5, 0.1)]}, "outside the frame"),
    ],
)
def test_bad_plans_are_refused(pipe: CinegenPipeline, kwargs: dict[str, Any], needle: str) -> None:
    plan = plan_prompt(PROMPT, seconds=1.0, seed=0, width=64, height=64)
    two = plan_prompt(PROMPT, seconds=2.0, seed=0, width=64, height=64)
    assert plan is not None and two is not None
    kwargs = {
        k: ({"PLAN": plan, "PLAN2S": two}.get(v, v) if isinstance(v, str) else v) for k, v in kwargs.items()
    }
    with pytest.raises(PipelineError, match=None) as e:
        pipe(PROMPT, seconds=1.0, **kwargs, **SIZE)
    assert needle in str(e.value)


def test_a_model_without_a_planner_refuses_plans(pipe: CinegenPipeline) -> None:
    bare = _with(pipe, None)
    assert bare(PROMPT, seconds=0.5, **SIZE).settings["plan"] is None
    with pytest.raises(PipelineError, match="takes no plan"):
        bare(PROMPT, seconds=0.5, path=[(0.1, 0.1), (0.9, 0.9)], **SIZE)


def test_long_clips_take_each_windows_part_of_one_plan(pipe: CinegenPipeline) -> None:
    rec = RecordingPlanner()
    out = _with(pipe, rec)(PROMPT, seconds=3.0, **SIZE)
    assert out.frames.shape[0] == 48
    starts = [s for s, _ in rec.starts]  # type: ignore[attr-defined]
    assert starts[0] == 0 and starts == sorted(starts) and len(starts) >= 3
    assert all(
        b - a == 16 for a, b in zip(starts[1:], starts[2:], strict=False)
    )  # 4 new latents per later window
    assert len(out.settings["plan"]["objects"][0]["boxes"]) == 48


def test_image_to_video_starts_the_plan_at_the_images_object(pipe: CinegenPipeline) -> None:
    out = pipe(PROMPT, seconds=1.0, image=_disc(0.25, 0.7), **SIZE)
    b0 = out.settings["plan"]["objects"][0]["boxes"][0]
    assert abs(b0[0] - 0.25) < 0.03 and abs(b0[1] - 0.7) < 0.03


def test_every_mode_renders_with_a_plan(pipe: CinegenPipeline) -> None:
    src = np.stack([_disc(0.2 + 0.02 * i, 0.5) for i in range(17)])
    fwd = pipe(PROMPT, seconds=1.0, extend=src, **SIZE).settings["plan"]["objects"][0]["boxes"][0]
    assert abs(fwd[0] - 0.52) < 0.03  # continues from the source's last frame
    back = pipe(PROMPT, seconds=1.0, extend=src, direction="backward", **SIZE).settings["plan"]["objects"][0][
        "boxes"
    ][-1]
    assert abs(back[0] - 0.2) < 0.03  # arrives at the source's first frame
    conn = pipe(PROMPT, seconds=0.5, connect=(src, src[::-1]), **SIZE)
    boxes = conn.settings["plan"]["objects"][0]["boxes"]
    assert abs(boxes[0][0] - 0.52) < 0.03 and abs(boxes[-1][0] - 0.52) < 0.03 and conn.frames.shape[0] == 8
    loop = pipe(PROMPT, seconds=1.5, loop=True, **SIZE)
    lb = loop.settings["plan"]["objects"][0]["boxes"]
    assert lb[-1] == lb[0] and loop.frames.shape[0] == 24
    assert pipe(PROMPT, seconds=1.0, edit=src, **SIZE).settings["plan"] is None  # edit follows its source
    assert (
        pipe(PROMPT, seconds=1.0, edit=src, path=[(0.1, 0.5), (0.9, 0.5)], **SIZE).settings["plan"]
        is not None
    )
    sched = [ScheduleEntry(0.0, PROMPT), ScheduleEntry(0.5, "a red ball moving right at night")]
    assert pipe(PROMPT, seconds=1.0, schedule=sched, **SIZE).settings["plan"] is not None
    kf = pipe(PROMPT, seconds=1.0, keyframes={0.5: _disc(0.5, 0.5)}, **SIZE)
    assert kf.frames.shape[0] == 16 and kf.settings["plan"] is not None
    still = pipe(PROMPT, still=True, **SIZE)
    assert still.frames.shape[0] == 1 and len(still.settings["plan"]["objects"][0]["boxes"]) == 1


def test_save_load_keeps_the_planner(pipe: CinegenPipeline, tmp_path: Path) -> None:
    pipe.save_pretrained(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "model_index.json").read_text())
    assert meta["planner"] == "cinegen.planning.planner:backlot"
    again = CinegenPipeline.from_pretrained(tmp_path / "p", dtype="float32")
    assert isinstance(again.planner, BacklotPlanner) and again.model.layout_channels == LAYOUT_CHANNELS
    a = pipe(PROMPT, seconds=0.5, seed=2, **SIZE)
    b = again(PROMPT, seconds=0.5, seed=2, **SIZE)
    assert a.settings["plan"] == b.settings["plan"]
    meta["planner"] = "cinegen.planning.planner:nope"
    (tmp_path / "p" / "model_index.json").write_text(json.dumps(meta))
    with pytest.raises(PipelineError, match="names planner"):
        CinegenPipeline.from_pretrained(tmp_path / "p", dtype="float32")


def test_plan_shotplan_type_passes_through(pipe: CinegenPipeline) -> None:
    plan = plan_prompt(PROMPT, seconds=0.5, seed=1, width=64, height=64)
    assert isinstance(plan, ShotPlan)
    assert pipe(PROMPT, seconds=0.5, plan=plan, **SIZE).settings["plan"] == plan.to_dict()


def test_pinned_images_come_back_as_given(pipe: CinegenPipeline) -> None:
    """Image-to-video and keyframes return the user's image at its frame (not the VAE's redraw, 20 dB
    on a plain grey before), with the decode error faded into the neighbours."""
    img, key = _disc(0.3, 0.6), _disc(0.7, 0.4)
    out = pipe(PROMPT, seconds=1.0, image=img, keyframes={0.5: key}, **SIZE)
    assert np.array_equal(out.frames[0], img) and np.array_equal(out.frames[8], key)
    plain = pipe(PROMPT, seconds=1.0, image=img, keyframes={0.5: key}, use_plan=False, **SIZE)
    assert np.array_equal(plain.frames[0], img)
