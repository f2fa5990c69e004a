"""`cinegen serve`'s app: the service's API with the studio mounted beside it, `/` sending a
browser to the studio; the service's own app knows nothing of the studio."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cinegen.server import build_app
from cinegen.service.app import create_app
from cinegen.service.settings import Settings


def test_root_redirects_to_the_studio(tmp_path: Path) -> None:
    with TestClient(build_app(Settings(data_dir=tmp_path, auth=False), start_workers=False)) as c:
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/studio/"
        assert c.get("/studio/").status_code == 200
        assert c.get("/v1/storyboards").status_code == 200


def test_the_service_alone_has_no_studio(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path, auth=False), start_workers=False)) as c:
        assert c.get("/studio/").status_code == 404 and c.get("/v1/storyboards").status_code == 404
        assert c.get("/v1/videos").status_code == 200
        assert c.get("/nowhere").json()["error"]["code"] == "not_found"
