"""The job store's SQLite schema: keys, videos (jobs), the webhook outbox, moderation refusals,
characters (named reference images, `characters.py`).

Columns added after the first release are added in place to older stores by `JobStore`.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    max_concurrent_jobs INTEGER,
    seconds_per_day INTEGER,
    requests_per_minute INTEGER,
    webhook_url TEXT,
    webhook_secret TEXT
);
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    seconds INTEGER NOT NULL,
    size TEXT NOT NULL,
    spec TEXT NOT NULL,
    remixed_from TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    expires_at REAL,
    error_code TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_owner TEXT,
    lease_expires REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    deleted_at REAL,
    expired INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    request_hash TEXT,
    output_path TEXT,
    thumbnail_path TEXT,
    spritesheet_path TEXT,
    sha256 TEXT,
    bytes INTEGER,
    completions INTEGER NOT NULL DEFAULT 0,
    moderation TEXT,
    timings TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS videos_idem ON videos(owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS videos_status ON videos(status, created_at);
CREATE INDEX IF NOT EXISTS videos_owner ON videos(owner, created_at);
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY,
    video_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    dead_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_events(next_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE TABLE IF NOT EXISTS moderation_refusals (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL,
    route TEXT NOT NULL,
    mode TEXT NOT NULL,
    prompt TEXT NOT NULL,
    category TEXT,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS moderation_refusals_owner ON moderation_refusals(owner, created_at);
CREATE TABLE IF NOT EXISTS characters (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    images INTEGER NOT NULL,
    consent_grant_id TEXT,
    project TEXT
);
CREATE INDEX IF NOT EXISTS characters_owner ON characters(owner, created_at);
"""
