"""Shot plans through the service: a plan on create is validated at the edge (400 naming the
field, nothing queued), rendered by the worker, and readable at GET /v1/videos/{id}/plan."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cinegen.planning.planner import plan_prompt
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key

sys.path.insert(0, str(Path(__file__).parent))
from tiny_planned import tiny_planned_pipeline  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PROMPT = "a red ball moving right on a grass field"


@pytest.fixture(scope="module")
def planned_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("planned-model")
    tiny_planned_pipeline(128, info={"name": "tiny-planned", "version": "0.0"}).save_pretrained(path)
    return path

@pytest.fixture(scope="module")
def server(planned_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    s = Settings(
        data_dir=tmp_path_factory.mktemp("svc"),
        workers=1,
        poll_after_ms=50,
        default_fps=16,
        backend="pipeline",
        backend_options={"model_dir": str(planned_model)},
    )
    with ThreadServer(s) as srv:
        srv.wait_ready(timeout=300)  # a worker process loads torch and the model
        yield srv


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _done(server: ThreadServer, key: str, vid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        v = httpx.get(f"{server.base_url}/v1/videos/{vid}", headers=_h(key)).json()
        if v["status"] in ("completed", "failed"):
            return v  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise TimeoutError(vid)


def test_plans_on_create_and_on_the_video(server: ThreadServer) -> None:
    key = make_key(server.settings, "planner")
    url = f"{server.base_url}/v1/videos"
    plan = plan_prompt(PROMPT, seconds=1.0, seed=5)
    assert plan is not None
    # bad plans: 400 naming the field, nothing queued
    bad = json.loads(plan.to_json())
    bad["objects"][0]["color"] = "teal"
    for body, needle in [
        ({"plan": bad}, "color 'teal' is unknown"),
        ({"plan": {**json.loads(plan.to_json()), "version": 9}}, "plan.version 9"),
        ({"plan": plan.to_dict(), "seconds": "2"}, "but the video is 2 s"),
        ({"plan": "{not json"}, "not valid JSON"),
        ({"plan": plan.to_dict(), "use_plan": False}, "use_plan=false"),
    ]:
        r = httpx.post(url, headers=_h(key), json={"prompt": PROMPT, "seconds": "1", **body})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_plan" and err["param"] == "plan" and needle in err["message"]
    assert httpx.get(url, headers=_h(key)).json()["data"] == []
    # the caller's plan is rendered and readable on the video
    r = httpx.post(
        url, headers=_h(key), json={"prompt": PROMPT, "seconds": "1", "seed": 2, "plan": plan.to_dict()}
    )
    assert r.status_code == 200, r.text
    vid = r.json()["id"]
    done = _done(server, key, vid)
    assert done["status"] == "completed" and done["has_plan"] is True
    got = httpx.get(f"{url}/{vid}/plan", headers=_h(key))
    assert got.status_code == 200 and got.json() == plan.to_dict()
    # no plan given: the model's planner plans the prompt; use_plan=false: none
    auto = httpx.post(url, headers=_h(key), json={"prompt": PROMPT, "seconds": "1", "seed": 5}).json()["id"]
    none = httpx.post(
        url, headers=_h(key), json={"prompt": PROMPT, "seconds": "1", "use_plan": False}
    ).json()["id"]
    assert (
        _done(server, key, auto)["status"] == "completed"
        and _done(server, key, none)["status"] == "completed"
    )
    assert (
        httpx.get(f"{url}/{auto}/plan", headers=_h(key)).json() == plan.to_dict()
    )  # same prompt, seed, size
    assert _done(server, key, none)["has_plan"] is False
    missing = httpx.get(f"{url}/{none}/plan", headers=_h(key))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_plan"
    other = make_key(server.settings, "other")
    assert httpx.get(f"{url}/{vid}/plan", headers=_h(other)).status_code == 404  # not yours
