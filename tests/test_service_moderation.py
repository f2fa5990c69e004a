"""Moderation before any job is queued: refusals answer 400 `safety.*`, create nothing, spend no
quota and are logged; allowed jobs store the decision; likeness needs a covering consent grant."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from cinegen.cli import main as cli_main
from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key, wait_status
from cinegen.service.testing import auth as _h

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    s = Settings(data_dir=tmp_path_factory.mktemp("mod"), workers=1, poll_after_ms=50, default_fps=8,
                 publish="plain")  # these tests are about the gate, not the published files
    with ThreadServer(s) as srv:
        srv.wait_ready(timeout=120)
        yield srv


def test_refusal_is_400_safety_code_creates_nothing_spends_no_quota(server: ThreadServer) -> None:
    key = make_key(server.settings, "refused", max_concurrent_jobs=1, seconds_per_day=4)
    url = f"{server.base_url}/v1/videos"
    for prompt, code in [("a graphic beheading with blood everywhere", "safety.violence"),
                         ("Tom Hanks walks through the market", "safety.likeness")]:
        for _ in range(3):  # more refusals than the quota would allow jobs: none of them counts
            r = httpx.post(url, headers=_h(key), json={"prompt": prompt, "seconds": 4})
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["code"] == code and err["type"] == "invalid_request_error" and err["param"] == "prompt"
            assert "content policy" in err["message"]
    assert httpx.get(url, headers=_h(key)).json()["data"] == []  # no job was created
    ok = httpx.post(url, headers=_h(key), json={"prompt": "a red ball bounces on grass", "seconds": 4})
    assert ok.status_code == 200, ok.text  # the whole quota (1 job, 4 s) is still there
    store = server.service.store
    row = store.get(None, ok.json()["id"])
    decision = json.loads(row["moderation"])
    assert decision["allowed"] is True and decision["checked"] is True and "violence" in decision["scores"]
    log = store.refusals(store.get(None, ok.json()["id"])["owner"])
    assert len(log) == 6 and {r["code"] for r in log} == {"safety.violence", "safety.likeness"}
    assert {r["category"] for r in log} == {"violence", "likeness"}
    assert all(r["route"] == "create" for r in log)
    assert "cinegen_moderation_refusals_total{code=\"safety.violence\"} " in httpx.get(
        f"{server.base_url}/metrics").text
    wait_status(server.base_url, key, ok.json()["id"])


def test_multipart_remix_extension_and_edit_are_moderated(server: ThreadServer) -> None:
    key = make_key(server.settings, "routes")
    base = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key),
                      json={"prompt": "a blue box", "seconds": 1})
    assert wait_status(server.base_url, key, base.json()["id"])["status"] == "completed"
    bad = "a naked woman, explicit sex"
    buf = io.BytesIO()
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(buf, format="PNG")
    r = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key), data={"prompt": bad, "seconds": "1"},
                   files={"input_reference": ("ref.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "safety.sexual"
    vid = base.json()["id"]
    for path, body in [(f"/v1/videos/{vid}/remix", {"prompt": bad}),
                       ("/v1/videos/extensions", {"prompt": bad, "seconds": "1", "video": {"id": vid}}),
                       ("/v1/videos/edits", {"prompt": bad, "video": {"id": vid}})]:
        r = httpx.post(server.base_url + path, headers=_h(key), json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "safety.sexual", (path, r.text)
    listed = httpx.get(f"{server.base_url}/v1/videos", headers=_h(key)).json()["data"]
    assert [v["id"] for v in listed] == [vid]
    routes = [r["route"] for r in server.service.store.refusals(server.service.store.get(None, vid)["owner"])]
    assert sorted(routes) == ["create", "edit", "extend", "remix"]


def test_a_skin_toned_reference_image_is_refused(server: ThreadServer) -> None:
    key = make_key(server.settings, "image")
    buf = io.BytesIO()
    Image.fromarray(np.full((128, 128, 3), (224, 172, 140), np.uint8)).save(buf, format="PNG")
    r = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key),
                   data={"prompt": "a portrait", "seconds": "1"},
                   files={"input_reference": ("ref.png", buf.getvalue(), "image/png")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "safety.sexual"
    assert r.json()["error"]["param"] == "input_reference"
    assert list(server.settings.inputs_dir.glob("*.png")) == []  # a refused upload is never written


def test_an_uploaded_source_clip_is_looked_at_too(server: ThreadServer, tmp_path: Path) -> None:
    """Generated sources were moderated when made; a user's own clip was not, so a frame of it is."""
    from cinegen.media import write_video

    key = make_key(server.settings, "clip")
    clip = write_video(tmp_path / "c.mp4", np.full((8, 128, 128, 3), (224, 172, 140), np.uint8), 8)
    r = httpx.post(f"{server.base_url}/v1/videos/edits", headers=_h(key), data={"prompt": "a portrait"},
                   files={"video": ("c.mp4", clip.read_bytes(), "video/mp4")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "safety.sexual", r.text
    assert list(server.settings.inputs_dir.glob("*.mp4")) == []  # nothing written for a refusal


def test_likeness_needs_a_covering_grant_and_revocation_stops_new_jobs(
    server: ThreadServer, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = str(server.settings.data_dir)  # the registry the service reads: <data dir>/consent.sqlite
    assert cli_main(["consent", "--data-dir", trust, "register", "Ada Quill"]) == 0
    assert cli_main(["consent", "--data-dir", trust, "grant", "Ada Quill", "--use", "text-to-video",
                     "--project", "harbour-film", "--expires", "2099-01-01"]) == 0
    grant = capsys.readouterr().out.split()[-1]
    assert grant.startswith("cg_")
    key = make_key(server.settings, "likeness")
    url = f"{server.base_url}/v1/videos"
    prompt = "Ada Quill walks through the harbour market"

    def create(**extra: object) -> httpx.Response:
        return httpx.post(url, headers=_h(key), json={"prompt": prompt, "seconds": 1, **extra})

    r = create()
    assert r.status_code == 400 and r.json()["error"]["code"] == "safety.likeness"
    assert "no consent grant" in r.json()["error"]["message"]
    r = create(consent_grant_id=grant, project="another-film")
    assert r.status_code == 400 and "does not cover project" in r.json()["error"]["message"]
    r = create(consent_grant_id="cg_0000000000000000")
    assert r.status_code == 400 and "no consent grant 'cg_0000000000000000'" in r.json()["error"]["message"]
    r = create(consent_grant_id=grant, project="harbour-film")
    assert r.status_code == 200, r.text
    stored = json.loads(server.service.store.get(None, r.json()["id"])["moderation"])
    assert stored["consent_grant_id"] == grant and stored["project"] == "harbour-film"
    assert stored["names"] == ["Ada Quill"] and stored["use"] == "text-to-video"
    assert create(consent_grant_id=grant).status_code == 200  # the grant's only project is the default
    # a remix is another use: this grant covers text-to-video only
    done = wait_status(server.base_url, key, r.json()["id"])
    assert done["status"] == "completed"
    rm = httpx.post(f"{url}/{r.json()['id']}/remix", headers=_h(key),
                    json={"prompt": prompt, "consent_grant_id": grant})
    assert rm.status_code == 400 and "does not cover the use 'remix'" in rm.json()["error"]["message"]
    assert cli_main(["consent", "--data-dir", trust, "revoke", grant]) == 0
    r = create(consent_grant_id=grant, project="harbour-film")
    assert r.status_code == 400 and "revoked" in r.json()["error"]["message"]  # at once, no restart


def test_bad_consent_fields_are_validation_errors(server: ThreadServer) -> None:
    key = make_key(server.settings, "fields")
    r = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key),
                   json={"prompt": "a ball", "consent_grant_id": "cg bad id!"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_consent_grant_id"
    r = httpx.post(f"{server.base_url}/v1/videos", headers=_h(key), json={"prompt": "a ball", "project": ""})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_project"


def test_custom_policy_and_explicit_opt_out(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cinegen.service.app import create_app

    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nembedding: {enabled: false}\ncategories:\n  spoilers:\n"
                      "    code: safety.spoilers\n    message: no spoilers\n    deny_terms: [ending]\n")
    s = Settings(data_dir=tmp_path / "a", auth=False, moderation_policy=str(policy))
    with TestClient(create_app(s, start_workers=False)) as c:
        r = c.post("/v1/videos", json={"prompt": "the ending of the film"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "safety.spoilers"
        assert c.post("/v1/videos", json={"prompt": "a red ball"}).status_code == 200
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncategories: {x: {threshold: 3}}\n")
    with pytest.raises(ValueError, match="threshold"):
        create_app(Settings(data_dir=tmp_path / "b", moderation_policy=str(bad)), start_workers=False)
    off = Settings.from_env(tmp_path / "c", auth=False, moderation=False)
    with TestClient(create_app(off, start_workers=False)) as c:
        r = c.post("/v1/videos", json={"prompt": "a graphic beheading with blood everywhere"})
        assert r.status_code == 200
        row = c.app.state.service.store.get(None, r.json()["id"])  # type: ignore[attr-defined]
        assert json.loads(row["moderation"])["checked"] is False
    assert Settings().moderation is True and Settings().publish == "trust"


def test_embed_batcher_coalesces_concurrent_prompts_and_shares_errors() -> None:
    import threading

    from cinegen.service.moderation import EmbedBatcher

    class SlowPolicy:
        def __init__(self) -> None:
            self.batches: list[list[str]] = []

        def embed(self, texts: list[str]) -> None:
            time.sleep(0.05)
            if "boom" in texts:
                raise RuntimeError("encoder failed")
            self.batches.append(list(texts))

    policy = SlowPolicy()
    batcher = EmbedBatcher(policy, max_batch=8)
    threads = [threading.Thread(target=batcher.embed, args=(f"p{i}",)) for i in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert sorted(t for b in policy.batches for t in b) == sorted(f"p{i}" for i in range(20))  # each once
    assert len(policy.batches) < 20 and max(len(b) for b in policy.batches) <= 8
    with pytest.raises(RuntimeError, match="encoder failed"):
        batcher.embed("boom")
    batcher.embed("after")  # the lead was handed back: the batcher still works
    assert policy.batches[-1] == ["after"]
