"""The studio's routes inside the service app: storyboards CRUD, merge rules, clear errors, the page."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cinegen.server import build_app
from cinegen.service.settings import Settings

TWO_SHOTS = {
    "title": "Two shots",
    "width": 192,
    "height": 112,
    "shots": [
        {"prompt": "a red ball moves right", "seconds": 1},
        {"prompt": "a blue box falls", "seconds": 2, "transition": "dissolve"},
    ],
}


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The service app without workers: jobs stay queued (a storyboard that is still running)."""
    app = build_app(Settings(data_dir=tmp_path, auth=False), start_workers=False)
    with TestClient(app) as c:
        yield c


def message(r: object) -> str:
    return str(r.json()["error"]["message"])  # type: ignore[attr-defined]


def test_page_and_config_are_served(client: TestClient) -> None:
    r = client.get("/studio/")
    assert r.status_code == 200 and "cinegen studio" in r.text
    assert client.get("/studio/app.js").status_code == 200
    cfg = client.get("/v1/studio/config").json()
    assert cfg["auth"] is False and "192x112" in cfg["sizes"] and cfg["max_upload_bytes"] > 0


def test_storyboard_crud_and_generate_queues_jobs(client: TestClient) -> None:
    b = client.post("/v1/storyboards", json=TWO_SHOTS).json()
    assert [s["id"] for s in b["shots"]] == ["s1", "s2"] and b["running_seconds"] == 2.5
    assert "path" not in b["shots"][0] and b["shots"][0]["status"] == "draft"
    assert client.get("/v1/storyboards").json()["data"][0]["id"] == b["id"]
    g = client.post(f"/v1/storyboards/{b['id']}/generate").json()
    assert [s["status"] for s in g["shots"]] == ["queued", "queued"]
    vids = [s["video_id"] for s in g["shots"]]
    v = client.get(f"/v1/videos/{vids[0]}").json()
    assert v["prompt"] == "a red ball moves right." and v["seconds"] == "1"
    assert v["size"] == "192x112" and v["fps"] == 24
    # reorder and retime shorter: the videos are kept; a new prompt sends the shot back to draft
    body = {**TWO_SHOTS,
            "shots": [{**g["shots"][1], "seconds": 1.5}, {**g["shots"][0], "prompt": "a red ball"}]}
    p = client.put(f"/v1/storyboards/{b['id']}", json=body).json()
    assert [s["id"] for s in p["shots"]] == ["s2", "s1"]
    assert p["shots"][0]["video_id"] == vids[1] and p["shots"][0]["seconds"] == 1.5
    assert p["shots"][1]["status"] == "draft" and p["shots"][1]["video_id"] is None
    assert client.delete(f"/v1/storyboards/{b['id']}").json()["deleted"] is True
    assert client.get(f"/v1/storyboards/{b['id']}").status_code == 404


def test_a_storyboard_renders_with_its_model_and_quality(client: TestClient) -> None:
    """The board's model and quality go with every shot's job; one the service lacks fails the shot
    with the service's message, and the board keeps it."""
    name = client.get("/v1/models").json()["data"][0]["id"]
    b = client.post("/v1/storyboards", json={**TWO_SHOTS, "model": name, "quality": "full"}).json()
    assert (b["model"], b["quality"]) == (name, "full")
    g = client.post(f"/v1/storyboards/{b['id']}/generate").json()
    assert [s["status"] for s in g["shots"]] == ["queued", "queued"]
    bad = client.post("/v1/storyboards", json={**TWO_SHOTS, "quality": "fast"}).json()
    g = client.post(f"/v1/storyboards/{bad['id']}/generate").json()
    assert g["shots"][0]["status"] == "failed" and "no quality 'fast'" in g["shots"][0]["error"]


def test_a_linked_character_goes_with_the_shots_that_name_it(client: TestClient) -> None:
    """A character linked to an API character sends `characters` with the shots naming it; this
    service's model takes no reference images, so exactly those shots fail with the API's reason."""
    cast = [{"name": "Rolo", "description": "a red ball", "character_id": "char_0123abcd"}]
    shots = [{"prompt": "Rolo moves right", "seconds": 1}, {"prompt": "a blue box falls", "seconds": 1}]
    b = client.post("/v1/storyboards", json={**TWO_SHOTS, "characters": cast, "shots": shots}).json()
    assert b["characters"] == cast
    g = client.post(f"/v1/storyboards/{b['id']}/generate").json()
    assert [s["status"] for s in g["shots"]] == ["failed", "queued"]  # only the first shot names Rolo
    assert "takes no reference images" in g["shots"][0]["error"]


