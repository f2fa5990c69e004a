"""Executors: where jobs run. A local process pool (the default) or Ray actors (`--executor ray`).

Both give the dispatcher one `Runner` per device. A runner owns one long-lived worker (a
subprocess, or a Ray actor with its GPU request) that loads the backend once and then runs one
job at a time. A worker that dies mid-job surfaces as `WorkerLost`; the dispatcher then releases
the job's lease and calls `restart()`.

- Local: a `spawn`ed process per slot, talking over a pipe (progress up, cancel down). The child
  asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG), so a kill -9 of the API
  leaves no orphan still writing.
- Ray: a threaded actor per slot (`max_concurrency=2`, so progress and cancel calls reach it while
  it generates). Inputs travel with the call and outputs come back as bytes, so actors may run on
  any node of the cluster without a shared filesystem.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cinegen.service.backends import BackendError, JobCancelled, JobSpec, load_backend
from cinegen.service.plans import plan_file
from cinegen.service.settings import Settings
from cinegen.service.workers import JobFailed, Runner, WorkerLost, execute_job

CANCEL_GRACE_SECONDS = 30.0  # a worker that ignores cancel this long is killed


def make_runner_factory(settings: Settings) -> Callable[[int], Runner]:
    if settings.executor == "ray":
        return lambda i: RayActorRunner(settings, i)
    return lambda i: LocalProcessRunner(settings, i)


# ============================================================================ local processes
def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the thread that spawned it exits."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child_main(conn: Connection, backend_name: str, options: dict[str, Any], parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
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


class LocalProcessRunner:
    """One worker subprocess (spawned, so CUDA and threads start clean) with the backend loaded."""

    def __init__(self, settings: Settings, index: int) -> None:
        self.settings = settings
        self.index = index
        self.proc: Any = None
        self.conn: Connection | None = None
        self._ready = False

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        env_device = {"CUDA_VISIBLE_DEVICES": str(self.index)} if self.settings.gpus_per_worker > 0 else {}
        old = {k: os.environ.get(k) for k in env_device}
        os.environ.update(env_device)
        try:
            self.proc = ctx.Process(
                target=_child_main,
                args=(child_conn, self.settings.backend, self.settings.backend_options, os.getpid()),
                name=f"cinegen-worker-{self.index}",
                daemon=True,
            )
            self.proc.start()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child_conn.close()
        self.conn = parent_conn
        msg = self._recv(timeout=600.0)
        if msg[0] != "ready":
            raise RuntimeError(f"worker {self.index} failed to load backend: {msg[1:]}")
        self._ready = True

    def ready(self) -> bool:
        return self._ready and self.proc is not None and self.proc.is_alive()

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self) -> None:
        self._ready = False
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            assert self.conn is not None
            self.conn.send(("stop",))
        self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2.0)

    def restart(self) -> None:
        """A fresh worker process (the slot retries with backoff if this raises)."""
        self.stop()
        self.start()

    def _recv(self, timeout: float) -> tuple[Any, ...]:
        assert self.conn is not None and self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.conn.poll(0.2):
                    return tuple(self.conn.recv())
            except (EOFError, OSError):
                break
            if not self.proc.is_alive():
                break
        raise WorkerLost(f"worker process {self.proc.pid} exited (code {self.proc.exitcode})")

    def run(self, spec: JobSpec, out_dir: Path, on_progress: Callable[[float | None], bool]) -> dict[str, Any]:
        if not self.ready():
            self.restart()
        assert self.conn is not None and self.proc is not None
        try:
            self.conn.send(("job", spec.to_dict(), str(out_dir)))
        except (BrokenPipeError, OSError) as e:
            raise WorkerLost(f"worker process unreachable: {e}") from e
        cancel_sent: float | None = None
        while True:
            msg: tuple[Any, ...] | None = None
            try:
                if self.conn.poll(0.2):
                    msg = tuple(self.conn.recv())
            except (EOFError, OSError):
                self.proc.join(1.0)
                raise WorkerLost(f"worker process {self.proc.pid} died (code {self.proc.exitcode})") from None
            if msg is None:
                if not self.proc.is_alive():
                    raise WorkerLost(f"worker process {self.proc.pid} died (code {self.proc.exitcode})")
                stop = on_progress(None)
            elif msg[0] == "progress":
                stop = on_progress(msg[1])
            elif msg[0] == "done":
                return dict(msg[1])
            elif msg[0] == "cancelled":
                raise JobCancelled(spec.id)
            elif msg[0] == "failed":
                raise JobFailed(msg[1], msg[2])
            elif msg[0] == "error":  # transient: the slot restarts the worker and retries the job
                raise WorkerLost(f"generation error: {msg[1]}")
            else:
                stop = False
            if stop and cancel_sent is None:
                cancel_sent = time.monotonic()
                with contextlib.suppress(Exception):
                    self.conn.send(("cancel",))
            if cancel_sent is not None and time.monotonic() - cancel_sent > CANCEL_GRACE_SECONDS:
                self.stop()  # it ignored the cancel: the slot starts a fresh worker before its next job
                raise JobCancelled(spec.id)


# ============================================================================ Ray actors
class RayWorker:
    """The actor body: a loaded backend serving one job at a time (plus progress/cancel calls)."""

    def __init__(self, backend_name: str, options: dict[str, Any], scratch: str | None = None) -> None:
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
                return {"files": files, "names": names, "sha256": out["sha256"], "bytes": out["bytes"]}


class RayActorRunner:
    """One Ray actor per slot, requesting `gpus_per_worker` GPUs; recreated if it dies."""

    def __init__(self, settings: Settings, index: int) -> None:
        self.settings = settings
        self.index = index
        self.actor: Any = None
        self._ready = False

    def start(self) -> None:
        import ray

        if not ray.is_initialized():
            kw: dict[str, Any] = {}
            temp = self.settings.data_dir / "ray"
            if self.settings.ray_address is None and len(str(temp)) <= 50:
                kw["_temp_dir"] = str(temp)  # a local head keeps its session files in the data dir
            ray.init(address=self.settings.ray_address, include_dashboard=False, ignore_reinit_error=True,
                     log_to_driver=False, **kw)
        cls = ray.remote(RayWorker).options(  # type: ignore[attr-defined]
            num_cpus=1, num_gpus=self.settings.gpus_per_worker, max_concurrency=2, max_restarts=0,
        )
        self.actor = cls.remote(self.settings.backend, self.settings.backend_options,
                                str(self.settings.data_dir / "scratch"))
        ray.get(self.actor.pid.remote(), timeout=600)  # waits until the backend has loaded
        self._ready = True

    def ready(self) -> bool:
        return self._ready

    def pid(self) -> int | None:
        import ray

        return ray.get(self.actor.pid.remote(), timeout=10) if self.actor is not None else None

    def stop(self) -> None:
        self._ready = False
        if self.actor is not None:
            import ray

            with contextlib.suppress(Exception):
                ray.kill(self.actor)
            self.actor = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def run(self, spec: JobSpec, out_dir: Path, on_progress: Callable[[float | None], bool]) -> dict[str, Any]:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        if not self.ready():
            self.restart()
        inputs: dict[str, bytes] = {}
        for p in [spec.input_reference, *spec.source_videos]:
            if p is not None:
                inputs[str(p)] = Path(p).read_bytes()
        ref = self.actor.run.remote(spec.to_dict(), inputs)
        cancelled = False
        while True:
            done, _ = ray.wait([ref], timeout=0.25)
            try:
                if done:
                    res = ray.get(ref)
                    break
                f = ray.get(self.actor.progress.remote(), timeout=30)
            except RayActorError as e:
                self._ready = False
                raise WorkerLost(f"ray actor died: {type(e).__name__}") from e
            except GetTimeoutError as e:
                self._ready = False
                raise WorkerLost("ray actor stopped answering") from e
            except RayTaskError as e:  # an unexpected error inside generate: transient
                self._ready = False
                raise WorkerLost(f"generation error: {e.cause!r}") from e
            if on_progress(f) and not cancelled:
                cancelled = True
                self.actor.cancel.remote()
        if res.get("cancelled"):
            raise JobCancelled(spec.id)
        if res.get("failed"):
            raise JobFailed(*res["failed"])
        out_dir.mkdir(parents=True, exist_ok=True)
        out: dict[str, Any] = {"sha256": res["sha256"], "bytes": res["bytes"]}
        for k, data in res["files"].items():
            target = out_dir / res["names"][k]
            tmp = target.with_name(f".{target.name}.part")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            out[k] = str(target)
        return out
