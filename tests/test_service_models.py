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


def test_switch_settings_parse_and_refuse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cinegen.families.switches import Lora, Switches

    for var, value in {"CINEGEN_VAE_TILING": "on", "CINEGEN_CACHE": "first-block", "CINEGEN_DTYPE": "float32",
                       "CINEGEN_LORAS": "a.safetensors:0.5, b", "CINEGEN_FP8_STORAGE": "1"}.items():
        monkeypatch.setenv(var, value)
    s = Settings.from_env(tmp_path, backend="pipeline")
    loras = (Lora(Path("a.safetensors"), 0.5), Lora(Path("b")))
    want = Switches(vae_tiling=True, cache="first-block", loras=loras, fp8_storage=True)
    assert s.switches() == want and s.backend_kwargs()["switches"] == want
    assert s.backend_kwargs()["dtype"] == "float32" and "device" not in s.backend_kwargs()
    assert Settings(data_dir=tmp_path).switches() is None and "switches" not in Settings().backend_kwargs()
    monkeypatch.setenv("CINEGEN_COMPILE", "maybe")
    with pytest.raises(ValueError, match="CINEGEN_COMPILE: expected true or false, got 'maybe'"):
        Settings.from_env(tmp_path)
    with pytest.raises(ValueError, match="cache must be one of first-block, .*, got 'tea'"):
        Settings(data_dir=tmp_path, cache="tea")
    with pytest.raises(ValueError, match="dtype must be one of"):
        Settings(data_dir=tmp_path, dtype="fp8")
    with pytest.raises(ValueError, match="device is given twice"):
        Settings(data_dir=tmp_path, device="cuda", backend_options={"device": "cpu"})


def test_switches_that_cannot_work_fail_the_start(dirs: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from cinegen.cli import main
    from cinegen.service.app import create_app

    # the same refusal as `cinegen generate --offload group` on a CPU, before anything is served
    args = ["serve", "--data-dir", str(tmp_path / "a"), "--model", f"wan={dirs['wan']}", "--no-auth",
            "--publish", "plain", "--offload", "group"]
    assert main(args) == 2
    assert "cannot serve with these switches: offload 'group' moves weights" in capsys.readouterr().err
    builtin = Settings(data_dir=tmp_path / "b", backend="pipeline", models={"tiny": str(dirs["tiny"])},
                       vae_tiling=True)
    with pytest.raises(ValueError, match=r"none of the served models \(tiny\) is one"):
        create_app(builtin, start_workers=False)
    with pytest.raises(ValueError, match="settings of the pipeline backend, not of backend 'fake'"):
        create_app(Settings(data_dir=tmp_path / "c", backend="fake", compile=True), start_workers=False)


def test_served_family_models_load_with_the_switches(dirs: dict[str, Path], tmp_path: Path) -> None:
    """The switch reaches the open-family model's pipeline; the built-in model beside it loads without."""
    from cinegen.pipeline import CinegenPipeline
    from cinegen.service.backends import load_backend

    s = Settings(data_dir=tmp_path, backend="pipeline", vae_tiling=True, dtype="float32",
                 models={"tiny": str(dirs["tiny"]), "wan": str(dirs["wan"])})
    backend: Any = load_backend("pipeline", s.backend_kwargs())
    wan = backend._model("wan").pipe
    assert wan.base.vae.use_tiling and wan.switches.describe() == {"vae_tiling": True}
    assert isinstance(backend._model("tiny").pipe, CinegenPipeline)
