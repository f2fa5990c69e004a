"""What runs inside a worker process: a local subprocess (`child_main`) or a Ray actor
(`RayWorker`) holds a loaded backend and runs one job at a time through `execute_job`: generate,
derive the thumbnail and spritesheet, checksum. The API process's side (the dispatcher in
`workers.py`, the runners in `executors.py`) never runs this code; it only starts it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from cinegen.private import PRIVATE_UMASK
from cinegen.service.backends import BackendError, JobCancelled, JobSpec, VideoBackend, load_backend
from cinegen.service.plans import plan_file


def execute_job(
    backend: VideoBackend,
    spec: JobSpec,
    out_dir: Path,
    progress: Callable[[float], None],
    should_cancel: Callable[[], bool],
) -> dict[str, Any]:
    """Generate one video and its previews. Returns paths, sha256 and size of the MP4, and the seconds
    each stage took (the backend's, then previews and hashing)."""
    attempt = spec.attempt
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{spec.id}.a{attempt}.mp4"
    result = backend.generate(spec, out, progress, should_cancel)
    t0 = time.perf_counter()
    thumb, sprite = write_previews(result.path, out_dir / f"{spec.id}.a{attempt}")
    digest = sha256_file(result.path)
    timings = {**{k: float(v) for k, v in result.timings.items()}, "previews": time.perf_counter() - t0}
    return {
        "output_path": str(result.path),
        "thumbnail_path": str(thumb),
        "spritesheet_path": str(sprite),
        "sha256": digest,
        "bytes": result.path.stat().st_size,
        "timings": timings,
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_previews(video: Path, stem: Path, tiles: int = 8) -> tuple[Path, Path]:
    """A WebP thumbnail (first frame) and a JPEG spritesheet (`tiles` frames in a row), atomically."""
    from PIL import Image

    from cinegen.media import iter_video

    frames = list(iter_video(video))
    idx = np.linspace(0, len(frames) - 1, num=min(tiles, len(frames))).round().astype(int)
    thumb = stem.with_name(stem.name + ".thumbnail.webp")
    sprite = stem.with_name(stem.name + ".spritesheet.jpg")
    _atomic_image(Image.fromarray(frames[0]), thumb, "WEBP")
    _atomic_image(Image.fromarray(np.concatenate([frames[i] for i in idx], axis=1)), sprite, "JPEG")
    return thumb, sprite


def _atomic_image(img: Any, path: Path, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    img.save(tmp, format=fmt, quality=85)
    os.replace(tmp, path)


def backend_error_to_failure(e: BaseException) -> tuple[str, str, bool]:
    """(code, message, permanent) for an exception raised inside a worker."""
    if isinstance(e, BackendError):
        return e.code, e.message, True
    return "generation_error", f"{type(e).__name__}: {e}", False


# ============================================================================ a local worker process
def die_with_parent() -> None:
    """Linux: SIGKILL this process when the thread that spawned it exits."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def child_main(conn: Connection, backend_name: str, options: dict[str, Any], parent: int) -> None:
    die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
    os.umask(PRIVATE_UMASK)  # this process is ours alone: what the backend writes is private
    try:
        backend = load_backend(backend_name, options)
    except Exception as e:
        conn.send(("load_error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        if msg[0] != "job":
            continue  # a late cancel for a job already finished
        _child_job(conn, backend, JobSpec.from_dict(msg[1]), Path(msg[2]), parent)


def _child_job(conn: Connection, backend: Any, spec: JobSpec, out_dir: Path, parent: int) -> None:
    state = {"cancel": False, "sent": -1.0, "at": 0.0}

    def should_cancel() -> bool:
        while conn.poll():
            m = conn.recv()
            if m[0] in ("cancel", "stop"):
                state["cancel"] = True
        return bool(state["cancel"]) or os.getppid() != parent

    def progress(f: float) -> None:
        now = time.monotonic()
        if f - state["sent"] >= 0.01 and (now - state["at"] >= 0.1 or f >= 1.0):
            state["sent"], state["at"] = f, now
            conn.send(("progress", float(f)))

    try:
        conn.send(("done", execute_job(backend, spec, out_dir, progress, should_cancel)))
    except JobCancelled:
        conn.send(("cancelled",))
    except BackendError as e:
        conn.send(("failed", e.code, e.message))
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))


# ============================================================================ a Ray actor
class RayWorker:
    """The actor body: a loaded backend serving one job at a time (plus progress/cancel calls)."""

    def __init__(self, backend_name: str, options: dict[str, Any], scratch: str | None = None) -> None:
        os.umask(PRIVATE_UMASK)  # the actor's own process: its outputs and scratch files are private
        self.backend = load_backend(backend_name, options)
        self.scratch: str | None = None  # the data directory's scratch/ when this node can write it
        if scratch:
            with contextlib.suppress(OSError):
                Path(scratch).mkdir(parents=True, exist_ok=True)
                self.scratch = scratch
        self._progress = 0.0
        self._cancel = False
        self._lock = threading.Lock()

    def pid(self) -> int:
        return os.getpid()

    def progress(self) -> float:
        return self._progress

    def cancel(self) -> None:
        self._cancel = True

    def run(self, spec_d: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, Any]:
        with self._lock:
            self._progress, self._cancel = 0.0, False
            with tempfile.TemporaryDirectory(prefix="cinegen-ray-", dir=self.scratch) as tmp:
                d = dict(spec_d)
                local: dict[str, str] = {}
                for i, (orig, data) in enumerate(inputs.items()):
                    p = Path(tmp) / f"in{i}{Path(orig).suffix}"
                    p.write_bytes(data)
                    local[orig] = str(p)
                if d.get("input_reference"):
                    d["input_reference"] = local[d["input_reference"]]
                d["source_videos"] = [local[s] for s in d.get("source_videos", [])]
                spec = JobSpec.from_dict(d)

                def progress(f: float) -> None:
                    self._progress = f

                try:
                    out = execute_job(self.backend, spec, Path(tmp) / "out", progress, lambda: self._cancel)
                except JobCancelled:
                    return {"cancelled": True}
                except BackendError as e:
                    return {"failed": [e.code, e.message]}
                paths = {k: Path(out[k]) for k in ("output_path", "thumbnail_path", "spritesheet_path")}
                if plan_file(paths["output_path"]).exists():  # the shot plan it rendered travels with it
                    paths["plan_path"] = plan_file(paths["output_path"])
                files = {k: p.read_bytes() for k, p in paths.items()}
                names = {k: p.name for k, p in paths.items()}
                return {"files": files, "names": names, "sha256": out["sha256"], "bytes": out["bytes"],
                        "timings": out["timings"]}