@pytest.mark.parametrize(
    ("shots", "text"),
    [
        ([{"prompt": "a", "seconds": 0}], "must last more than 0 seconds"),
        ([{"prompt": "a", "camera": "dolly"}], "unknown camera 'dolly'"),
        ([{"prompt": "", "seconds": 1}], "needs a prompt or an image"),
    ],
)
def test_bad_storyboards_are_refused_with_the_reason(client: TestClient, shots: list[dict[str, object]],
                                                     text: str) -> None:
    b = client.post("/v1/storyboards", json={"title": "t"}).json()
    r = client.put(f"/v1/storyboards/{b['id']}", json={"title": "t", "shots": shots})
    assert r.status_code == 422 and text in message(r)
    assert client.get(f"/v1/storyboards/{b['id']}").json()["title"] == "t"  # nothing lost


def test_no_shots_and_unfinished_shots_cannot_be_exported(client: TestClient) -> None:
    empty = client.post("/v1/storyboards", json={"title": "empty"}).json()
    for action in ("generate", "export"):
        r = client.post(f"/v1/storyboards/{empty['id']}/{action}")
        assert r.status_code == 422 and "no shots" in message(r)
    b = client.post("/v1/storyboards", json=TWO_SHOTS).json()
    client.post(f"/v1/storyboards/{b['id']}/generate")
    r = client.post(f"/v1/storyboards/{b['id']}/export")
    assert r.status_code == 409 and "shot 1 (queued), shot 2 (queued) not finished" in message(r)
    assert "Nothing was changed" in message(r)
    assert client.get(f"/v1/storyboards/{b['id']}/files/reel.mp4").status_code == 404


def test_shot_image_uploads_are_checked(client: TestClient) -> None:
    b = client.post("/v1/storyboards", json=TWO_SHOTS).json()
    url = f"/v1/storyboards/{b['id']}/shots/s1/image"
    r = client.post(url, files={"file": ("notes.txt", b"hello", "text/plain")})
    assert r.status_code == 415 and "not a PNG, JPEG or WebP" in message(r)
    r = client.post(url, files={"file": ("big.png", b"\0" * (8 * 1024 * 1024 + 1), "image/png")})
    assert r.status_code == 413 and "upload limit" in message(r)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buf, format="PNG")
    r = client.post(url, files={"file": ("start.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200 and r.json()["shots"][0]["has_image"] is True
    assert client.get(url).headers["content-type"] == "image/png"
    g = client.post(f"/v1/storyboards/{b['id']}/generate", json={"shot_ids": ["s1"]}).json()
    assert client.get(f"/v1/videos/{g['shots'][0]['video_id']}").json()["mode"] == "image"


def test_storyboards_need_a_key_when_auth_is_on(tmp_path: Path) -> None:
    app = build_app(Settings(data_dir=tmp_path, auth=True), start_workers=False)
    with TestClient(app) as c:
        assert c.get("/studio/").status_code == 200  # the page itself asks for the key
        r = c.get("/v1/storyboards")
        assert r.status_code == 401 and "API key" in message(r)
        r = c.get("/v1/storyboards", headers={"Authorization": "Bearer cg_wrong"})
        assert r.status_code == 401


def test_content_credentials_of_a_signed_video(tmp_path: Path) -> None:
    import time

    app = build_app(Settings(data_dir=tmp_path, auth=False, publish="trust"))
    with TestClient(app) as c:
        v = c.post("/v1/videos", json={"prompt": "a red ball", "seconds": "1", "size": "128x128"}).json()
        for _ in range(200):
            if c.get(f"/v1/videos/{v['id']}").json()["status"] in ("completed", "failed"):
                break
            time.sleep(0.1)
        cc = c.get(f"/v1/studio/videos/{v['id']}/credentials").json()
        assert cc["state"] == "trusted" and cc["present"] is True, cc
        assert c.get("/v1/studio/videos/video_nope/credentials").status_code == 404
