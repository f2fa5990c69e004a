"""Per-key limits: over a limit is 429 with Retry-After, and the job is not half-created."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from cinegen.service.quotas import Limits, QuotaExceeded, RateLimiter, check_job_quota
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key
from cinegen.service.testing import auth as H


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    # No workers: jobs stay queued, so "concurrent" is deterministic.
    s = Settings(data_dir=tmp_path_factory.mktemp("quota"))
    with ThreadServer(s, start_workers=False) as srv:
        yield srv


def count(server: ThreadServer, key: str) -> int:
    return len(httpx.get(f"{server.base_url}/v1/videos", headers=H(key),
                         params={"limit": 100}).json()["data"])


def test_concurrent_jobs_limit(server: ThreadServer) -> None:
    k = make_key(server.settings, "conc", max_concurrent_jobs=2)
    url = f"{server.base_url}/v1/videos"
    ids = [httpx.post(url, headers=H(k), json={"prompt": "a", "seconds": 1}).json()["id"] for _ in range(2)]
    r = httpx.post(url, headers=H(k), json={"prompt": "a", "seconds": 1})
    assert r.status_code == 429 and r.json()["error"]["code"] == "concurrent_jobs_limit"
    assert int(r.headers["Retry-After"]) >= 1
    assert count(server, k) == 2
    httpx.post(f"{url}/{ids[0]}/cancel", headers=H(k))  # a finished job frees its slot
    assert httpx.post(url, headers=H(k), json={"prompt": "a", "seconds": 1}).status_code == 200


def test_seconds_per_day_limit_leaves_nothing_behind(server: ThreadServer) -> None:
    k = make_key(server.settings, "daily", seconds_per_day=5)
    url = f"{server.base_url}/v1/videos"
    assert httpx.post(url, headers=H(k), json={"prompt": "a", "seconds": "4"}).status_code == 200
    buf = io.BytesIO()
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(buf, format="PNG")
    before = set(server.settings.inputs_dir.iterdir())
    r = httpx.post(url, headers=H(k), files={"prompt": (None, "b"), "seconds": (None, "2"),
                                              "input_reference": ("r.png", buf.getvalue(), "image/png")})
    assert r.status_code == 429 and r.json()["error"]["code"] == "daily_seconds_limit"
    assert 80000 < int(r.headers["Retry-After"]) <= 86400
    assert set(server.settings.inputs_dir.iterdir()) == before  # the upload was not kept
    assert count(server, k) == 1
    assert httpx.post(url, headers=H(k), json={"prompt": "c", "seconds": 1}).status_code == 200  # 5 s fits


def test_requests_per_minute_limit(server: ThreadServer) -> None:
    k = make_key(server.settings, "rpm", requests_per_minute=3)
    url = f"{server.base_url}/v1/videos"
    assert [httpx.get(url, headers=H(k)).status_code for _ in range(3)] == [200, 200, 200]
    r = httpx.post(url, headers=H(k), json={"prompt": "a", "seconds": 1})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    other = make_key(server.settings, "rpm-other", requests_per_minute=3)
    assert httpx.get(url, headers=H(other)).status_code == 200  # limits are per key


def test_rate_limiter_window() -> None:
    rl = RateLimiter()
    for t in range(3):
        rl.hit("k", 3, now=float(t))
    with pytest.raises(QuotaExceeded) as e:
        rl.hit("k", 3, now=10.0)
    assert e.value.retry_after == 50
    rl.hit("k", 3, now=60.5)  # the first hit aged out


def test_daily_retry_after_is_when_enough_ages_out() -> None:
    c = sqlite3.connect(":memory:")
    c.execute("CREATE TABLE videos (owner, status, deleted_at, created_at, seconds)")
    c.executemany("INSERT INTO videos VALUES ('o','completed',NULL,?,?)", [(1000.0, 4), (5000.0, 4)])
    with pytest.raises(QuotaExceeded) as e:
        check_job_quota(c, "o", Limits(10, 10, 10), 4, now=6000.0)
    assert e.value.retry_after == 1000 + 86400 - 6000  # freeing the first 4 s is enough


def test_content_of_an_unfinished_video_is_409(server: ThreadServer) -> None:
    k = make_key(server.settings, "early")
    vid = httpx.post(f"{server.base_url}/v1/videos", headers=H(k),
                     json={"prompt": "a", "seconds": 1}).json()["id"]
    r = httpx.get(f"{server.base_url}/v1/videos/{vid}/content", headers=H(k))
    assert r.status_code == 409 and r.json()["error"]["code"] == "video_not_ready"
    r = httpx.get(f"{server.base_url}/v1/videos/{vid}", headers=H(k))
    assert r.headers["openai-poll-after-ms"] == str(server.settings.poll_after_ms)
