"""Workers: the dispatcher that feeds jobs from the store to the executors' runners.

One dispatcher runs in the API process with one *slot* per device. A slot loops: claim a job
(a lease in the store), hand it to its runner (a worker process, or a Ray actor, that loaded the
backend once), relay progress and heartbeats into the store, then complete or fail the job
conditionally on the lease. If the runner dies mid-job the slot releases the lease (the job is
queued again, bounded by `max_attempts`) and starts a fresh runner.

What runs inside the worker (`execute_job`, the child process's loop, the Ray actor's body)
lives in `worker_process.py`; this module is the API process's side only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cinegen.errors import CodedError
from cinegen.service.backends import JobCancelled, JobSpec
from cinegen.service.jobs import Claim, JobStore
from cinegen.service.metrics import Metrics
from cinegen.service.settings import Settings

log = logging.getLogger(__name__)


class WorkerLost(Exception):
    """The worker process or actor died (or stopped answering) while running a job."""


class JobFailed(CodedError):
    """A permanent failure of one job, reported by the worker."""


class Runner(Protocol):
    """One device's worker: a process or an actor that holds a loaded backend."""

    def start(self) -> None: ...
    def ready(self) -> bool: ...
    def stop(self) -> None: ...
    def restart(self) -> None: ...

    def run(self, spec: JobSpec, out_dir: Path, on_progress: Callable[[float | None], bool]) -> dict[str,
                                                                                                     Any]:
        """Run one job; `on_progress(f)` is called often (f None: a bare heartbeat) and returns
        True when the job should stop. Returns `execute_job`'s dict with paths under `out_dir`.
        Raises WorkerLost, JobFailed or JobCancelled."""
        ...


# ----------------------------------------------------------------------------- the dispatcher
class Dispatcher:
    """Feeds queued jobs to `settings.workers` runners, one job at a time each."""

    def __init__(self, settings: Settings, store: JobStore, make_runner: Callable[[int], Runner],
                 metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.runners = [make_runner(i) for i in range(settings.workers)]
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        counts = self.store.recover(node_prefix=self.settings.node_id)
        if any(counts.values()):
            log.warning("recovered interrupted jobs at start: %s", counts)
        for i, runner in enumerate(self.runners):
            t = threading.Thread(target=self._slot, args=(i, runner), name=f"cinegen-slot-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.notify()
        for r in self.runners:
            r.stop()
        for t in self._threads:
            t.join(timeout)

    def notify(self) -> None:
        """Wake idle slots: a job was just queued."""
        with self._wake:
            self._wake.notify_all()

    def ready(self) -> bool:
        return any(r.ready() for r in self.runners)

    # ------------------------------------------------------------------ one slot
    def _slot(self, index: int, runner: Runner) -> None:
        worker = f"{self.settings.node_id}:{index}"
        backoff = 1.0
        try:
            runner.start()
        except Exception:
            log.exception("slot %d: runner failed to start", index)
        while not self._stop.is_set():
            if not runner.ready():  # never claim a job without a loaded backend to run it
                try:
                    runner.restart()
                    backoff = 1.0
                except Exception:
                    log.exception("slot %d: runner failed to start; retrying in %.0f s", index, backoff)
                    self._stop.wait(backoff)
                    backoff = min(60.0, backoff * 2)
                continue
            try:
                claim = self.store.claim(worker)
            except Exception:
                log.exception("slot %d: claim failed", index)
                claim = None
            if claim is None:
                with self._wake:
                    self._wake.wait(0.5)
                continue
            try:
                self._run(runner, claim)
            except Exception:  # a bug in our own code: never lose the job over it
                log.exception("slot %d: job %s crashed the dispatcher", index, claim.id)
                self.store.release(claim.id, claim.token, "internal error in the dispatcher")

    def _run(self, runner: Runner, claim: Claim) -> None:
        t0 = time.monotonic()
        try:
            spec = self._spec(claim)
        except JobFailed as e:
            self.store.fail(claim.id, claim.token, e.code, e.message)
            self.metrics.job_finished("failed", time.monotonic() - t0, e.code)
            return
        last = {"beat": 0.0, "pct": -1}
        beat_every = max(0.2, self.settings.lease_seconds / 4)

        def on_progress(f: float | None) -> bool:
            now = time.monotonic()
            pct = -1 if f is None else int(100 * max(0.0, min(1.0, f)))
            if pct == last["pct"] and now - last["beat"] < beat_every:
                return False
            if pct != last["pct"] and now - last["beat"] < 0.2 and pct < 100:
                return False  # throttle progress writes to five a second
            last["beat"], last["pct"] = now, pct
            held, stop = self.store.heartbeat(claim.id, claim.token, None if pct < 0 else pct)
            return stop or not held or self._stop.is_set()

        try:
            out = runner.run(spec, self.settings.videos_dir, on_progress)
        except WorkerLost as e:
            if self._stop.is_set():  # shutting down: the next start recovers the job
                return
            status = self.store.release(claim.id, claim.token, str(e))
            self.metrics.worker_lost()
            log.warning("job %s: worker lost (%s); job is now %s", claim.id, e, status)
            if status == "failed":
                self.metrics.job_finished("failed", time.monotonic() - t0, "max_attempts_exceeded")
            try:
                runner.restart()
            except Exception:  # the slot loop retries with backoff before it claims again
                log.exception("job %s: worker restart failed", claim.id)
            return
        except JobCancelled:
            if self._stop.is_set():
                return
            self.store.fail(claim.id, claim.token, "cancelled", "cancelled by the client")
            self.metrics.job_finished("failed", time.monotonic() - t0, "cancelled")
            return
        except JobFailed as e:
            self.store.fail(claim.id, claim.token, e.code, e.message)
            self.metrics.job_finished("failed", time.monotonic() - t0, e.code)
            return
        ok = self.store.complete(
            claim.id, claim.token, output_path=Path(out["output_path"]),
            thumbnail_path=Path(out["thumbnail_path"]), spritesheet_path=Path(out["spritesheet_path"]),
            sha256=out["sha256"], nbytes=out["bytes"], retention_seconds=self.settings.retention_seconds,
            timings=out.get("timings"),
        )
        if ok:
            self.metrics.job_finished("completed", time.monotonic() - t0, None, out.get("timings"))
        else:  # lost the lease (cancelled, deleted or handed on): the row never named these files
            for k in ("output_path", "thumbnail_path", "spritesheet_path"):
                Path(out[k]).unlink(missing_ok=True)

    def _spec(self, claim: Claim) -> JobSpec:
        """The stored spec, with what this attempt needs: the sources' files, the attempt, publishing."""
        spec = JobSpec.from_dict(claim.spec)
        sources: list[Path] = [spec.source_upload] if spec.source_upload is not None else []
        if spec.source_upload is not None and not spec.source_upload.exists():
            raise JobFailed("input_unavailable", "the uploaded source video is missing")
        for vid in spec.source_video_ids:
            p = self.store.source_path(vid, claim.owner)
            if p is None or not p.exists():
                raise JobFailed("source_unavailable", f"source video {vid} is no longer available")
            sources.append(p)
        if spec.input_reference is not None and not spec.input_reference.exists():
            raise JobFailed("input_unavailable", "the uploaded input_reference is missing")
        return spec.replace(id=claim.id, source_videos=tuple(sources), attempt=claim.attempt,
                            publish=self.settings.publish, data_dir=self.settings.data_dir)
