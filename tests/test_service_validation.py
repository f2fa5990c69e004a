"""Bad input at the edge: a 4xx with a specific error.code, never a 500, and nothing created."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from struct import pack

import httpx
import numpy as np
import pytest
from PIL import Image

from cinegen.media import write_video
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, dict[str, str]]]:
    s = Settings(data_dir=tmp_path_factory.mktemp("val"), workers=1, max_upload_bytes=512 * 1024)
    with ThreadServer(s) as server:
        yield server, {"Authorization": f"Bearer {make_key(s, 'v')}"}


def png(w: int = 128, h: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(side: int = 30000) -> bytes:
    """A tiny PNG whose header claims side x side pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return pack(">I", len(data)) + kind + data + pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = zlib.compress(b"\x00" * (side + 1) * 64, 9)  # only a few rows of actual data
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def mp4_bytes(tmp_path: object) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = write_video(Path(d) / "v.mp4", np.zeros((4, 32, 32, 3), np.uint8), 8)
        return p.read_bytes()


JSON_CASES = [
    ({"prompt": "x", "size": "1280x720"}, "invalid_size"),
    ({"prompt": "x", "size": "333x333"}, "invalid_size"),
    ({"prompt": "x", "size": "big"}, "invalid_size"),
    ({"prompt": "x", "seconds": "0"}, "invalid_seconds"),
    ({"prompt": "x", "seconds": "61"}, "invalid_seconds"),
    ({"prompt": "x", "seconds": 90}, "invalid_seconds"),
    ({"prompt": "x", "seconds": "four"}, "invalid_seconds"),
    ({"prompt": "x", "seconds": 2.5}, "invalid_seconds"),
    ({"prompt": "x", "seconds": True}, "invalid_seconds"),
    ({"prompt": ""}, "invalid_prompt"),
    ({"prompt": "   "}, "invalid_prompt"),
    ({"prompt": "x" * 4001}, "invalid_prompt"),
    ({"prompt": 5}, "invalid_prompt"),
    ({}, "missing_prompt"),
    ({"prompt": "x", "fps": 0}, "invalid_fps"),
    ({"prompt": "x", "fps": 45}, "invalid_fps"),
    ({"prompt": "x", "seed": -1}, "invalid_seed"),
    ({"prompt": "x", "mode": "dream"}, "invalid_mode"),
    ({"prompt": "x", "mode": "extend"}, "missing_source_video"),
    ({"prompt": "x", "mode": "image"}, "missing_input_reference"),
    ({"prompt": "x", "video_ids": ["video_nope"]}, "video_not_found"),
    ({"prompt": "x", "input_reference": {"image_url": "http://169.254.169.254/"}},
     "unsupported_input_reference"),
    ({"prompt": "x", "bogus": 1}, "unknown_parameter"),
    ({"prompt": "x", "extend_prompt": "maybe"}, "invalid_extend_prompt"),
]


@pytest.mark.parametrize(("body", "code"), JSON_CASES, ids=[c for _, c in JSON_CASES])
def test_bad_json_fields(srv: tuple[ThreadServer, dict[str, str]], body: dict, code: str) -> None:
    server, h = srv
    r = httpx.post(f"{server.base_url}/v1/videos", headers=h, json=body)
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]


def test_malformed_bodies_and_content_types(srv: tuple[ThreadServer, dict[str, str]]) -> None:
    server, h = srv
    url = f"{server.base_url}/v1/videos"
    cases = [
        (b'{"prompt": "x"', "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"prompt=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"hello", "text/plain", 415, "unsupported_media_type"),
        (b"--zz\r\ngarbage", "multipart/form-data; boundary=zz", 400, None),
        (b"{" + b" " * 300_000 + b"}", "application/json", 413, "request_too_large"),
    ]
    for body, ctype, status, code in cases:
        r = httpx.post(url, headers={**h, "content-type": ctype}, content=body)
        assert r.status_code == status, (ctype, r.text)
        if code:
            assert r.json()["error"]["code"] == code


def test_streamed_body_without_length_is_capped(srv: tuple[ThreadServer, dict[str, str]]) -> None:
    server, h = srv

    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    r = httpx.post(f"{server.base_url}/v1/videos", headers={**h, "content-type": "application/json"},
                   content=chunks())
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


UPLOADS = [
    ("truncated", lambda: png()[:60], "invalid_image"),
    ("video_as_png", lambda: mp4_bytes(None), "invalid_image"),
    ("text_as_png", lambda: b"not an image at all", "invalid_image"),
    ("empty", lambda: b"", "invalid_image"),
    ("bomb", bomb_png, "image_too_large"),
    ("wrong_size", lambda: png(64, 64), "input_reference_size_mismatch"),
    ("oversize", lambda: np.random.default_rng(0).bytes(600 * 1024), "file_too_large"),
]


@pytest.mark.parametrize(("name", "make", "code"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_bad_uploads(srv: tuple[ThreadServer, dict[str, str]], name: str, make: object, code: str) -> None:
    server, h = srv
    data = make()  # type: ignore[operator]
    r = httpx.post(f"{server.base_url}/v1/videos", headers=h,
                   files={"prompt": (None, "x"), "input_reference": ("ref.png", data, "image/png")})
    assert r.status_code in (400, 413), r.text
    assert r.json()["error"]["code"] == code
    assert not any(server.settings.inputs_dir.iterdir())  # nothing left behind


def test_multipart_field_types(srv: tuple[ThreadServer, dict[str, str]]) -> None:
    server, h = srv
    r = httpx.post(f"{server.base_url}/v1/videos", headers=h,
                   files={"prompt": (None, "x"), "seed": (None, "abc")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_seed"
    r = httpx.post(f"{server.base_url}/v1/videos", headers=h,
                   files={"prompt": (None, "x"), "other": ("a.png", png(), "image/png")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"


def test_query_and_path_validation(srv: tuple[ThreadServer, dict[str, str]]) -> None:
    server, h = srv
    base = f"{server.base_url}/v1/videos"
    assert httpx.get(base, headers=h, params={"limit": 0}).json()["error"]["code"] == "invalid_limit"
    assert httpx.get(base, headers=h, params={"order": "up"}).json()["error"]["code"] == "invalid_order"
    assert httpx.get(base, headers=h, params={"after": "video_x"}).status_code == 404
    r = httpx.get(f"{base}/video_x/content", headers=h, params={"variant": "gif"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_variant"
    assert httpx.get(f"{server.base_url}/nowhere").json()["error"]["code"] == "not_found"
    assert httpx.put(base, headers=h).status_code == 405


def test_offered_sizes_follow_the_backend(tmp_path: object) -> None:
    from pathlib import Path

    from cinegen.service.app import create_app, offered_sizes

    s = Settings(data_dir=Path(str(tmp_path)), sizes=("128x128", "192x112", "1280x720"))
    # fake: no 1280x720
    assert create_app(s, start_workers=False).state.service.sizes == ("128x128", "192x112")
    assert offered_sizes(("128x128", "192x112"), ("128x128", "160x96", "1280x720")) == ("128x128", "1280x720")
    assert offered_sizes(("128x128", "1280x720"), ()) == ("128x128",)
