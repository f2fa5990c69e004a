"""The job store: SQLite in WAL mode, the service's source of truth.

Every state change is one short transaction, so a crash anywhere (API, worker, the whole machine)
leaves the store consistent:

- A job is *accepted* when its row commits (quota checked in the same transaction).
- A worker *claims* a job by taking a lease: `attempts += 1`, a fresh `lease_token`, a deadline.
  Progress heartbeats extend the deadline. A lease that lapses (the worker died) or that belonged
  to this node before a restart is released: the job is queued again, or fails with
  `max_attempts_exceeded` once its attempts are spent.
- Completion and failure are conditional on the lease token, so a stale worker (one whose job was
  already handed to another) can never complete a job a second time; the webhook event is inserted
  in the same transaction, so each job emits exactly one terminal event.
- Outputs are written under a per-attempt name before the row points at them, so the row only
  ever names a complete, checksummed file.

Keys and the webhook outbox live in the same database. Moving to PostgreSQL for several API nodes
is described in docs/service.md: the SQL here is plain, and the claim becomes
`SELECT ... FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinegen.errors import CodedError
from cinegen.private import private_files, touch_private
from cinegen.service.quotas import Limits, check_job_quota
from cinegen.service.store_schema import SCHEMA as _SCHEMA

ACTIVE = ("queued", "in_progress")
TERMINAL = ("completed", "failed")



class NotFound(Exception):
    """No such video for this key (another key's video is 'not found' too)."""


class Conflict(CodedError):
    """The request conflicts with the video's state. `code` becomes `error.code`."""


@dataclass(frozen=True)
class Claim:
    """A leased job handed to a worker."""

    id: str
    token: str
    attempt: int
    spec: dict[str, Any]
    owner: str


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class JobStore:
    """One SQLite database under the data directory; a connection per thread."""

    def __init__(self, path: Path, *, max_attempts: int = 3, lease_seconds: float = 30.0) -> None:
        self.path = Path(path)
        touch_private(self.path)  # before SQLite opens it: its -wal and -shm files take its mode
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self._local = threading.local()
        self._write_lock = threading.Lock()
        c = self._conn()
        c.executescript(_SCHEMA)
        columns = {r["name"] for r in c.execute("PRAGMA table_info(videos)")}
        if "moderation" not in columns:  # a store created before moderation was wired in
            c.execute("ALTER TABLE videos ADD COLUMN moderation TEXT")
        if "timings" not in columns:  # a store created before per-stage timings
            c.execute("ALTER TABLE videos ADD COLUMN timings TEXT")

    # ------------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")  # a commit survives a power cut, not only a crash
            c.execute("PRAGMA busy_timeout=30000")
            c.execute("PRAGMA foreign_keys=ON")
            private_files(*(self.path.with_name(self.path.name + end) for end in ("-wal", "-shm")))
            self._local.conn = c
        return c

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: one writer at a time, rolled back on any exception.

        Writers through this store queue on a lock first: SQLite's own busy handler sleeps in
        steps of up to 100 ms, which under contention shows up as API latency spikes.
        """
        c = self._conn()
        with self._write_lock:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, args).fetchall()

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    # ------------------------------------------------------------------ keys
    def create_key(self, name: str, key_hash: str, prefix: str, limits: dict[str, int | None],
                   webhook_url: str | None, webhook_secret: str | None) -> str:
        kid = new_id("key")
        try:
            with self._tx() as c:
                c.execute(
                    "INSERT INTO keys (id,name,hash,prefix,created_at,max_concurrent_jobs,seconds_per_day,"
                    "requests_per_minute,webhook_url,webhook_secret) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (kid, name, key_hash, prefix, time.time(), limits.get("max_concurrent_jobs"),
                     limits.get("seconds_per_day"), limits.get("requests_per_minute"), webhook_url,
                     webhook_secret),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"a key named {name!r} already exists") from None
        return kid

    def revoke_key(self, name_or_id: str) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE keys SET revoked_at=? WHERE (name=? OR id=?) AND revoked_at IS NULL",
                (time.time(), name_or_id, name_or_id),
            )
            return cur.rowcount > 0

    def key_by_name(self, name_or_id: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM keys WHERE (name=? OR id=?) AND revoked_at IS NULL",
                          (name_or_id, name_or_id))
        return rows[0] if rows else None

    def set_webhook(self, key_id: str, webhook_url: str | None, webhook_secret: str | None) -> None:
        with self._tx() as c:
            c.execute("UPDATE keys SET webhook_url=?, webhook_secret=? WHERE id=?",
                      (webhook_url, webhook_secret, key_id))

    def key_by_hash(self, key_hash: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM keys WHERE hash=? AND revoked_at IS NULL", (key_hash,))
        return rows[0] if rows else None

    def key_by_id(self, key_id: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM keys WHERE id=?", (key_id,))
        return rows[0] if rows else None

    def list_keys(self) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM keys ORDER BY created_at")

    # ------------------------------------------------------------------ videos: the API side
    def create_video(
        self,
        *,
        video_id: str,
        owner: str,
        model: str,
        prompt: str,
        seconds: int,
        size: str,
        spec: dict[str, Any],
        limits: Limits,
        remixed_from: str | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        moderation: dict[str, Any] | None = None,
    ) -> tuple[sqlite3.Row, bool]:
        """Accept a job. Returns (row, created); an idempotent replay returns the first row, False.

        `moderation` is the policy decision that let it through (`Decision.to_dict()` plus the
        consent the request carried), stored with the job.

        Raises QuotaExceeded (nothing is written) or Conflict (an idempotency key reused with a
        different request).
        """
        now = time.time()
        with self._tx() as c:
            if idempotency_key is not None:
                prev = c.execute(
                    "SELECT * FROM videos WHERE owner=? AND idempotency_key=?", (owner, idempotency_key)
                ).fetchone()
                if prev is not None:
                    if prev["request_hash"] != request_hash:
                        raise Conflict(
                            "idempotency_key_reused",
                            "this Idempotency-Key was already used with a different request",
                        )
                    return prev, False
            check_job_quota(c, owner, limits, seconds, now)
            c.execute(
                "INSERT INTO videos (id,owner,status,model,prompt,seconds,size,spec,remixed_from,created_at,"
                "idempotency_key,request_hash,moderation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (video_id, owner, "queued", model, prompt, seconds, size, json.dumps(spec), remixed_from, now,
                 idempotency_key, request_hash, json.dumps(moderation) if moderation is not None else None),
            )
            row = c.execute("SELECT * FROM videos WHERE id=?", (video_id,)).fetchone()
        return row, True

    def record_refusal(self, *, owner: str, route: str, mode: str, prompt: str,
                       decision: dict[str, Any]) -> str:
        """Log a request moderation refused. No job is created and no quota is spent; the log keeps
        the decision (category, `safety.*` code, scores) for audit. Returns the log entry's id."""
        rid = new_id("modr")
        with self._tx() as c:
            c.execute(
                "INSERT INTO moderation_refusals "
                "(id,owner,created_at,route,mode,prompt,category,code,message,decision) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rid, owner, time.time(), route, mode, prompt, decision.get("category"),
                 decision.get("code") or "",
                 decision.get("message") or "", json.dumps(decision)),
            )
        return rid

    def refusals(self, owner: str | None = None, limit: int = 100) -> list[sqlite3.Row]:
        """The most recent moderation refusals (of `owner`, or of everyone), newest first."""
        if owner is None:
            return self._read("SELECT * FROM moderation_refusals ORDER BY created_at DESC LIMIT ?", (limit,))
        return self._read(
            "SELECT * FROM moderation_refusals WHERE owner=? ORDER BY created_at DESC LIMIT ?", (owner, limit)
        )

    def get(self, owner: str | None, video_id: str) -> sqlite3.Row:
        """A live (not deleted) video of `owner` (any owner when None), else NotFound."""
        if owner is None:
            rows = self._read("SELECT * FROM videos WHERE id=? AND deleted_at IS NULL", (video_id,))
        else:
            rows = self._read(
                "SELECT * FROM videos WHERE id=? AND owner=? AND deleted_at IS NULL", (video_id, owner)
            )
        if not rows:
            raise NotFound(video_id)
        return rows[0]

    def list_videos(self, owner: str, *, after: str | None, limit: int,
                    order: str) -> tuple[list[sqlite3.Row], bool]:
        """A page of `owner`'s videos by creation order, and whether more follow."""
        op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        args: list[Any] = [owner]
        where = "owner=? AND deleted_at IS NULL"
        if after:
            cur = self._read("SELECT rowid FROM videos WHERE id=? AND owner=?", (after, owner))
            if not cur:
                raise NotFound(after)
            where += f" AND rowid {op} ?"
            args.append(cur[0]["rowid"])
        rows = self._read(
            f"SELECT * FROM videos WHERE {where} ORDER BY rowid {direction} LIMIT ?", (*args, limit + 1)
        )
        return rows[:limit], len(rows) > limit

    @staticmethod
    def _owned(c: sqlite3.Connection, owner: str, video_id: str) -> sqlite3.Row:
        sql = "SELECT * FROM videos WHERE id=? AND owner=? AND deleted_at IS NULL"
        row = c.execute(sql, (video_id, owner)).fetchone()
        if row is None:
            raise NotFound(video_id)
        return row

    def cancel(self, owner: str, video_id: str) -> sqlite3.Row:
        """Queued: fails at once with `cancelled`. Running: the worker is told to stop."""
        with self._tx() as c:
            row = self._owned(c, owner, video_id)
            if row["status"] in TERMINAL:
                raise Conflict("video_not_cancellable", f"video {video_id} is already {row['status']}")
            if row["status"] == "queued":
                self._finish_failed(c, row, "cancelled", "cancelled by the client")
            else:
                c.execute("UPDATE videos SET cancel_requested=1 WHERE id=?", (video_id,))
            return c.execute("SELECT * FROM videos WHERE id=?", (video_id,)).fetchone()

    def delete(self, owner: str, video_id: str) -> list[Path]:
        """Mark deleted (a running job is cancelled too); returns files to remove now."""
        with self._tx() as c:
            row = self._owned(c, owner, video_id)
            c.execute("UPDATE videos SET deleted_at=?, cancel_requested=1 WHERE id=?",
                      (time.time(), video_id))
        return _files_of(row)

    # ------------------------------------------------------------------ videos: the worker side
    @staticmethod
    def _leased(c: sqlite3.Connection, video_id: str, token: str) -> sqlite3.Row | None:
        """The running job's row, only while `token` still holds its lease."""
        sql = "SELECT * FROM videos WHERE id=? AND lease_token=? AND status='in_progress'"
        return c.execute(sql, (video_id, token)).fetchone()  # type: ignore[no-any-return]

    def claim(self, worker: str) -> Claim | None:
        """Lease the oldest queued job to `worker`, or None when the queue is empty."""
        now = time.time()
        with self._tx() as c:
            row = c.execute(
                "SELECT * FROM videos WHERE status='queued' AND deleted_at IS NULL AND cancel_requested=0 "
                "ORDER BY rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            token = uuid.uuid4().hex
            c.execute(
                "UPDATE videos SET status='in_progress', attempts=attempts+1, lease_token=?, lease_owner=?, "
                "lease_expires=?, started_at=COALESCE(started_at, ?), progress=0 WHERE id=?",
                (token, worker, now + self.lease_seconds, now, row["id"]),
            )
        return Claim(row["id"], token, row["attempts"] + 1, json.loads(row["spec"]), row["owner"])

    def heartbeat(self, video_id: str, token: str, progress: int | None = None) -> tuple[bool, bool]:
        """Extend the lease (and record progress). Returns (lease still held, stop requested)."""
        with self._tx() as c:
            if progress is None:
                cur = c.execute(
                    "UPDATE videos SET lease_expires=? WHERE id=? AND lease_token=? AND status='in_progress'",
                    (time.time() + self.lease_seconds, video_id, token),
                )
            else:
                cur = c.execute(
                    "UPDATE videos SET lease_expires=?, progress=MAX(progress, ?) "
                    "WHERE id=? AND lease_token=? AND status='in_progress'",
                    (time.time() + self.lease_seconds, min(99, progress), video_id, token),
                )
            if cur.rowcount == 0:
                return False, True
            row = c.execute("SELECT cancel_requested, deleted_at FROM videos WHERE id=?",
                            (video_id,)).fetchone()
            return True, bool(row["cancel_requested"]) or row["deleted_at"] is not None

    def source_path(self, video_id: str, owner: str) -> Path | None:
        rows = self._read(
            "SELECT output_path FROM videos WHERE id=? AND owner=? AND status='completed' AND deleted_at IS "
            "NULL "
            "AND expired=0",
            (video_id, owner),
        )
        return Path(rows[0]["output_path"]) if rows and rows[0]["output_path"] else None

    def complete(self, video_id: str, token: str, *, output_path: Path, thumbnail_path: Path | None,
                 spritesheet_path: Path | None, sha256: str, nbytes: int, retention_seconds: float,
                 timings: dict[str, float] | None = None) -> bool:
        """Mark completed if `token` still holds the lease (exactly once). False: discard outputs.
        `timings`: the seconds each stage of the generation took, kept as the video's metadata."""
        now = time.time()
        with self._tx() as c:
            row = self._leased(c, video_id, token)
            if row is None or row["deleted_at"] is not None:
                return False
            if row["cancel_requested"]:
                self._finish_failed(c, row, "cancelled", "cancelled by the client")
                return False
            c.execute(
                "UPDATE videos SET status='completed', progress=100, completed_at=?, expires_at=?, "
                "output_path=?, thumbnail_path=?, spritesheet_path=?, sha256=?, bytes=?, lease_token=NULL, "
                "lease_expires=NULL, completions=completions+1, error_code=NULL, error_message=NULL, "
                "timings=? WHERE id=?",
                (now, now + retention_seconds, str(output_path),
                 str(thumbnail_path) if thumbnail_path else None,
                 str(spritesheet_path) if spritesheet_path else None, sha256, nbytes,
                 json.dumps(timings) if timings else None, video_id),
            )
            self._event(c, row, "video.completed", now)
        return True

    def fail(self, video_id: str, token: str, code: str, message: str) -> bool:
        """A permanent failure of the leased job (or its cancellation)."""
        with self._tx() as c:
            row = self._leased(c, video_id, token)
            if row is None:
                return False
            self._finish_failed(c, row, code, message)
        return True

    def release(self, video_id: str, token: str | None, reason: str) -> str | None:
        """The worker running this job was lost: queue it again, or fail it when attempts are spent.

        With `token` None the lease is released whoever holds it. Returns the new status, or None
        when the job was no longer leased.
        """
        with self._tx() as c:
            if token is None:
                row = c.execute("SELECT * FROM videos WHERE id=? AND status='in_progress'",
                                (video_id,)).fetchone()
            else:
                row = self._leased(c, video_id, token)
            if row is None:
                return None
            return self._release_row(c, row, reason)

    def _release_row(self, c: sqlite3.Connection, row: sqlite3.Row, reason: str) -> str:
        if row["cancel_requested"] or row["deleted_at"] is not None:
            self._finish_failed(c, row, "cancelled", "cancelled by the client")
            return "failed"
        if row["attempts"] >= self.max_attempts:
            self._finish_failed(
                c, row, "max_attempts_exceeded",
                f"gave up after {row['attempts']} attempts; last: {reason}",
            )
            return "failed"
        c.execute(
            "UPDATE videos SET status='queued', progress=0, lease_token=NULL, lease_owner=NULL, "
            "lease_expires=NULL, error_message=? WHERE id=?",
            (f"retrying after: {reason}", row["id"]),
        )
        return "queued"

    def recover(self, *, node_prefix: str | None = None) -> dict[str, int]:
        """Release leases that lapsed, and (at a node's start) every lease that node held before.

        Returns counts of jobs requeued and failed.
        """
        now = time.time()
        counts = {"queued": 0, "failed": 0}
        with self._tx() as c:
            rows = c.execute(
                "SELECT * FROM videos WHERE status='in_progress' AND (lease_expires < ? OR lease_owner LIKE "
                "?)",
                (now, f"{node_prefix}:%" if node_prefix else "\x00"),
            ).fetchall()
            for row in rows:
                expired = row["lease_expires"] < now
                why = "worker lost (lease expired)" if expired else "service restarted mid-job"
                counts[self._release_row(c, row, why)] += 1
        return counts

    def _finish_failed(self, c: sqlite3.Connection, row: sqlite3.Row, code: str, message: str) -> None:
        now = time.time()
        c.execute(
            "UPDATE videos SET status='failed', completed_at=?, error_code=?, error_message=?, "
            "lease_token=NULL, "
            "lease_expires=NULL WHERE id=?",
            (now, code, message, row["id"]),
        )
        if row["deleted_at"] is None:
            self._event(c, row, "video.failed", now)

    def _event(self, c: sqlite3.Connection, row: sqlite3.Row, kind: str, now: float) -> None:
        """Queue the terminal webhook event, inside the transaction that made the status terminal."""
        key = c.execute("SELECT webhook_url FROM keys WHERE id=?", (row["owner"],)).fetchone()
        if key is None or not key["webhook_url"]:
            return
        eid = new_id("evt")
        payload = {"id": eid, "object": "event", "type": kind, "created_at": int(now),
                   "data": {"id": row["id"]}}
        c.execute(
            "INSERT INTO webhook_events (id,video_id,owner,type,url,payload,created_at,next_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (eid, row["id"], row["owner"], kind, key["webhook_url"], json.dumps(payload), now, now),
        )

    # ------------------------------------------------------------------ webhooks outbox
    def due_events(self, limit: int = 20) -> list[sqlite3.Row]:
        return self._read(
            "SELECT * FROM webhook_events WHERE delivered_at IS NULL AND dead_at IS NULL AND next_at<=? "
            "ORDER BY next_at LIMIT ?",
            (time.time(), limit),
        )

    def event_delivered(self, event_id: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE webhook_events SET delivered_at=?, attempts=attempts+1, last_error=NULL WHERE id=?",
                (time.time(), event_id),
            )

    def event_failed(self, event_id: str, error: str, next_at: float | None) -> None:
        """Record a failed delivery; `next_at` None gives up on the event."""
        with self._tx() as c:
            if next_at is None:
                c.execute(
                    "UPDATE webhook_events SET attempts=attempts+1, last_error=?, dead_at=? WHERE id=?",
                    (error, time.time(), event_id),
                )
            else:
                c.execute(
                    "UPDATE webhook_events SET attempts=attempts+1, last_error=?, next_at=? WHERE id=?",
                    (error, next_at, event_id),
                )

    def events_for(self, video_id: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM webhook_events WHERE video_id=? ORDER BY created_at", (video_id,))

    # ------------------------------------------------------------------ housekeeping and metrics
    def expire_due(self) -> list[Path]:
        """Completed videos past `expires_at`: mark expired and return their files to remove."""
        now = time.time()
        with self._tx() as c:
            rows = c.execute(
                "SELECT * FROM videos WHERE status='completed' AND expired=0 AND expires_at<=?", (now,)
            ).fetchall()
            for r in rows:
                c.execute("UPDATE videos SET expired=1 WHERE id=?", (r["id"],))
        return [p for r in rows for p in _files_of(r)]

    def deleted_files(self) -> list[Path]:
        """Files of deleted videos that are no longer running (to remove)."""
        rows = self._read(
            "SELECT * FROM videos WHERE deleted_at IS NOT NULL AND status!='in_progress' AND output_path IS "
            "NOT NULL"
        )
        return [p for r in rows for p in _files_of(r)]

    def referenced_files(self) -> set[str]:
        rows = self._read(
            "SELECT output_path, thumbnail_path, spritesheet_path, spec FROM videos "
            "WHERE deleted_at IS NULL AND expired=0"
        )
        refs: set[str] = set()
        for r in rows:
            refs.update(str(p) for p in (r["output_path"], r["thumbnail_path"], r["spritesheet_path"]) if p)
            spec = json.loads(r["spec"])
            refs.update(str(spec[k]) for k in ("input_reference", "source_upload") if spec.get(k))
            refs.update(str(p) for p in spec.get("references") or ())
        return refs

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) AS n FROM videos WHERE deleted_at IS NULL GROUP BY status")
        out = {s: 0 for s in (*ACTIVE, *TERMINAL)}
        out.update({r["status"]: r["n"] for r in rows})
        return out

    def failure_counts(self) -> dict[str, int]:
        rows = self._read("SELECT error_code, COUNT(*) AS n FROM videos WHERE status='failed' GROUP BY "
                          "error_code")
        return {r["error_code"] or "unknown": r["n"] for r in rows}

    def webhook_counts(self) -> dict[str, int]:
        (delivered, dead, pending) = self._read(
            "SELECT SUM(delivered_at IS NOT NULL), SUM(dead_at IS NOT NULL), "
            "SUM(delivered_at IS NULL AND dead_at IS NULL) FROM webhook_events"
        )[0]
        return {"delivered": delivered or 0, "dead": dead or 0, "pending": pending or 0}


def _files_of(row: sqlite3.Row) -> list[Path]:
    return [Path(p) for p in (row["output_path"], row["thumbnail_path"], row["spritesheet_path"]) if p]
