"""The operator's load drill, small enough for the suite: concurrent clients submit and poll jobs
against two workers; every accepted job completes exactly once (none lost, none duplicated).
The full-size runs (50 clients x 500 jobs; kill -9 of API, workers and Ray actors) are
benchmarks/service_load.py and benchmarks/crash_drill.py, with figures in docs/service.md."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key, wait_status

pytestmark = pytest.mark.slow
CLIENTS, JOBS_EACH = 8, 5


def test_concurrent_clients_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, workers=2, moderation=False, publish="plain", default_fps=8)
    keys = [make_key(s, f"c{i}", max_concurrent_jobs=100) for i in range(CLIENTS)]
    accepted: dict[str, list[str]] = {}
    errors: list[str] = []
    with ThreadServer(s) as srv:
        srv.wait_ready()

        def client(key: str) -> None:
            h = {"Authorization": f"Bearer {key}"}
            mine: list[str] = []
            try:
                with httpx.Client(base_url=srv.base_url, headers=h, timeout=30) as c:
                    for j in range(JOBS_EACH):
                        r = c.post("/v1/videos", json={"prompt": f"a ball {j}", "seconds": 1},
                                   headers={"Idempotency-Key": f"{key[-6:]}-{j}"})
                        r.raise_for_status()
                        mine.append(r.json()["id"])
                for vid in mine:
                    assert wait_status(srv.base_url, key, vid, timeout=180)["status"] == "completed"
            except Exception as e:  # reported below, with the client's key
                errors.append(f"{key[:10]}: {e!r}")
            accepted[key] = mine

        threads = [threading.Thread(target=client, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    db = sqlite3.connect(s.db_path)
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT id, status, completions FROM videos").fetchall()
    db.close()
    assert errors == []
    ids = [v for vids in accepted.values() for v in vids]
    assert len(ids) == len(set(ids)) == CLIENTS * JOBS_EACH
    assert sorted(r["id"] for r in rows) == sorted(ids)  # no extra row: nothing duplicated
    assert all(r["status"] == "completed" and r["completions"] == 1 for r in rows)
