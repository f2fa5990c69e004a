"""The data directory is private to the service's user: every directory 0700 and every file 0600,
whatever the umask, for what `cinegen serve` (jobs, inputs, videos, signing keys, storyboards),
`cinegen keys` and `cinegen consent` create."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from cinegen.private import private_dir, secure_tree, touch_private, write_private
from cinegen.service.testing import ProcessServer, auth, wait_status


def modes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every path under `root` that is not private: {relative path: its mode}."""
    bad = {}
    for p in [root, *root.rglob("*")]:
        rel = p.relative_to(root)
        if rel.parts and rel.parts[0] in skip or p.is_symlink():
            continue
        mode = stat.S_IMODE(p.lstat().st_mode)
        if mode != (0o700 if p.is_dir() else 0o600):
            bad[str(rel)] = oct(mode)
    return bad


def cli(*args: str, data: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "cinegen.cli", *args], capture_output=True, text=True,
                         env={**os.environ, "CINEGEN_HOME": str(data)}, preexec_fn=lambda: os.umask(0),
                         timeout=120, check=True)
    return out.stdout


def png(side: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), 80, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_helpers_ignore_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        d = private_dir(tmp_path / "a" / "b")
        f = write_private(d / "f.bin", b"x")
        t = touch_private(d / "db.sqlite")
        (d / "loose.txt").write_text("made by a library")
        secure_tree(tmp_path / "a")
    finally:
        os.umask(old)
    assert modes(tmp_path / "a") == {} and f.read_bytes() == b"x" and t.stat().st_size == 0


def test_cli_and_serve_create_only_private_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = cli("keys", "create", "alice", "--data-dir", str(data), data=data).strip().splitlines()[-1]
    cli("consent", "--data-dir", str(data), "register", "Ada Quill", data=data)
    assert modes(data) == {}
    server = ProcessServer(data, env={"CINEGEN_MODERATION": "off"}, umask=0)
    server.log = tmp_path / "server.log"  # the test's own log, outside the data directory
    server.start()
    try:
        base, h = server.base_url, auth(key)
        v = httpx.post(base + "/v1/videos", headers=h, json={"prompt": "a red ball", "seconds": "1"}).json()
        r = httpx.post(base + "/v1/videos", headers=h, data={"prompt": "a ball", "seconds": "1"},
                       files={"input_reference": ("a.png", png(), "image/png")})
        assert r.status_code == 200, r.text
        for vid in (v["id"], r.json()["id"]):
            assert wait_status(base, key, vid, timeout=120)["status"] == "completed"
        b = httpx.post(base + "/v1/storyboards", headers=h,
                       json={"title": "t", "shots": [{"prompt": "a ball", "seconds": 1}]}).json()
        r = httpx.post(f"{base}/v1/storyboards/{b['id']}/shots/s1/image", headers=h,
                       files={"file": ("s.png", png(), "image/png")})
        assert r.status_code == 200, r.text
        assert httpx.get(f"{base}/v1/studio/videos/{v['id']}/credentials", headers=h).status_code == 200
        assert (data / "jobs.sqlite3-wal").exists()
        assert modes(data) == {}
    finally:
        server.stop()
    assert modes(data) == {}
