"""The storyboard routes authenticate before reading a body, and read it capped and strictly."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, dict[str, str]]]:
    s = Settings(data_dir=tmp_path_factory.mktemp("sb"), moderation=False)
    key = make_key(s, "sb")
    with ThreadServer(s, start_workers=False) as srv:
        yield srv, {"Authorization": f"Bearer {key}"}


def raw_post(port: int, path: str, headers: dict[str, str], declared: int, sent: bytes) -> bytes:
    """POST declaring `declared` bytes but sending only `sent`: the answer must come without the rest."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}"
                     f"Content-Length: {declared}\r\n\r\n".encode() + sent)
        return sock.recv(65536)


@pytest.mark.parametrize("path", ["/v1/storyboards", "/v1/storyboards/sb_x", "/v1/storyboards/sb_x/generate",
                                  "/v1/storyboards/sb_x/shots/s1/image"])
def test_no_key_is_401_before_the_body_is_read(live: tuple[ThreadServer, dict[str, str]], path: str) -> None:
    srv, _ = live
    method = "PUT" if path == "/v1/storyboards/sb_x" else "POST"
    head = raw_post(srv.settings.port, path, {}, 50_000_000, b'{"title": "') if method == "POST" else None
    if head is not None:
        assert head.startswith(b"HTTP/1.1 401"), head[:200]
    r = httpx.request(method, srv.base_url + path, json={"title": [[[]]]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_a_declared_50_mb_body_is_refused_unread(live: tuple[ThreadServer, dict[str, str]]) -> None:
    srv, h = live
    head = raw_post(srv.settings.port, "/v1/storyboards", h, 50_000_000, b'{"title": "')
    assert head.startswith(b"HTTP/1.1 413"), head[:200]


def test_deep_title_is_a_400_with_or_without_a_key(live: tuple[ThreadServer, dict[str, str]]) -> None:
    srv, h = live
    deep = b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = httpx.post(srv.base_url + "/v1/storyboards", content=deep,
                   headers={"content-type": "application/json"})
    assert r.status_code == 401
    r = httpx.post(srv.base_url + "/v1/storyboards", content=deep,
                   headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(srv.base_url + "/v1/storyboards", json={"title": "ok", "seed": True}, headers=h)
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"]
