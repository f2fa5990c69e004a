"""Ray is started once per service, however many worker slots start at the same moment, and a
local head keeps its files (session directory, auth token) under the data directory.

Run as `cinegen serve --executor ray --workers 2` in a child process: Ray keeps process-wide
state (its connection, token cache, environment), so a real server process is the honest test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from cinegen.service.settings import Settings
from cinegen.service.testing import ProcessServer, make_key, wait_status
from cinegen.service.testing import auth as H

pytest.importorskip("ray")
pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_two_workers_share_one_ray_start(tmp_path: Path) -> None:
    data = Path(tempfile.mkdtemp(prefix="cgray"))  # short: Ray's socket paths live under it
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "CINEGEN_MODERATION": "off", "PYTHONPATH": str(REPO)}
    env.update({k: "" for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE", "RAY_ADDRESS")
                if k in os.environ})
    server = ProcessServer(data, env=env, args=("--executor", "ray", "--workers", "2"))
    try:
        key = make_key(Settings(data_dir=data), "k")
        server.start()
        base = server.base_url
        ids = [httpx.post(f"{base}/v1/videos", headers=H(key), json={"prompt": f"a red ball {i}",
                                                                        "seconds": 1}).json()["id"]
               for i in range(3)]
        for vid in ids:  # both slots took jobs
            assert wait_status(base, key, vid, timeout=180)["status"] == "completed"
        sessions = [p for p in (data / "ray").glob("session_*") if not p.is_symlink()]
        assert len(sessions) == 1, sessions  # one local cluster, not one per slot
        assert (data / "ray" / "auth_token").is_file()
        assert not (home / ".ray").exists()  # nothing written to ~/.ray
        log = server.log.read_text(errors="replace")
        assert "ray.init twice" not in log and "runner failed to start" not in log, log[-2000:]
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
