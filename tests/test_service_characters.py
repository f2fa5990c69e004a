"""Characters (`/v1/videos/characters`): named reference images made from a clip or from images,
the caller's own, moderated by name (consent) and image, and named on create for a model that takes
reference images (a tiny random-weight Wan VACE here) and refused for one that does not (the tiny
built-in model)."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from cinegen.cli import main as cli_main
from cinegen.families.random_models import save, wan_pipeline
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key, wait_status
from cinegen.service.testing import auth as _h
from tests.tiny_builtin import save_tiny_builtin

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    root = tmp_path_factory.mktemp("models")
    models = {"tiny": str(save_tiny_builtin(root / "tiny")),
              "vace": str(save(wan_pipeline("vace"), root / "vace"))}
    s = Settings(data_dir=tmp_path_factory.mktemp("chars"), backend="pipeline", models=models, workers=1,
                 default_fps=8, poll_after_ms=50, publish="plain")
    with ThreadServer(s) as srv:
        srv.wait_ready(timeout=120)
        yield srv


def _png(color: tuple[int, int, int], size: tuple[int, int] = (96, 64), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), color, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def _clip(tmp: Path) -> bytes:
    from cinegen.media import write_video

    frames = np.zeros((8, 128, 128, 3), np.uint8)
    frames[..., 2] = np.linspace(60, 200, 8, dtype=np.uint8)[:, None, None]  # blue, brighter each frame
    return write_video(tmp / "c.mp4", frames, 8).read_bytes()


def _post(srv: ThreadServer, key: str, data: dict[str, str], files: list[tuple[str, Any]]) -> httpx.Response:
    return httpx.post(f"{srv.base_url}/v1/videos/characters", headers=_h(key), data=data, files=files,
                      timeout=60)


def _client(srv: ThreadServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)


def test_a_character_from_a_clip_with_the_sdk_then_get_list_delete(server: ThreadServer,
                                                                    tmp_path: Path) -> None:
    key, other = make_key(server.settings, "clip"), make_key(server.settings, "other")
    client = _client(server, key)
    made = client.videos.create_character(name="Blue Fox", video=("c.mp4", _clip(tmp_path), "video/mp4"))
    assert made.id and made.id.startswith("char_") and made.name == "Blue Fox" and made.created_at > 0
    got = client.videos.get_character(made.id)
    assert got.id == made.id and got.name == "Blue Fox"
    folder = server.settings.data_dir / "characters" / made.id
    assert sorted(p.name for p in folder.iterdir()) == ["0.png", "1.png", "2.png"]  # 3 evenly spaced frames
    first, last = (np.asarray(Image.open(folder / f)) for f in ("0.png", "2.png"))
    assert first.shape == (128, 128, 3) and first[..., 2].mean() < last[..., 2].mean()  # first and last frame
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    url = f"{server.base_url}/v1/videos/characters"
    listed = httpx.get(url, headers=_h(key)).json()
    assert listed["object"] == "list" and [c["id"] for c in listed["data"]] == [made.id]
    assert listed["data"][0] == {"id": made.id, "object": "video.character", "name": "Blue Fox",
                                 "created_at": made.created_at, "images": 3}
    assert httpx.get(url, headers=_h(other)).json()["data"] == []  # another key sees none of it
    for r in (httpx.get(f"{url}/{made.id}", headers=_h(other)),
              httpx.delete(f"{url}/{made.id}", headers=_h(other))):
        assert r.status_code == 404 and r.json()["error"]["code"] == "character_not_found"
    assert httpx.get(url).status_code == 401  # authenticated first
    gone = httpx.delete(f"{url}/{made.id}", headers=_h(key))
    assert gone.json() == {"id": made.id, "object": "video.character.deleted", "deleted": True}
    assert not folder.exists()
    with pytest.raises(openai.NotFoundError):
        client.videos.get_character(made.id)


def test_a_character_from_images(server: ThreadServer) -> None:
    key = make_key(server.settings, "images")
    files = [("images", ("a.png", _png((20, 60, 200)), "image/png")),
             ("images[]", ("b.jpg", _png((30, 160, 60), (300, 200), "JPEG"), "image/jpeg")),
             ("images", ("c.webp", _png((90, 90, 90), (64, 64), "WEBP"), "image/webp"))]
    r = _post(server, key, {"name": "Gadget"}, files)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["object"] == "video.character" and c["images"] == 3 and c["name"] == "Gadget"
    folder = server.settings.data_dir / "characters" / c["id"]
    sizes = [Image.open(folder / f"{i}.png").size for i in range(3)]
    assert sizes == [(96, 64), (300, 200), (64, 64)]  # any size, in the order sent


def test_bad_uploads_are_specific_4xx(server: ThreadServer) -> None:
    key = make_key(server.settings, "bad")
    png = ("a.png", _png((20, 60, 200)), "image/png")
    cases = [({}, [("images", png)], 400, "missing_name"),
             ({"name": "  "}, [("images", png)], 400, "invalid_name"),
             ({"name": "x" * 81}, [("images", png)], 400, "invalid_name"),
             ({"name": "Text"}, [("images", ("a.txt", b"not an image", "text/plain"))], 400, "invalid_image"),
             ({"name": "Five"}, [("images", png)] * 5, 400, "too_many_images"),
             ({"name": "Both"}, [("images", png), ("video", ("c.mp4", b"\0" * 64, "video/mp4"))], 400,
              "invalid_character_images"),
             ({"name": "Junk"}, [("video", ("c.mp4", b"\0" * 64, "video/mp4"))], 400, "invalid_video"),
             ({"name": "Other"}, [("thumbnail", png)], 400, "unknown_parameter"),
             ({"name": "Odd"}, [("images[x]", png)], 400, "unknown_parameter")]
    for data, files, status, code in cases:
        r = _post(server, key, data, files)
        assert r.status_code == status and r.json()["error"]["code"] == code, (data, code, r.text)
    j = httpx.post(f"{server.base_url}/v1/videos/characters", headers=_h(key), json={"name": "Json"})
    assert j.status_code == 400 and j.json()["error"]["code"] == "missing_character_images"
    assert httpx.get(f"{server.base_url}/v1/videos/characters", headers=_h(key)).json()["data"] == []


def test_a_performer_needs_consent_and_a_public_figure_is_refused(
    server: ThreadServer, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(server.settings.data_dir)
    assert cli_main(["consent", "--data-dir", data, "register", "Ada Quill"]) == 0
    assert cli_main(["consent", "--data-dir", data, "grant", "Ada Quill", "--use", "image-to-video",
                     "--project", "harbour-film", "--expires", "2099-01-01"]) == 0
    grant = capsys.readouterr().out.split()[-1]
    key = make_key(server.settings, "consent")
    png = [("images", ("a.png", _png((20, 60, 200)), "image/png"))]
    r = _post(server, key, {"name": "Ada Quill"}, png)
    assert r.status_code == 400 and r.json()["error"]["code"] == "safety.likeness", r.text
    assert r.json()["error"]["param"] == "name" and "no consent grant" in r.json()["error"]["message"]
    r = _post(server, key, {"name": "Tom Hanks"}, png)
    assert r.status_code == 400 and r.json()["error"]["code"] == "safety.likeness"
    skin = [("images", ("s.png", _png((224, 172, 140)), "image/png"))]
    r = _post(server, key, {"name": "Portrait"}, skin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "images", r.text
    r = _post(server, key, {"name": "Ada Quill", "consent_grant_id": grant}, png)
    assert r.status_code == 200, r.text
    assert httpx.get(f"{server.base_url}/v1/videos/characters", headers=_h(key)).json()["data"][0]["id"] == \
        r.json()["id"]
    ada = r.json()["id"]
    # a job naming the character re-checks its name under the grant it was made with: revoked, refused
    assert cli_main(["consent", "--data-dir", data, "revoke", grant]) == 0
    job = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key),
                     json={"prompt": "a walk on the pier", "seconds": "1", "size": "128x128", "model": "vace",
                           "fit": True, "characters": [ada]})
    err = job.json()["error"]
    assert job.status_code == 400 and err["code"] == "safety.likeness" and err["param"] == "characters"
    assert "revoked" in err["message"]
    owner = server.service.store.key_by_name("consent")["id"]
    assert {row["route"] for row in server.service.store.refusals(owner)} == {"character", "create"}


def test_a_job_renders_its_characters_on_a_reference_model_only(server: ThreadServer) -> None:
    key, other = make_key(server.settings, "jobs"), make_key(server.settings, "stranger")
    c = _post(server, key, {"name": "Blue Box"},
              [("images", ("a.png", _png((20, 60, 200)), "image/png"))] * 2).json()
    client = _client(server, key)
    base = {"prompt": "a box on a table", "seconds": "1", "size": "128x128"}
    with pytest.raises(openai.BadRequestError) as e:
        client.videos.create(**base, model="tiny", extra_body={"characters": [c["id"]]})  # type: ignore[arg-type]
    err = e.value.body
    assert isinstance(err, dict) and err["code"] == "references_unsupported" and "vace" in err["message"]
    url = f"{server.base_url}/v1/videos"
    r = httpx.post(url, headers=_h(other), json={**base, "model": "vace", "fit": True,
                                                  "characters": [c["id"]]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "character_not_found"
    r = httpx.post(url, headers=_h(key), json={**base, "model": "vace", "fit": True,
                                                "characters": [c["id"], c["id"]]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "duplicate_character"
    job = client.videos.create(**base, model="vace", extra_body={"fit": True, "characters": [c["id"]]})  # type: ignore[arg-type]
    row = server.service.store.get(None, job.id)
    refs = [Path(p) for p in json.loads(row["spec"])["references"]]
    assert len(refs) == 2 and all(p.parent == server.settings.inputs_dir for p in refs)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in refs)
    # the job holds its own copies: deleting the character now does not break it
    chars = f"{server.base_url}/v1/videos/characters"
    assert httpx.delete(f"{chars}/{c['id']}", headers=_h(key)).status_code == 200
    done = wait_status(server.base_url, key, job.id, timeout=180)
    assert done["status"] == "completed", done
    assert httpx.get(url, headers=_h(key)).json()["data"][0]["id"] == job.id
    with pytest.raises(openai.NotFoundError) as missing:  # the SDK sends a multipart form: `characters[]`
        client.videos.create(**base, model="vace", extra_body={"fit": True, "characters": ["char_missing"]})  # type: ignore[arg-type]
    assert isinstance(missing.value.body, dict) and missing.value.body["code"] == "character_not_found"
