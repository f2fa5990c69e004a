"""Per-key limits: concurrent jobs, seconds of video per day, requests per minute.

Job limits are checked inside the store's create transaction (`check_job_quota`), so a request
over a limit leaves nothing behind. The request rate is a sliding window kept in the API
process: with several API nodes each enforces it separately (documented in docs/service.md).
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass

DAY = 86400.0


@dataclass(frozen=True)
class Limits:
    max_concurrent_jobs: int
    seconds_per_day: int
    requests_per_minute: int


class QuotaExceeded(Exception):
    """Over a limit: the API answers 429 with `Retry-After: retry_after` (whole seconds)."""

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = max(1, math.ceil(retry_after))


def check_job_quota(conn: sqlite3.Connection, owner: str, limits: Limits, seconds: int, now: float) -> None:
    """Raise QuotaExceeded if `owner` may not start another job of `seconds` now (inside a txn)."""
    (active,) = conn.execute(
        "SELECT COUNT(*) FROM videos WHERE owner=? AND status IN ('queued','in_progress') AND deleted_at IS "
        "NULL",
        (owner,),
    ).fetchone()
    if active >= limits.max_concurrent_jobs:
        raise QuotaExceeded(
            "concurrent_jobs_limit",
            f"this key already has {active} unfinished jobs (limit {limits.max_concurrent_jobs})",
            5,
        )
    rows = conn.execute(
        "SELECT created_at, seconds FROM videos WHERE owner=? AND created_at>? ORDER BY created_at",
        (owner, now - DAY),
    ).fetchall()
    used = sum(r[1] for r in rows)
    if used + seconds > limits.seconds_per_day:
        # the earliest moment enough of the window has aged out to fit this job
        need, retry = used + seconds - limits.seconds_per_day, DAY
        freed = 0
        for created, secs in rows:
            freed += secs
            if freed >= need:
                retry = created + DAY - now
                break
        raise QuotaExceeded(
            "daily_seconds_limit",
            f"{used}s of video in the last 24 h; {seconds}s more exceeds the limit of "
            f"{limits.seconds_per_day}s",
            retry,
        )


class RateLimiter:
    """Sliding one-minute window of request times per key, in this process."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= limit:
                raise QuotaExceeded(
                    "rate_limit_exceeded",
                    f"more than {limit} requests in a minute for this key",
                    q[0] + self.window - now,
                )
            q.append(now)
