"""The Ray executor: workers as Ray actors on a local head; a worker killed mid-job is recovered."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cinegen.media import probe_video
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key, wait_status
from cinegen.service.testing import auth as H
from cinegen.service.worker_process import sha256_file

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_head() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
    yield
    ray.shutdown()


def test_ray_actors_run_jobs_and_survive_a_killed_worker(ray_head: None, tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, executor="ray", workers=1, default_fps=8, max_attempts=3)
    key = make_key(s, "k", max_concurrent_jobs=10)
    with ThreadServer(s) as srv:
        srv.wait_ready(timeout=120)
        base = srv.base_url
        # 1. an ordinary job through the actor, with an input image shipped to it
        a = httpx.post(f"{base}/v1/videos", headers=H(key),
                       json={"prompt": "a red ball", "seconds": 1}).json()
        assert wait_status(base, key, a["id"], ("completed", "failed"), timeout=120)["status"] == "completed"
        mp4 = tmp_path / "a.mp4"
        mp4.write_bytes(httpx.get(f"{base}/v1/videos/{a['id']}/content", headers=H(key)).content)
        assert probe_video(mp4).num_frames == 8
        # 2. kill the actor's worker process mid-job: the job is retried on a fresh actor
        b = httpx.post(f"{base}/v1/videos", headers=H(key),
                       json={"prompt": "a blue box [delay=3]", "seconds": 2}).json()
        wait_status(base, key, b["id"], ("in_progress",), timeout=120)
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/v1/videos/{b['id']}", headers=H(key)).json()["progress"] < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pid = srv.service.dispatcher.runners[0].pid()
        os.kill(pid, signal.SIGKILL)
        v = wait_status(base, key, b["id"], ("completed", "failed"), timeout=120)
        assert v["status"] == "completed"
        row = srv.service.store.get(None, b["id"])
        assert row["attempts"] == 2 and row["completions"] == 1
        assert sha256_file(Path(row["output_path"])) == row["sha256"]
        assert srv.service.dispatcher.runners[0].pid() != pid
