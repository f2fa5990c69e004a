"""The service end to end on loopback, driven by the official `openai` SDK and plain httpx."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from cinegen.cli import main as cli_main
from cinegen.media import probe_video
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key, wait_status
from cinegen.service.testing import auth as _h

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    s = Settings(data_dir=tmp_path_factory.mktemp("svc"), workers=1, poll_after_ms=50, default_fps=8,
                 max_concurrent_jobs=50)
    with ThreadServer(s) as srv:
        srv.wait_ready()
        yield srv


@pytest.fixture(scope="module")
def key(server: ThreadServer) -> str:
    return make_key(server.settings, "alice")


@pytest.fixture(scope="module")
def client(server: ThreadServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)


def test_sdk_create_poll_download_list_remix_delete(server: ThreadServer, client: openai.OpenAI,
                                                    tmp_path: Path) -> None:
    video = client.videos.create(prompt="a red ball bounces on grass", seconds="2", size="128x128")
    assert video.object == "video" and video.status in ("queued", "in_progress") and video.progress >= 0
    raw = client.videos.with_raw_response.retrieve(video.id)
    assert raw.headers.get("openai-poll-after-ms") or raw.parse().status == "completed"
    video = client.videos.poll(video.id)
    assert video.status == "completed" and video.progress == 100
    assert video.seconds == "2" and video.size == "128x128" and video.completed_at and video.expires_at
    assert video.expires_at > video.completed_at

    out = tmp_path / "ball.mp4"
    client.videos.download_content(video.id).write_to_file(out)
    info = probe_video(out)
    assert (info.width, info.height) == (128, 128) and info.num_frames == 16  # 2 s at 8 fps, all decodable
    thumb = client.videos.download_content(video.id, variant="thumbnail").content
    assert Image.open(io.BytesIO(thumb)).size == (128, 128)
    sprite = client.videos.download_content(video.id, variant="spritesheet").content
    assert Image.open(io.BytesIO(sprite)).format == "JPEG"

    remix = client.videos.remix(video.id, prompt="a blue box slides left")
    assert remix.remixed_from_video_id == video.id
    remix = client.videos.poll(remix.id)
    assert remix.status == "completed" and remix.seconds == "2" and remix.size == "128x128"

    ids = [v.id for v in client.videos.list()]
    assert video.id in ids and remix.id in ids
    deleted = client.videos.delete(video.id)
    assert deleted.deleted and deleted.id == video.id and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_extend_and_edit_by_reference(server: ThreadServer, key: str, client: openai.OpenAI) -> None:
    # This SDK version insists `video` be a file upload, so these go over plain HTTP (JSON and form).
    base = client.videos.create_and_poll(prompt="a green star rises", seconds="1", poll_interval_ms=50)
    ext = httpx.post(f"{server.base_url}/v1/videos/extensions", headers=_h(key),
                     json={"prompt": "it keeps rising", "seconds": "1", "video": {"id": base.id}})
    assert ext.status_code == 200, ext.text
    ext_done = client.videos.poll(ext.json()["id"], poll_interval_ms=50)
    assert ext_done.status == "completed" and ext_done.seconds == "2"
    assert probe_video_bytes(client.videos.download_content(ext_done.id).content).num_frames == 16
    edit = httpx.post(f"{server.base_url}/v1/videos/edits", headers=_h(key),
                      files={"prompt": (None, "a yellow star rises"), "video[id]": (None, base.id)})
    assert edit.status_code == 200, edit.text
    assert client.videos.poll(edit.json()["id"], poll_interval_ms=50).status == "completed"


def probe_video_bytes(data: bytes):  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        return probe_video(f.name)


def test_list_pagination(server: ThreadServer) -> None:
    k = make_key(server.settings, "pager")
    ids = []
    for i in range(5):
        r = httpx.post(f"{server.base_url}/v1/videos", headers=_h(k),
                       json={"prompt": f"ball {i}", "seconds": 1})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    c = openai.OpenAI(base_url=server.base_url + "/v1", api_key=k)
    page = c.videos.list(limit=2)
    assert [v.id for v in page.data] == ids[::-1][:2] and page.has_more
    assert [v.id for v in c.videos.list(limit=2)] == ids[::-1]  # auto-paging follows last_id
    asc = httpx.get(f"{server.base_url}/v1/videos", params={"order": "asc", "limit": 3, "after": ids[0]},
                    headers=_h(k)).json()
    assert [v["id"] for v in asc["data"]] == ids[1:4] and asc["has_more"] is True


def test_multipart_input_reference(server: ThreadServer, key: str, client: openai.OpenAI) -> None:
    img = np.zeros((112, 192, 3), np.uint8)
    img[:, :96] = (255, 0, 0)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    v = client.videos.create(prompt="the red half slides away", size="192x112", seconds="1",
                             input_reference=("ref.png", buf.getvalue(), "image/png"))
    r = httpx.get(f"{server.base_url}/v1/videos/{v.id}", headers=_h(key)).json()
    assert r["mode"] == "image"
    assert wait_status(server.base_url, key, v.id)["status"] == "completed"


def test_extension_fields_seed_fps_negative_prompt(server: ThreadServer, key: str) -> None:
    body = {"prompt": "a ball", "seconds": 1, "seed": 7, "fps": 12, "negative_prompt": "blur"}
    r = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key), json=body)
    assert r.status_code == 200 and r.json()["seed"] == 7 and r.json()["fps"] == 12
    assert r.json()["negative_prompt"] == "blur"
    done = wait_status(server.base_url, key, r.json()["id"])
    assert done["status"] == "completed"


def test_idempotency_key(server: ThreadServer, key: str) -> None:
    h = {**_h(key), "Idempotency-Key": "order-42"}
    a = httpx.post(f"{server.base_url}/v1/videos", headers=h, json={"prompt": "one ball", "seconds": 1})
    b = httpx.post(f"{server.base_url}/v1/videos", headers=h, json={"prompt": "one ball", "seconds": 1})
    assert a.status_code == b.status_code == 200 and a.json()["id"] == b.json()["id"]
    c = httpx.post(f"{server.base_url}/v1/videos", headers=h, json={"prompt": "two balls", "seconds": 1})
    assert c.status_code == 409 and c.json()["error"]["code"] == "idempotency_key_reused"


def test_cancel_running_and_queued(server: ThreadServer, key: str) -> None:
    url = f"{server.base_url}/v1/videos"
    slow = httpx.post(url, headers=_h(key), json={"prompt": "a ball [delay=20]", "seconds": 2}).json()
    queued = httpx.post(url, headers=_h(key), json={"prompt": "a box", "seconds": 1}).json()
    deadline = time.monotonic() + 20
    while httpx.get(f"{url}/{slow['id']}", headers=_h(key)).json()["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c2 = httpx.post(f"{url}/{queued['id']}/cancel", headers=_h(key)).json()
    assert c2["status"] == "failed" and c2["error"]["code"] == "cancelled"
    t0 = time.monotonic()
    assert httpx.post(f"{url}/{slow['id']}/cancel", headers=_h(key)).json()["cancel_requested"]
    done = wait_status(server.base_url, key, slow["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "cancelled" and time.monotonic() - t0 < 5
    again = httpx.post(f"{url}/{slow['id']}/cancel", headers=_h(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "video_not_cancellable"


def test_sse_progress_stream(server: ThreadServer, key: str) -> None:
    v = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key),
                   json={"prompt": "a ball [delay=1]", "seconds": 2}).json()
    events = []
    with httpx.stream("GET", f"{server.base_url}/v1/videos/{v['id']}/events", params={"key": key},
                      timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "video.completed" and "video.progress" in kinds
    progress = [d["progress"] for k, d in events]
    assert progress == sorted(progress) and len(set(progress)) >= 3


def test_health_ready_metrics_openapi(server: ThreadServer) -> None:
    base = server.base_url
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").status_code == 200
    m = httpx.get(f"{base}/metrics").text
    for name in ("cinegen_queue_depth", "cinegen_job_duration_seconds_bucket", "cinegen_job_failures_total",
                 "cinegen_http_request_duration_seconds_count"):
        assert name in m
    spec = httpx.get(f"{base}/openapi.json").json()
    body = spec["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


def test_cli_keys_create_prints_key_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["keys", "create", "bob", "--data-dir", str(tmp_path), "--webhook-url",
                     "http://127.0.0.1:9000/y", "--webhook-allow-host", "127.0.0.1:9000"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("cg_") and " " not in out[-1] and any("whsec_" in line for line in out)
    assert cli_main(["keys", "list", "--data-dir", str(tmp_path)]) == 0
    assert "bob" in capsys.readouterr().out
    assert cli_main(["keys", "revoke", "bob", "--data-dir", str(tmp_path)]) == 0
    assert cli_main(["keys", "revoke", "bob", "--data-dir", str(tmp_path)]) == 2


def test_data_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CINEGEN_HOME", str(tmp_path / "home"))
    assert Settings.from_env().data_dir == tmp_path / "home"
    assert Settings.from_env(tmp_path / "flag").data_dir == tmp_path / "flag"
    with pytest.raises(ValueError, match="unknown settings"):
        Settings.from_dict({"nope": 1})


def test_publish_trust_watermarks_and_signs(tmp_path: Path) -> None:
    publish = pytest.importorskip("cinegen.trust.publish")
    s = Settings(data_dir=tmp_path, workers=1, default_fps=8)
    assert s.publish == "trust"  # the default: plain MP4s only by an explicit opt-out
    key = make_key(s, "signed")
    with ThreadServer(s) as srv:
        c = openai.OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)
        v = c.videos.create_and_poll(prompt="a red ball", seconds="1", poll_interval_ms=50)
        assert v.status == "completed", v.error
        out = tmp_path / "signed.mp4"
        c.videos.download_content(v.id).write_to_file(out)
    report = publish.verify_video(out)
    assert report.c2pa.valid and report.c2pa.claims["job_id"] == v.id and report.watermark.detected
    assert (tmp_path / "trust").is_dir()  # keys stay under the data directory


def test_publish_plain_is_an_explicit_opt_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cinegen.server import register
    from cinegen.service.backends import JobSpec, publish_frames
    from cinegen.trust.publish import verify_video

    frames = np.zeros((8, 64, 64, 3), np.uint8)
    out = publish_frames(frames, 8, tmp_path / "plain.mp4", job=JobSpec(id="v", prompt="p", publish="plain"),
                         info={})
    assert verify_video(out).c2pa.present is False
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve"])
    assert args.publish is None and args.no_moderation is False  # the flags only opt out when given
    assert Settings.from_env(tmp_path, publish=args.publish).publish == "trust"
