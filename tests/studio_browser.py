"""Shared helpers for the studio's browser tests and screenshot script: a real `cinegen serve` on
loopback and Debian's chromium driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def run_server(data_dir: Path, *, auth: bool = False) -> Iterator[Server]:
    """`cinegen serve` (fake backend) on a free loopback port until the block ends."""
    port = free_port()
    log = data_dir / "server.log"
    cmd = [sys.executable, "-m", "cinegen.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), "--backend", "fake", "--workers", "1"]
    if not auth:
        cmd.append("--no-auth")
    env = {**os.environ, "CINEGEN_HOME": str(data_dir)}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"cinegen serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cinegen serve did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(url, data_dir, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def run_app_server(settings: Any) -> Iterator[str]:
    """The service app (built from `settings`, e.g. a slowed fake backend) under uvicorn in a thread."""
    import threading

    import uvicorn

    from cinegen.server import build_app

    port = free_port()
    settings = settings.replace(host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(build_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the studio server did not get ready")
            time.sleep(0.2)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)


@dataclass
class Browser:
    context: Any
    console_errors: list[str] = field(default_factory=list)

    def page(self, width: int = 1280, height: int = 900) -> Any:
        page = self.context.new_page()
        page.set_viewport_size({"width": width, "height": height})
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        return page


@contextlib.contextmanager
def run_browser() -> Iterator[Browser]:
    """Debian's chromium, headless, with a fresh profile."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/setup-browser.sh")
    with tempfile.TemporaryDirectory(prefix="studio-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            accept_downloads=True, viewport={"width": 1280, "height": 900},
        )
        try:
            yield Browser(context)
        finally:
            context.close()
