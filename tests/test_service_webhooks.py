"""Webhooks: Standard Webhooks signatures, retries with backoff, allowlisted hosts only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cinegen.service.auth import create_key
from cinegen.service.jobs import JobStore
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer
from cinegen.service.webhooks import WebhookRefused, check_url, sign, verify


class Receiver:
    """A loopback HTTP endpoint recording deliveries; the first `fail_first` answers are 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = 500 if len(outer.calls) < outer.fail_first else 204
                outer.calls.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    allowed, forbidden = Receiver(fail_first=1), Receiver()
    yield allowed, forbidden
    allowed.close()
    forbidden.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           receivers: tuple[Receiver, Receiver]) -> Iterator[ThreadServer]:
    allowed, _ = receivers
    s = Settings(data_dir=tmp_path_factory.mktemp("hooks"), workers=1, default_fps=8,
                 webhook_allow_hosts=(f"127.0.0.1:{allowed.port}",), webhook_backoff_seconds=0.2)
    with ThreadServer(s) as srv:
        yield srv


def wait_for(cond: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_signature_matches_standard_webhooks_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ts = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, "msg_1", ts, body)}
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify(secret, {**headers, "webhook-timestamp": str(ts - 3600)}, body)


def test_completed_and_failed_events_signed_and_retried(server: ThreadServer,
                                                         receivers: tuple[Receiver, Receiver]) -> None:
    allowed, _ = receivers
    store = JobStore(server.settings.db_path)
    _, key, secret = create_key(store, "hooked", webhook_url=allowed.url,
                                allow_hosts=server.settings.webhook_allow_hosts)
    assert secret is not None
    base = f"{server.base_url}/v1/videos"
    ok = httpx.post(base, headers={"Authorization": f"Bearer {key}"},
                    json={"prompt": "a ball", "seconds": 1}).json()
    bad = httpx.post(base, headers={"Authorization": f"Bearer {key}"},
                     json={"prompt": "a ball [fail]", "seconds": 1}).json()
    wait_for(lambda: sum(1 for *_, st in allowed.calls if st == 204) >= 2)
    delivered = {}
    for headers, body, status in allowed.calls:
        assert verify(secret, headers, body), headers
        if status == 204:
            payload = json.loads(body)
            assert payload["id"] == headers["webhook-id"] and payload["object"] == "event"
            delivered[payload["data"]["id"]] = payload["type"]
    assert delivered == {ok["id"]: "video.completed", bad["id"]: "video.failed"}
    # the first delivery got a 500 and was retried after the backoff, with the same event id
    first_id = allowed.calls[0][0]["webhook-id"]
    assert allowed.calls[0][2] == 500
    assert [st for h, _, st in allowed.calls if h["webhook-id"] == first_id] == [500, 204]
    video_id = json.loads(allowed.calls[0][1])["data"]["id"]
    # the sender records the delivery just after the receiver answers: wait for the record, not the answer
    wait_for(lambda: bool(store.events_for(video_id)) and bool(store.events_for(video_id)[0]["delivered_at"]))
    events = store.events_for(video_id)
    assert len(events) == 1 and events[0]["attempts"] == 2 and events[0]["delivered_at"]


def test_hosts_off_the_allowlist_are_never_contacted(server: ThreadServer,
                                                     receivers: tuple[Receiver, Receiver]) -> None:
    _, forbidden = receivers
    store = JobStore(server.settings.db_path)
    # allowed when the key was made, taken off the allowlist since: delivery checks again
    _, key, _ = create_key(store, "sneaky", webhook_url=forbidden.url,
                           allow_hosts=(urlsplit(forbidden.url).netloc,))
    v = httpx.post(f"{server.base_url}/v1/videos", headers={"Authorization": f"Bearer {key}"},
                   json={"prompt": "a ball", "seconds": 1}).json()
    wait_for(lambda: any(e["dead_at"] for e in store.events_for(v["id"])))
    ev = store.events_for(v["id"])[0]
    assert "not on the allowlist" in ev["last_error"] and forbidden.calls == []


def test_check_url_rules() -> None:
    allow = ("hooks.example.com", "127.0.0.1:9000", "localhost")
    check_url("https://hooks.example.com/x", allow, resolve=False)
    check_url("http://127.0.0.1:9000/x", allow)
    for bad in ("ftp://hooks.example.com/x", "http://evil.example.com/", "http://127.0.0.1:9001/",
                "http://169.254.169.254/latest/meta-data", "http://user:pw@hooks.example.com/", "not a url"):
        with pytest.raises(WebhookRefused):
            check_url(bad, allow, resolve=False)
    with pytest.raises(WebhookRefused, match="internal address"):
        check_url("http://localhost/x", allow)  # a name allowlisted, but it resolves to loopback


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "http://169.254.169.254/latest",
                                 "http://hooks.example.com/x", "http://user:pw@127.0.0.1:9000/"])
def test_keys_create_refuses_what_delivery_would_refuse(tmp_path: Any, url: str) -> None:
    """The CLI exits 2 naming the rule, and no key is stored (same rules as delivery: check_url)."""
    from cinegen.cli import main

    rc = main(["keys", "create", "w", "--data-dir", str(tmp_path), "--webhook-url", url,
               "--webhook-allow-host", "127.0.0.1:9000"])
    assert rc == 2
    assert JobStore(tmp_path / "jobs.sqlite3").list_keys() == []


def test_keys_update_checks_and_rotates(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from cinegen.cli import main

    d = ["--data-dir", str(tmp_path), "--webhook-allow-host", "127.0.0.1:9000"]
    assert main(["keys", "create", "w", *d, "--webhook-url", "http://127.0.0.1:9000/a"]) == 0
    store = JobStore(tmp_path / "jobs.sqlite3")
    first = store.key_by_name("w")["webhook_secret"]
    assert main(["keys", "update", "w", *d, "--webhook-url", "file:///etc/passwd"]) == 2
    assert store.key_by_name("w")["webhook_url"] == "http://127.0.0.1:9000/a"  # unchanged
    assert main(["keys", "update", "w", *d, "--webhook-url", "http://127.0.0.1:9000/b"]) == 0
    row = store.key_by_name("w")
    assert row["webhook_url"] == "http://127.0.0.1:9000/b" and row["webhook_secret"] == first
    capsys.readouterr()
    assert main(["keys", "update", "w", *d, "--webhook-url", "http://127.0.0.1:9000/b",
                 "--rotate-webhook-secret"]) == 0
    new = store.key_by_name("w")["webhook_secret"]
    assert new != first and f"webhook secret: {new}" in capsys.readouterr().out
    assert main(["keys", "update", "w", "--data-dir", str(tmp_path), "--no-webhook"]) == 0
    assert store.key_by_name("w")["webhook_url"] is None and store.key_by_name("w")["webhook_secret"] is None
    assert main(["keys", "update", "nobody", "--data-dir", str(tmp_path), "--no-webhook"]) == 2
