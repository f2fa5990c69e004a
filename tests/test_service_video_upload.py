"""The openai SDK's `videos.extend` and `videos.edit`, unmodified, on the caller's own uploaded clip;
and every way an uploaded clip can be wrong answers a 4xx naming `video`, leaving nothing behind."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from cinegen.media import probe_video, write_video
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key
from cinegen.service.testing import auth as H

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, str]]:
    """A server with one worker (uploads capped at 256 KiB) and a key for it."""
    s = Settings(data_dir=tmp_path_factory.mktemp("up"), workers=1, poll_after_ms=50, default_fps=8,
                 moderation=False, max_concurrent_jobs=50, max_video_upload_bytes=256 * 1024)
    key = make_key(s, "alice")
    with ThreadServer(s) as srv:
        srv.wait_ready()
        yield srv, key


def clip(frames: int = 8, fps: int = 8, size: tuple[int, int] = (128, 128), **kw: object) -> bytes:
    """An MP4 of `frames` frames (a moving bar, so frames differ)."""
    w, h = size
    video = np.zeros((frames, h, w, 3), np.uint8)
    for i in range(frames):
        video[i, :, (i * 8) % w: (i * 8) % w + 8] = (200, 60, 30)
    with tempfile.TemporaryDirectory() as d:
        return write_video(Path(d) / "c.mp4", video, fps, **kw).read_bytes()  # type: ignore[arg-type]


def frames_of(data: bytes) -> int:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        return probe_video(f.name).num_frames


def test_sdk_extend_and_edit_an_uploaded_clip(live: tuple[ThreadServer, str]) -> None:
    server, key = live
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)
    mine = clip(frames=12)  # 1.5 s at 8 fps: trimmed to whole seconds (8 frames)
    ext = client.videos.extend(prompt="the bar keeps moving", seconds="1",  # type: ignore[arg-type]
                               video=("mine.mp4", mine, "video/mp4"))
    done = client.videos.poll(ext.id, poll_interval_ms=50)
    assert done.status == "completed" and done.seconds == "2", done
    assert frames_of(client.videos.download_content(done.id).content) == 16  # the clip, then 1 s more
    edit = client.videos.edit(prompt="a blue bar moves", video=("mine.mp4", io.BytesIO(mine), "video/mp4"))
    done = client.videos.poll(edit.id, poll_interval_ms=50)
    assert done.status == "completed" and done.seconds == "1" and done.size == "128x128", done
    # by id: the SDK's typed method refuses a dict before sending, so its generic `post` (as docs/service.md
    # shows), and a form's `video[id]`
    by_id = client.post("/videos/extensions", cast_to=openai.types.Video,
                        body={"prompt": "more", "seconds": "1", "video": {"id": done.id}})
    assert client.videos.poll(by_id.id, poll_interval_ms=50).seconds == "2"
    r = httpx.post(f"{server.base_url}/v1/videos/edits", headers=H(key),
                   files={"prompt": (None, "again"), "video[id]": (None, done.id)})
    assert r.status_code == 200, r.text


def png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def gif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(buf, format="GIF")
    return buf.getvalue()


BAD = [
    ("empty", lambda: b"", "invalid_video"),
    ("text", lambda: b"not a video at all" * 10, "invalid_video"),
    ("png", png, "invalid_video"),
    ("gif", gif, "invalid_video"),
    ("truncated", lambda: clip(frames=16)[: len(clip(frames=16)) // 2], "invalid_video"),
    ("wrong_size", lambda: clip(size=(64, 64)), "unsupported_video_size"),
    ("too_short", lambda: clip(frames=4), "invalid_video"),
    ("too_long", lambda: clip(frames=62 * 2, fps=2), "invalid_video"),
    ("too_fast", lambda: clip(frames=60, fps=60), "invalid_video"),
    ("mpeg2", lambda: clip(codec="mpeg2video"), "unsupported_video_codec"),
    ("oversize", lambda: np.random.default_rng(0).bytes(300 * 1024), "file_too_large"),
]


@pytest.mark.parametrize(("name", "make", "code"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("route", ["extensions", "edits"])
def test_bad_clips_are_refused(live: tuple[ThreadServer, str], route: str, name: str, make: object,
                               code: str) -> None:
    server, key = live
    data = make()  # type: ignore[operator]
    before = set(server.settings.inputs_dir.iterdir())
    fields = {"prompt": (None, "x")} | ({"seconds": (None, "1")} if route == "extensions" else {})
    r = httpx.post(f"{server.base_url}/v1/videos/{route}", headers=H(key),
                   files={**fields, "video": ("c.mp4", data, "video/mp4")})
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"] == code, r.text
    assert set(server.settings.inputs_dir.iterdir()) == before  # nothing left behind


def test_both_or_neither_source_is_refused(live: tuple[ThreadServer, str]) -> None:
    server, key = live
    url = f"{server.base_url}/v1/videos/edits"
    r = httpx.post(url, headers=H(key), json={"prompt": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_video"
    r = httpx.post(url, headers=H(key), files={"prompt": (None, "x"), "video[id]": (None, "video_x"),
                                               "video": ("c.mp4", clip(), "video/mp4")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "video"
