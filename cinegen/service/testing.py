"""Run the real service on loopback for tests, benchmarks and drills, and the helpers they share
(`auth` headers, `wait_status`).

`ThreadServer` runs uvicorn in a thread of this process (fast to start, easy to inspect);
`ProcessServer` runs `cinegen serve` as a child process that can be killed with SIGKILL.
Both bind 127.0.0.1 on a free port and wait for /healthz.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from cinegen.service.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def auth(key: str) -> dict[str, str]:
    """The Authorization header for an API key."""
    return {"Authorization": f"Bearer {key}"}


def wait_status(base_url: str, key: str, video_id: str, want: tuple[str, ...] = ("completed", "failed"),
                timeout: float = 60.0) -> dict[str, Any]:
    """Poll a video until its status is one of `want` (transport errors, as from a server being
    restarted, are retried); a TimeoutError names the video and the statuses awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            url = f"{base_url}/v1/videos/{video_id}"
            v: dict[str, Any] = httpx.get(url, headers=auth(key), timeout=5).json()
            if v["status"] in want:
                return v
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{video_id} never reached {want}")


def make_key(settings: Settings, name: str, **limits: Any) -> str:
    from cinegen.service.auth import create_key
    from cinegen.service.jobs import JobStore

    store = JobStore(settings.db_path)
    try:
        return create_key(store, name, **limits)[1]
    finally:
        store.close()


class ThreadServer:
    """The app under uvicorn in a background thread."""

    def __init__(self, settings: Settings, *, start_workers: bool = True) -> None:
        import uvicorn

        from cinegen.server import build_app

        self.settings = settings.replace(host="127.0.0.1", port=free_port())
        self.app = build_app(self.settings, start_workers=start_workers)  # what `cinegen serve` runs
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.settings.port, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.settings.port}"

    @property
    def service(self) -> Any:
        return self.app.state.service

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_http(self.base_url + "/healthz")
        deadline = time.monotonic() + 120  # the moderation encoder loads first: tests' first creates
        while not self.service.gate.settled() and time.monotonic() < deadline:  # must not time out on it
            time.sleep(0.1)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if httpx.get(self.base_url + "/readyz").status_code == 200:
                return
            time.sleep(0.1)
        raise TimeoutError("workers not ready")

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class ProcessServer:
    """`cinegen serve` in a child process (its own process group), killable like a real crash."""

    def __init__(self, data_dir: Path, port: int | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), umask: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {**os.environ, "CINEGEN_HOME": str(data_dir), **(env or {})}
        self.args = args
        self.umask = umask  # the child's umask (None: this process's); tests of file modes use 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"

    def start(self, ready: bool = True) -> ProcessServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cinegen.cli", "serve", "--port", str(self.port), "--data-dir",
             str(self.data_dir), *(() if "--backend" in self.args else ("--backend", "fake")), *self.args],
            env=self.env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=None if self.umask is None else (lambda: os.umask(self.umask)),  # type: ignore[arg-type]
        )
        logf.close()
        wait_http(self.base_url + ("/readyz" if ready else "/healthz"), timeout=120, proc=self.proc)
        if ready:
            deadline = time.monotonic() + 120
            while httpx.get(self.base_url + "/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: the API and its workers die at once (a power cut)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def kill_api_only(self) -> None:
        """SIGKILL only the API process (its workers die with it by PR_SET_PDEATHSIG)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def worker_pids(self) -> list[int]:
        """PIDs of this server's worker processes (its direct children)."""
        if self.proc is None:
            return []
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        except FileNotFoundError:
            return []
        return [int(x) for x in out.split()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
