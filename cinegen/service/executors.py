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
import multiprocessing as mp
import os
import secrets
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cinegen.private import private_dir, write_private
from cinegen.service.backends import JobCancelled, JobSpec
from cinegen.service.settings import Settings
from cinegen.service.worker_process import RayWorker, child_main
from cinegen.service.workers import JobFailed, Runner, WorkerLost

CANCEL_GRACE_SECONDS = 30.0  # a worker that ignores cancel this long is killed


def make_runner_factory(settings: Settings) -> Callable[[int], Runner]:
    if settings.executor == "ray":
        ray_connection = RayConnection(settings)  # one per service: every slot's runner shares it
        return lambda i: RayActorRunner(settings, i, ray_connection)
    return lambda i: LocalProcessRunner(settings, i)


# ============================================================================ local processes
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
                target=child_main,
                args=(child_conn, self.settings.backend, self.settings.backend_kwargs(), os.getpid()),
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

    def run(self, spec: JobSpec, out_dir: Path, on_progress: Callable[[float | None], bool]) -> dict[str,
                                                                                                     Any]:
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
RAY_TEMP_MAX_CHARS = 50  # Ray adds ~57 characters of session path to its Unix socket names (limit 107)


class RayConnection:
    """The service's one connection to Ray, made by whichever slot starts first.

    Worker slots start their runners in parallel; each calling `ray.init` started a second local
    cluster (or failed with "Perhaps you called ray.init twice"). A lock makes the first caller
    connect and the others wait for it. A local head keeps its session files under
    `<data dir>/ray` (when that path is short enough for Ray's socket names) and its auth token in
    `<data dir>/ray/auth_token` rather than `~/.ray/auth_token`, unless the environment names one
    (`RAY_AUTH_TOKEN`, or an existing `RAY_AUTH_TOKEN_PATH`).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.inits = 0  # how many times this service called ray.init (1 at most)
        self._lock = threading.Lock()

    def ensure(self) -> None:
        import ray

        with self._lock:
            if ray.is_initialized():
                return
            kw: dict[str, Any] = {}
            if self.settings.ray_address is None:
                temp = private_dir(self.settings.data_dir / "ray")
                if len(str(temp)) <= RAY_TEMP_MAX_CHARS:
                    kw["_temp_dir"] = str(temp)
                self._local_token(temp / "auth_token")
            ray.init(address=self.settings.ray_address, include_dashboard=False, log_to_driver=False, **kw)
            self.inits += 1

    @staticmethod
    def _local_token(path: Path) -> None:
        """Point Ray at a token file under the data directory (made once, 0600), so a new local
        cluster does not write `~/.ray/auth_token`. Ray reads the variable from this process's
        environment (and passes it to the head it starts): it is set for the process."""
        given = os.environ.get("RAY_AUTH_TOKEN_PATH")
        if os.environ.get("RAY_AUTH_TOKEN") or (given and Path(given).is_file()):
            return
        if not path.is_file():
            write_private(path, secrets.token_hex(32).encode())
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)


class RayActorRunner:
    """One Ray actor per slot, requesting `gpus_per_worker` GPUs; recreated if it dies."""

    def __init__(self, settings: Settings, index: int, connection: RayConnection | None = None) -> None:
        self.settings = settings
        self.index = index
        self.connection = connection or RayConnection(settings)
        self.actor: Any = None
        self._ready = False

    def start(self) -> None:
        import ray

        self.connection.ensure()
        cls = ray.remote(RayWorker).options(  # type: ignore[attr-defined]
            num_cpus=1, num_gpus=self.settings.gpus_per_worker, max_concurrency=2, max_restarts=0,
        )
        self.actor = cls.remote(self.settings.backend, self.settings.backend_kwargs(),
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

    def run(self, spec: JobSpec, out_dir: Path, on_progress: Callable[[float | None], bool]) -> dict[str,
                                                                                                     Any]:
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
        out: dict[str, Any] = {"sha256": res["sha256"], "bytes": res["bytes"],
                               "timings": res.get("timings", {})}
        for k, data in res["files"].items():
            out[k] = str(write_private(out_dir / res["names"][k], data))
        return out
