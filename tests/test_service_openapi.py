"""The OpenAPI document stands alone: every `$ref` resolves inside it (clients and fuzzers read
every body), every generating route documents its body, errors are documented for the studio
too, and a 405 names the allowed methods and is a client error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cinegen.server import build_app
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = build_app(Settings(data_dir=tmp_path_factory.mktemp("oa"), moderation=False), start_workers=False)
    return app.openapi()


def refs(node: Any, path: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield path, v
            else:
                yield from refs(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from refs(v, f"{path}/{i}")


def resolves(spec: dict[str, Any], ref: str) -> bool:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    found = list(refs(spec))
    assert found, "expected some $refs (response models)"
    assert [(where, ref) for where, ref in found if not resolves(spec, ref)] == []


@pytest.mark.parametrize(("path", "fields"), [
    ("/v1/videos", {"prompt", "mode", "video_ids"}),
    ("/v1/videos/extensions", {"prompt", "seconds", "video"}),
    ("/v1/videos/edits", {"prompt", "video"}), ("/v1/storyboards", {"title", "shots"}),
])
def test_generating_bodies_are_documented(spec: dict[str, Any], path: str, fields: set[str]) -> None:
    content = spec["paths"][path]["post"]["requestBody"]["content"]
    assert fields <= set(content["application/json"]["schema"]["properties"])
    if "video" in fields:  # the SDK's upload form
        assert content["multipart/form-data"]["schema"]["properties"]["video"]["format"] == "binary"


def test_studio_routes_document_their_errors(spec: dict[str, Any]) -> None:
    for path, ops in spec["paths"].items():
        if path.startswith("/v1/storyboards"):
            for op in ops.values():
                assert {"401", "404"} <= set(op["responses"]), (path, sorted(op["responses"]))


def test_405_has_allow_and_a_client_error_type(tmp_path: Path) -> None:
    with ThreadServer(Settings(data_dir=tmp_path, moderation=False), start_workers=False) as srv:
        r = httpx.put(srv.base_url + "/v1/videos")
        assert r.status_code == 405
        allow = set(r.headers["allow"].replace(" ", "").split(","))
        assert {"GET", "POST"} <= allow <= {"GET", "HEAD", "POST"}
        err = r.json()["error"]
        assert err["code"] == "method_not_allowed" and err["type"] == "invalid_request_error"
