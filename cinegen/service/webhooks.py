"""Webhooks: Standard Webhooks signing, delivery from the store's outbox, retries with backoff.

Terminal events (`video.completed`, `video.failed`) are written to the outbox in the same
transaction that finishes the job, so a crash never loses or doubles one. A delivery thread posts
due events, signed as Standard Webhooks does:

    webhook-id: <event id>   webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>

where the secret is the base64 part of the key's `whsec_...` secret. Failures retry with doubling
delays (capped at an hour) up to `webhook_max_attempts`.

Only hosts on `webhook_allow_hosts` are ever contacted (as `host` or `host:port`), redirects are not
followed, and a host name that resolves to a private, loopback or link-local address is refused
unless that address itself is on the list; so a key holder cannot aim the service at internal
addresses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time

import httpx

from cinegen.service.jobs import JobStore
from cinegen.service.metrics import Metrics
from cinegen.service.settings import Settings
from cinegen.service.webhook_urls import WebhookRefused, check_url

log = logging.getLogger(__name__)
__all__ = ["WebhookDeliverer", "WebhookRefused", "check_url", "sign", "verify"]


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300.0) -> bool:
    """Check a delivery as a receiver would (used by tests; receivers may copy it)."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(h["webhook-timestamp"])
        expected = sign(secret, h["webhook-id"], ts, body)
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return any(hmac.compare_digest(expected, s) for s in h.get("webhook-signature", "").split())


class WebhookDeliverer:
    """A background thread draining the outbox."""

    def __init__(self, settings: Settings, store: JobStore, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cinegen-webhooks", daemon=True)
        self._client = httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5.0)
        self._client.close()

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                events = self.store.due_events()
                for ev in events:
                    self._deliver(ev)
            except Exception:
                log.exception("webhook loop error")
                events = []
            if not events:
                self._wake.wait(0.25)
                self._wake.clear()

    def _deliver(self, ev: object) -> None:
        row = ev  # sqlite3.Row
        eid, url = row["id"], row["url"]  # type: ignore[index]
        key = self.store.key_by_id(row["owner"])  # type: ignore[index]
        attempts = row["attempts"] + 1  # type: ignore[index]
        try:
            if key is None or not key["webhook_secret"]:
                raise WebhookRefused("the key has no webhook secret")
            check_url(url, self.settings.webhook_allow_hosts)
        except WebhookRefused as e:
            self.store.event_failed(eid, str(e), None)  # never retried: it will not become allowed
            self.metrics.webhook("refused")
            return
        body = row["payload"].encode()  # type: ignore[index]
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": eid,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(key["webhook_secret"], eid, ts, body),
            "user-agent": "cinegen-webhooks/1",
        }
        try:
            r = self._client.post(url, content=body, headers=headers)
            ok, err = 200 <= r.status_code < 300, f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            ok, err = False, f"{type(e).__name__}: {e}"
        if ok:
            self.store.event_delivered(eid)
            self.metrics.webhook("delivered")
            return
        if attempts >= self.settings.webhook_max_attempts:
            self.store.event_failed(eid, err, None)
            self.metrics.webhook("dead")
            return
        delay = min(3600.0, self.settings.webhook_backoff_seconds * 2 ** (attempts - 1))
        self.store.event_failed(eid, err, time.time() + delay)
        self.metrics.webhook("retry")
