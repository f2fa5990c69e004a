"""`upscale` on the service's create: a model that ships a latent upsampler (a tiny LTX-Video directory
with `latent_upsampler/`) renders at half the size and doubles it; any other model, or a size whose
half the family does not take, is a 400 naming the field, and nothing is queued."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cinegen.families.random_models import ltx_latent_upsampler, ltx_pipeline, save
from cinegen.families.upscale import UPSAMPLER_DIR
from cinegen.service.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    up = save(ltx_pipeline(), root / "ltx-up")
    ltx_latent_upsampler().save_pretrained(str(up / UPSAMPLER_DIR))
    return {"ltx-up": up, "ltx": save(ltx_pipeline(), root / "ltx")}


@pytest.fixture(scope="module")
def server(dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cinegen.service.testing import ThreadServer

    models = {k: str(v) for k, v in dirs.items()}
    s = Settings(data_dir=tmp_path_factory.mktemp("svc"), backend="pipeline", auth=False, publish="plain",
                 models=models, workers=1, default_fps=9, sizes=("128x128", "160x96"),
                 poll_after_ms=50)
    with ThreadServer(s) as srv:
        srv.wait_ready(timeout=120)
        yield srv


def _create(srv: Any, **body: Any) -> httpx.Response:  # 1 s at 9 fps: 9 frames, LTX's 8k+1
    return httpx.post(srv.base_url + "/v1/videos", json={"prompt": "a red ball", "seconds": "1", "steps": 2,
                                                         **body}, timeout=30)


def test_models_say_whether_they_upscale(server: Any) -> None:
    by_id = {m["id"]: m for m in httpx.get(server.base_url + "/v1/models").json()["data"]}
    assert by_id["ltx-up"]["upscale"] is True and by_id["ltx"]["upscale"] is False


def test_refused_before_anything_is_queued(server: Any) -> None:
    cases = [({"model": "ltx", "upscale": True}, "upscale_unsupported", "upscale",
              "ships no latent upsampler"),
             ({"model": "ltx-up", "upscale": True, "size": "160x96"}, "invalid_size", "size",
              "multiples of 64, not 160x96: use 128x128 (or send fit: true)"),
             ({"model": "ltx-up", "upscale": "yes"}, "invalid", "upscale", "")]
    for body, code, param, says in cases:
        r = _create(server, **body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["code"].startswith(code) and err["param"] == param and says in err["message"], (body, err)
    assert httpx.get(server.base_url + "/v1/videos").json()["data"] == []


def test_an_upscaled_job_is_the_two_stage_render(server: Any, dirs: dict[str, Path], tmp_path: Path) -> None:
    from cinegen.families.model import DiffusersVideoModel
    from cinegen.media import probe_video, read_video, write_video

    created = _create(server, model="ltx-up", upscale=True, size="128x128", seed=3).json()
    deadline = time.monotonic() + 120
    while (v := httpx.get(f"{server.base_url}/v1/videos/{created['id']}").json())["status"] not in (
            "completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert v["status"] == "completed", v
    out = tmp_path / "up.mp4"
    out.write_bytes(httpx.get(f"{server.base_url}/v1/videos/{created['id']}/content").content)
    info = probe_video(out)
    assert (info.width, info.height, info.num_frames) == (128, 128, 9)  # made at 64x64, doubled
    model = DiffusersVideoModel.load(dirs["ltx-up"])
    call: dict[str, Any] = {"seconds": 1.0, "fps": 9, "width": 128, "height": 128, "steps": 2, "seed": 3}
    upscaled, direct = model("a red ball", upscale=True, **call).frames, model("a red ball", **call).frames
    # the service's plain MP4 is the two-stage render as `write_video` encodes it, not the one-stage one
    frames = read_video(out)[0]
    assert np.array_equal(frames, read_video(write_video(tmp_path / "want.mp4", upscaled, 9))[0])
    assert not np.array_equal(frames, read_video(write_video(tmp_path / "not.mp4", direct, 9))[0])
