"""Property: whatever JSON (or form) a client sends to a create-like route, the answer is never a
5xx; a 4xx carries the error envelope naming a code. Arbitrary JSON, deep nesting, Unicode digits,
huge integers and wrong types for every field, on create, extensions, edits, remix and storyboards;
forms also carry random, truncated or whole uploaded clips.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key

EXAMPLES = 60  # per route and encoding: about ten seconds in all here
FIELDS = ("prompt", "seconds", "size", "seed", "fps", "steps", "guidance", "strength", "mode", "video_ids",
          "extend_prompt", "use_plan", "plan", "path", "negative_prompt", "video", "model", "title", "shots",
          "consent_grant_id", "project", "style", "characters", "width", "height")
UNICODE_DIGITS = ("²", "¹⁰", "①", "٣", "𝟒", "৪", "4\u0300", "⁴", "Ⅳ", "-1", "0x10", "1e3", " 4 ", "4.0")


def huge_int_text(draw: Any) -> str:
    return "9" * draw(st.integers(41, 5000))


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30), st.sampled_from(UNICODE_DIGITS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def json_bodies(draw: Any) -> bytes:
    """A JSON object of known and unknown fields with arbitrary values, sometimes with a huge
    integer or a deeply nested value spliced in as raw text (json.dumps would refuse them)."""
    body = draw(st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), values, max_size=6))
    if draw(st.booleans()):
        body.setdefault("prompt", draw(st.text(min_size=1, max_size=20)))
    text = json.dumps(body)
    field = draw(st.sampled_from(FIELDS))
    special = draw(st.sampled_from(("none", "huge", "deep", "deep_object")))
    depth = draw(st.integers(30, 3000))
    raw = {"none": None, "huge": huge_int_text(draw), "deep": "[" * depth + "]" * depth,
           "deep_object": '{"a":' * depth + "1" + "}" * depth}[special]
    if raw is not None:
        text = text[:-1] + (", " if body else "") + json.dumps(field) + ": " + raw + "}"
    return text.encode()


form_values = st.one_of(st.sampled_from(UNICODE_DIGITS), st.text(max_size=20),
                        st.integers().map(str), st.sampled_from(("true", "false", "True", "0", "1", "")))


def _clip() -> bytes:
    import tempfile
    from pathlib import Path

    import numpy as np

    from cinegen.media import write_video

    with tempfile.TemporaryDirectory() as d:
        return write_video(Path(d) / "c.mp4", np.zeros((8, 128, 128, 3), np.uint8), 8).read_bytes()


CLIP = _clip()


@st.composite
def form_bodies(draw: Any) -> dict[str, tuple[str | None, Any] | tuple[str, bytes, str]]:
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), form_values, max_size=6))
    fields.setdefault("prompt", "x")
    if draw(st.booleans()):
        fields[draw(st.sampled_from(("seed", "seconds", "fps", "plan")))] = "9" * draw(st.integers(41, 5000))
    form: dict[str, Any] = {k: (None, v) for k, v in fields.items()}
    upload = draw(st.sampled_from(("none", "garbage", "cut_clip", "clip")))
    if upload != "none":  # a `video` file: random bytes, a clip cut anywhere, or a whole one
        cut = CLIP[: draw(st.integers(0, len(CLIP)))]
        data = {"garbage": draw(st.binary(max_size=3000)), "cut_clip": cut, "clip": CLIP}[upload]
        form[draw(st.sampled_from(("video", "input_reference")))] = ("v.mp4", data, "video/mp4")
    return form


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    s = Settings(data_dir=tmp_path_factory.mktemp("prop"), moderation=False, max_concurrent_jobs=10**6,
                 seconds_per_day=10**9, requests_per_minute=10**7)
    key = make_key(s, "prop")
    with ThreadServer(s, start_workers=False) as srv:
        yield srv.base_url, {"Authorization": f"Bearer {key}"}


ROUTES = ("/v1/videos", "/v1/videos/extensions", "/v1/videos/edits", "/v1/videos/video_x/remix")
JSON_ROUTES = (*ROUTES, "/v1/storyboards")


def check(r: httpx.Response, sent: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300], repr(sent)[:300])
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["code"] and err["message"] and err["type"], r.text


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_any_json_body_is_never_a_server_error(live: tuple[str, dict[str, str]], route: str) -> None:
    base, h = live
    with httpx.Client(base_url=base, headers={**h, "content-type": "application/json"}, timeout=30) as client:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(body=json_bodies())
        def run(body: bytes) -> None:
            check(client.post(route, content=body), body)

        run()


@pytest.mark.parametrize("route", ROUTES)
def test_any_form_body_is_never_a_server_error(live: tuple[str, dict[str, str]], route: str) -> None:
    base, h = live
    with httpx.Client(base_url=base, headers=h, timeout=30) as client:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(form=form_bodies())
        def run(form: dict[str, Any]) -> None:
            check(client.post(route, files=form), form)

        run()


REPORTED = [  # the exact requests of issue #17, each a 400 naming the field
    (b'{"prompt":"x","seed":' + b"7" * 4301 + b"}", "invalid_seed"),
    (b'{"prompt":' + b"[" * 2000 + b"]" * 2000 + b"}", "invalid_json"),
    (json.dumps({"prompt": "x", "seconds": "²"}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "seconds": "¹⁰"}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "seconds": "①"}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "seconds": "٣"}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "seconds": "𝟒"}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "seconds": 1.5}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "seconds": True}).encode(), "invalid_seconds"),
    (json.dumps({"prompt": "x", "extend_prompt": 0}).encode(), "invalid_extend_prompt"),
    (json.dumps({"prompt": "x", "strength": False}).encode(), "invalid_strength"),
    (b'{"prompt":"x","guidance":NaN}', "invalid_json"),
]


@pytest.mark.parametrize(("body", "code"), REPORTED, ids=[f"{c}-{i}" for i, (_, c) in enumerate(REPORTED)])
def test_reported_inputs_are_named_400s(live: tuple[str, dict[str, str]], body: bytes, code: str) -> None:
    base, h = live
    r = httpx.post(base + "/v1/videos", headers={**h, "content-type": "application/json"}, content=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert "loc" not in r.json()["error"]["message"] and "function-" not in r.json()["error"]["message"]


def test_messages_say_the_range_and_the_type(live: tuple[str, dict[str, str]]) -> None:
    base, h = live
    msg = httpx.post(base + "/v1/videos", headers=h, json={"prompt": "x", "seconds": "99999"}).json()["error"]
    assert msg["message"] == "seconds must be in 1..60, got 99999"
    msg = httpx.post(base + "/v1/videos", headers=h, json={"prompt": "x", "seconds": 1.5}).json()["error"]
    assert msg["message"] == "seconds must be a string or an integer, got 1.5"
    msg = httpx.post(base + "/v1/videos", headers=h, json={"prompt": "x", "seed": 2**40}).json()["error"]
    assert msg["message"].startswith("seed must be an integer in 0..2147483647")
    for form in ({"seconds": "²"}, {"seed": "٣"}, {"fps": "𝟒"}, {"strength": "0,5"}, {"extend_prompt": "0"}):
        r = httpx.post(base + "/v1/videos", headers=h, files={"prompt": (None, "x")} | {
            k: (None, v) for k, v in form.items()})
        assert r.status_code == 400 and r.json()["error"]["code"] == f"invalid_{next(iter(form))}", r.text
