"""Jobs are never lost: leases, worker kills, API kills, power cuts, bounded retries, retention."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from cinegen.service.app import run_janitor_once
from cinegen.service.jobs import JobStore
from cinegen.service.quotas import Limits
from cinegen.service.settings import Settings
from cinegen.service.testing import ProcessServer, ThreadServer, make_key, wait_status
from cinegen.service.testing import auth as H
from cinegen.service.worker_process import sha256_file

BIG = Limits(1000, 10**9, 10**6)


def add_job(store: JobStore, vid: str) -> None:
    spec = {"prompt": "p", "seconds": 1, "size": "128x128", "fps": 8, "seed": 0, "mode": "text"}
    store.create_video(video_id=vid, owner="o", model="m", prompt="p", seconds=1, size="128x128", spec=spec,
                       limits=BIG)


def audit(db: Path) -> list[sqlite3.Row]:
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    return c.execute("SELECT * FROM videos").fetchall()


# ----------------------------------------------------------------------------- the store's leases
def test_stale_lease_cannot_complete_twice(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "j.db", max_attempts=3)
    add_job(store, "video_a")
    first = store.claim("n:0")
    assert first is not None and first.attempt == 1
    assert store.release(first.id, first.token, "worker died") == "queued"
    second = store.claim("n:1")
    assert second is not None and second.attempt == 2
    kw = dict(output_path=tmp_path / "x.mp4", thumbnail_path=None, spritesheet_path=None, sha256="0",
              nbytes=1,
              retention_seconds=60)
    assert not store.complete(first.id, first.token, **kw)  # the first worker came back too late
    assert store.heartbeat(first.id, first.token, 50) == (False, True)
    assert store.complete(second.id, second.token, **kw)
    assert not store.complete(second.id, second.token, **kw)
    assert audit(tmp_path / "j.db")[0]["completions"] == 1


def test_attempts_are_bounded(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "j.db", max_attempts=2)
    add_job(store, "video_b")
    for expect in ("queued", "failed"):
        c = store.claim("n:0")
        assert c is not None
        assert store.release(c.id, c.token, "boom") == expect
    row = store.get(None, "video_b")
    assert row["error_code"] == "max_attempts_exceeded" and "boom" in row["error_message"]
    assert store.claim("n:0") is None


def test_recover_releases_this_nodes_leases_and_lapsed_ones(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "j.db", lease_seconds=0.2)
    for v in ("video_1", "video_2"):
        add_job(store, v)
    a, b = store.claim("node0:0"), store.claim("other:0")
    assert a and b
    assert store.recover(node_prefix="node0") == {"queued": 1, "failed": 0}  # restart of node0
    time.sleep(0.3)
    assert store.recover() == {"queued": 1, "failed": 0}  # other's lease lapsed
    assert store.counts()["queued"] == 2


# ----------------------------------------------------------------------------- live: local executor
@pytest.fixture()
def live(tmp_path: Path) -> ThreadServer:
    s = Settings(data_dir=tmp_path, workers=1, default_fps=8, max_attempts=2, retention_seconds=1)
    return ThreadServer(s)


def test_worker_killed_mid_job_is_retried_and_completes_once(live: ThreadServer) -> None:
    key = make_key(live.settings, "k")
    with live:
        live.wait_ready()
        base = live.base_url
        vid = httpx.post(f"{base}/v1/videos", headers=H(key),
                         json={"prompt": "a ball [delay=3]", "seconds": 2}).json()["id"]
        wait_status(base, key, vid, ("in_progress",))
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/v1/videos/{vid}", headers=H(key)).json()["progress"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        runner = live.service.dispatcher.runners[0]
        os.kill(runner.pid(), signal.SIGKILL)
        v = wait_status(base, key, vid, ("completed", "failed"))
        assert v["status"] == "completed"
        row = live.service.store.get(None, vid)
        assert row["attempts"] == 2 and row["completions"] == 1
        assert sha256_file(Path(row["output_path"])) == row["sha256"]
        assert "cinegen_workers_lost_total 1" in httpx.get(f"{base}/metrics").text


def test_crash_every_attempt_fails_with_reason_and_retention_expires(live: ThreadServer) -> None:
    key = make_key(live.settings, "k")
    with live:
        base = live.base_url
        bad = httpx.post(f"{base}/v1/videos", headers=H(key),
                         json={"prompt": "x [crash]", "seconds": 1}).json()
        good = httpx.post(f"{base}/v1/videos", headers=H(key), json={"prompt": "ok", "seconds": 1}).json()
        v = wait_status(base, key, bad["id"], ("completed", "failed"))
        assert v["status"] == "failed" and v["error"]["code"] == "max_attempts_exceeded"
        assert "died" in v["error"]["message"]
        assert wait_status(base, key, good["id"], ("completed",))["status"] == "completed"
        # retention: expires_at = completed_at + 1 s; the janitor removes the files on schedule
        row = live.service.store.get(None, good["id"])
        time.sleep(1.1)
        run_janitor_once(live.service)
        assert not Path(row["output_path"]).exists()
        r = httpx.get(f"{base}/v1/videos/{good['id']}/content", headers=H(key))
        assert r.status_code == 404 and r.json()["error"]["code"] == "video_expired"


# ----------------------------------------------------------------------------- live: kill -9 the API
@pytest.mark.slow
def test_api_kill9_and_power_cut_lose_nothing(tmp_path: Path) -> None:
    srv = ProcessServer(tmp_path, env={"CINEGEN_MAX_ATTEMPTS": "5"})
    key = make_key(Settings(data_dir=tmp_path), "k", max_concurrent_jobs=100)
    ids: list[str] = []
    try:
        srv.start()
        for i in range(6):
            r = httpx.post(f"{srv.base_url}/v1/videos", headers=H(key),
                           json={"prompt": f"ball {i} [delay={3 if i == 0 else 0.6}]", "seconds": 1,
                                 "fps": 8})
            assert r.status_code == 200
            ids.append(r.json()["id"])
        wait_status(srv.base_url, key, ids[0], ("in_progress",))
        time.sleep(0.3)
        srv.kill_api_only()  # the API dies mid-job; its worker dies with it
        time.sleep(0.5)
        assert srv.worker_pids() == []
        srv.start()
        wait_status(srv.base_url, key, ids[1], ("in_progress", "completed"))
        srv.kill()  # power cut: everything at once
        srv.start()
        for vid in ids:
            assert wait_status(srv.base_url, key, vid, ("completed", "failed"))["status"] == "completed"
    finally:
        srv.kill()
    rows = {r["id"]: r for r in audit(tmp_path / "jobs.sqlite3")}
    assert set(rows) == set(ids)
    assert all(r["completions"] == 1 and r["status"] == "completed" for r in rows.values())
    assert rows[ids[0]]["attempts"] >= 2  # it was interrupted and retried
    for r in rows.values():
        assert sha256_file(Path(r["output_path"])) == r["sha256"]


def test_backend_that_cannot_load_burns_no_attempts(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, backend_options={"no_such_option": 1})
    key = make_key(s, "k")
    with ThreadServer(s) as srv:
        vid = httpx.post(f"{srv.base_url}/v1/videos", headers=H(key),
                         json={"prompt": "x", "seconds": 1}).json()["id"]
        time.sleep(2.0)
        r = httpx.get(f"{srv.base_url}/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "workers_not_ready"
        row = srv.service.store.get(None, vid)
        assert row["status"] == "queued" and row["attempts"] == 0
