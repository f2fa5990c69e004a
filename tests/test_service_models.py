"""Several models behind one service (`cinegen serve --model NAME=PATH ...`): GET /v1/models lists
them, the `model` field picks one, and each request is checked against the picked model's modes,
sizes, qualities and frame rule before anything is queued. Tiny random weights: a built-in model,
the same with a few-step student installed as quality 'fast', and a Wan 2.1 directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from cinegen.families.random_models import save, wan_pipeline
from cinegen.service.settings import Settings, parse_models
from cinegen.training.distill import install_student
from tests.tiny_builtin import save_tiny_builtin

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    plain = save_tiny_builtin(root / "tiny")
    student = root / "student"  # a stand-in student: the tiny transformer, declared as a 2..4-step student
    shutil.copytree(plain / "transformer", student)
    (student / "student.json").write_text(json.dumps({"steps": 2, "min_steps": 2, "max_steps": 4,
                                                      "sampler": "euler", "guidance_folded": 5.0}))
    fast = root / "tiny-fast"
    shutil.copytree(plain, fast)
    install_student(student, fast)
    return {"tiny": plain, "tiny-fast": fast, "wan": save(wan_pipeline("t2v"), root / "wan")}


@pytest.fixture(scope="module")
def server(dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cinegen.service.testing import ThreadServer

    s = Settings(data_dir=tmp_path_factory.mktemp("svc"), backend="pipeline", auth=False, publish="plain",
                 models={k: str(v) for k, v in dirs.items()}, workers=1, default_fps=8, poll_after_ms=50)
    with ThreadServer(s) as srv:
        srv.wait_ready(timeout=120)
        yield srv


def _create(srv: Any, **body: Any) -> httpx.Response:
    return httpx.post(srv.base_url + "/v1/videos", json={"prompt": "a red ball", "seconds": "1", **body},
                      timeout=30)


def _done(srv: Any, video_id: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        v: dict[str, Any] = httpx.get(f"{srv.base_url}/v1/videos/{video_id}").json()
        if v["status"] in ("completed", "failed"):
            return v
        time.sleep(0.1)
    raise AssertionError(f"{video_id} did not finish")


def test_models_are_listed_with_what_each_can_do(server: Any) -> None:
    listing = httpx.get(server.base_url + "/v1/models").json()
    assert listing["object"] == "list"
    by_id = {m["id"]: m for m in listing["data"]}
    assert list(by_id) == ["tiny", "tiny-fast", "wan"]  # the default first
    assert by_id["tiny"]["qualities"] == ["full"] and by_id["tiny-fast"]["qualities"] == ["full", "fast"]
    assert by_id["tiny"]["family"] == "cinegen" and by_id["tiny"]["sizes"] == ["128x128"]
    wan = by_id["wan"]
    assert wan["family"] == "wan" and "loop" not in wan["modes"] and {"text", "edit"} <= set(wan["modes"])
    assert wan["sizes"][0] == "832x480" and "128x128" in wan["sizes"]  # its default, then the offered fits
    assert httpx.get(server.base_url + "/v1/models/wan").json()["id"] == "wan"
    missing = httpx.get(server.base_url + "/v1/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_requests_are_checked_against_the_picked_model(server: Any) -> None:
    cases = [({"model": "nope"}, "unknown_model", "tiny, tiny-fast, wan"),
             ({"model": "tiny", "quality": "fast"}, "invalid_quality", "choose from full"),
             ({"model": "wan", "mode": "loop"}, "unsupported_mode", "it can do text"),
             ({"model": "tiny", "size": "176x96"}, "invalid_size", "128x128"),
             ({"model": "wan"}, "invalid_frames", "fit: true"),  # 1 s at 8 fps is 8 frames; Wan takes 4k+1
             ({"quality": "FAST"}, "invalid_quality", "got 'FAST'")]
    for body, code, says in cases:
        r = _create(server, **body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["code"].startswith(code) and says in err["message"], (body, err)
    assert httpx.get(server.base_url + "/v1/videos").json()["data"] == []  # nothing was queued


def test_each_model_renders_its_jobs(server: Any) -> None:
    fast = _create(server, model="tiny-fast", quality="fast").json()
    default = _create(server).json()  # no model: the first
    wan = _create(server, model="wan", fit=True).json()  # 8 frames fitted to 9
    for created, name in ((fast, "tiny-fast"), (default, "tiny"), (wan, "wan")):
        v = _done(server, created["id"])
        assert v["status"] == "completed", v
        assert v["model"] == name


def test_served_models_setting_parses_and_refuses() -> None:
    assert parse_models("a=/m/a, b=/m/b") == {"a": "/m/a", "b": "/m/b"}
    assert parse_models(["a=/m/a"]) == {"a": "/m/a"}
    for bad in ("a", "=x", "a=", "a=/x,a=/y"):
        with pytest.raises(ValueError):
            parse_models(bad)


def test_a_model_that_cannot_be_served_fails_the_start(tmp_path: Path) -> None:
    from cinegen.service.app import create_app

    s = Settings(data_dir=tmp_path / "svc", backend="pipeline", models={"x": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="model 'x'.*cannot be served"):
        create_app(s, start_workers=False)
    with pytest.raises(ValueError, match="pipeline backend"):
        create_app(Settings(data_dir=tmp_path / "svc2", backend="fake", models={"x": "y"}),
                   start_workers=False)
