"""Keys and isolation: every video belongs to its key; other keys get 404 on every route."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from cinegen.service.jobs import JobStore
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key
from cinegen.service.testing import auth as H


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    s = Settings(data_dir=tmp_path_factory.mktemp("auth"), workers=1, default_fps=8)
    with ThreadServer(s) as srv:
        srv.wait_ready(120)  # the moderation encoder loads first (several seconds on a busy machine)
        yield srv


def test_keys_are_stored_hashed(server: ThreadServer) -> None:
    key = make_key(server.settings, "hashed")
    raw = server.settings.db_path.read_bytes()
    wal = server.settings.db_path.with_name("jobs.sqlite3-wal")
    assert key.encode() not in raw and (not wal.exists() or key.encode() not in wal.read_bytes())


def test_missing_bad_and_revoked_keys_get_401(server: ThreadServer) -> None:
    url = f"{server.base_url}/v1/videos"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Basic abc"}).json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(url, headers=H("cg_not_a_key")).status_code == 401
    key = make_key(server.settings, "soon-revoked")
    assert httpx.get(url, headers=H(key)).status_code == 200
    assert JobStore(server.settings.db_path).revoke_key("soon-revoked")
    assert httpx.get(url, headers=H(key)).status_code == 401


def test_another_key_gets_404_everywhere(server: ThreadServer) -> None:
    alice, mallory = make_key(server.settings, "alice"), make_key(server.settings, "mallory")
    base = f"{server.base_url}/v1/videos"
    vid = httpx.post(base, headers=H(alice), json={"prompt": "alice's ball", "seconds": 1}).json()["id"]
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/{vid}", headers=H(alice)).json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    m = H(mallory)
    checks = {
        "retrieve": httpx.get(f"{base}/{vid}", headers=m),
        "content": httpx.get(f"{base}/{vid}/content", headers=m),
        "thumbnail": httpx.get(f"{base}/{vid}/content", params={"variant": "thumbnail"}, headers=m),
        "remix": httpx.post(f"{base}/{vid}/remix", headers=m, json={"prompt": "stolen"}),
        "cancel": httpx.post(f"{base}/{vid}/cancel", headers=m),
        "events": httpx.get(f"{base}/{vid}/events", headers=m),
        "as_source": httpx.post(base, headers=m, json={"prompt": "x", "video_ids": [vid]}),
        "extend": httpx.post(f"{base}/extensions", headers=m,
                             json={"prompt": "x", "seconds": 1, "video": {"id": vid}}),
        "cursor": httpx.get(base, headers=m, params={"after": vid}),
        "spritesheet": httpx.get(f"{base}/{vid}/content", params={"variant": "spritesheet"}, headers=m),
        "plan": httpx.get(f"{base}/{vid}/plan", headers=m),
        "edit": httpx.post(f"{base}/edits", headers=m, json={"prompt": "x", "video": {"id": vid}}),
        "credentials": httpx.get(f"{server.base_url}/v1/studio/videos/{vid}/credentials", headers=m),
        "delete": httpx.delete(f"{base}/{vid}", headers=m),
    }
    assert len(checks) == 14
    for name, r in checks.items():
        assert r.status_code == 404, (name, r.text)
    assert vid not in [v["id"] for v in httpx.get(base, headers=m).json()["data"]]
    # and alice still has it, untouched by mallory's delete
    assert httpx.get(f"{base}/{vid}/content", headers=H(alice)).status_code == 200
    assert vid in [v["id"] for v in httpx.get(base, headers=H(alice)).json()["data"]]


def test_no_auth_mode(tmp_path: object) -> None:
    from pathlib import Path

    s = Settings(data_dir=Path(str(tmp_path)), auth=False)
    with ThreadServer(s, start_workers=False) as srv:
        r = httpx.post(f"{srv.base_url}/v1/videos", json={"prompt": "no key needed", "seconds": 1})
        assert r.status_code == 200 and r.json()["status"] == "queued"
