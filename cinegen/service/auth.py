"""API keys: created and revoked from the CLI, stored only as SHA-256 hashes.

A key is `cg_` plus 32 random bytes (URL-safe base64). Because keys are long random secrets, a
plain SHA-256 is the right hash (a slow password hash buys nothing and costs every request).
Every video belongs to the key that created it; the key's id is its owner everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from cinegen.service.jobs import JobStore
from cinegen.service.quotas import Limits
from cinegen.service.settings import Settings
from cinegen.service.webhook_urls import check_url

LOCAL_OWNER = "local"  # the owner of every video when auth is off (single-user mode)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (the owner of its videos), its name and limits."""

    key_id: str
    name: str
    limits: Limits


class AuthError(Exception):
    """Missing, malformed, unknown or revoked key: 401."""


def generate_key() -> str:
    return "cg_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_key(store: JobStore, name: str, *, max_concurrent_jobs: int | None = None,
               seconds_per_day: int | None = None, requests_per_minute: int | None = None,
               webhook_url: str | None = None,
               allow_hosts: tuple[str, ...] = ()) -> tuple[str, str, str | None]:
    """Create a key. Returns (key_id, the key itself (shown once), webhook secret or None).

    A webhook URL must pass the delivery rules now (`check_url` against `allow_hosts`, the
    deployment's `webhook_allow_hosts`): WebhookRefused (a ValueError) otherwise."""
    if not name or len(name) > 100:
        raise ValueError(f"key name must be 1..100 characters, got {name!r}")
    if webhook_url:
        check_url(webhook_url, allow_hosts)
    key = generate_key()
    secret = generate_webhook_secret() if webhook_url else None
    limits = {"max_concurrent_jobs": max_concurrent_jobs, "seconds_per_day": seconds_per_day,
              "requests_per_minute": requests_per_minute}
    for k, v in limits.items():
        if v is not None and v < 0:
            raise ValueError(f"{k} must be >= 0, got {v}")
    kid = store.create_key(name, hash_key(key), key[:7], limits, webhook_url, secret)
    return kid, key, secret


def update_webhook(store: JobStore, name: str, webhook_url: str | None, *, rotate_secret: bool = False,
                   allow_hosts: tuple[str, ...] = ()) -> str | None:
    """Point key `name` (name or id) at a new webhook URL (None: no webhook), under the same rules
    as `create_key`. A new secret is made when the key had none or `rotate_secret`; returns it
    (shown once), or None when the secret is unchanged or removed."""
    row = store.key_by_name(name)
    if row is None:
        raise ValueError(f"no active key named {name!r}")
    if webhook_url:
        check_url(webhook_url, allow_hosts)
    fresh = bool(webhook_url) and (rotate_secret or not row["webhook_secret"])
    new_secret = generate_webhook_secret() if fresh else None
    secret = None if not webhook_url else (new_secret or row["webhook_secret"])
    store.set_webhook(row["id"], webhook_url or None, secret)
    return new_secret


def authenticate(store: JobStore, settings: Settings, authorization: str | None) -> Principal:
    """The Principal for an `Authorization: Bearer <key>` header, else AuthError."""
    defaults = Limits(settings.max_concurrent_jobs, settings.seconds_per_day, settings.requests_per_minute)
    if not settings.auth:
        return Principal(LOCAL_OWNER, LOCAL_OWNER, defaults)
    if not authorization:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError("malformed Authorization header: expected 'Bearer <key>'")
    row = store.key_by_hash(hash_key(key.strip()))
    if row is None:
        raise AuthError("invalid or revoked API key")
    limits = Limits(
        (row["max_concurrent_jobs"] if row["max_concurrent_jobs"] is not None
         else defaults.max_concurrent_jobs),
        row["seconds_per_day"] if row["seconds_per_day"] is not None else defaults.seconds_per_day,
        (row["requests_per_minute"] if row["requests_per_minute"] is not None
         else defaults.requests_per_minute),
    )
    return Principal(row["id"], row["name"], limits)
