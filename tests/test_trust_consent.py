"""Likeness consent: registry, grants that are specific/per-use/expiring, revocation at once, CLI."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from cinegen.cli import main
from cinegen.trust.consent import ConsentError, ConsentRegistry
from cinegen.trust.moderation import Policy, load_policy, moderate


@pytest.fixture(scope="module")
def policy() -> Policy:
    return dataclasses.replace(load_policy(), embedding=False, _cache={})


@pytest.fixture
def reg(tmp_path: Path) -> ConsentRegistry:
    r = ConsentRegistry.in_data_dir(tmp_path)
    r.register("Ada Quill", aliases=("Ada Q",))
    return r


def test_registered_performer_needs_a_covering_grant(reg: ConsentRegistry, policy: Policy) -> None:
    prompt = "Ada Quill walks through a rainy market"
    d = moderate(prompt, policy, registry=reg)
    assert not d.allowed and d.code == "safety.likeness" and "no consent grant" in d.message
    g = reg.grant("Ada Quill", uses=("text-to-video",), projects=("harbour-film",),
                  expires_at=time.time() + 3600)
    assert moderate(prompt, policy, registry=reg, consent=g).allowed  # its only project is implied
    # alias, any case
    assert moderate("ada q dances", policy, registry=reg, consent=g, project="harbour-film").allowed
    d = moderate(prompt, policy, registry=reg, consent=g, project="other-film")
    assert not d.allowed and "does not cover project" in d.message
    d = moderate(prompt, policy, registry=reg, consent=g, use="video-to-video")
    assert not d.allowed and "does not cover the use" in d.message


def test_revocation_stops_the_next_job(reg: ConsentRegistry, policy: Policy) -> None:
    g = reg.grant("Ada Quill", uses=("text-to-video",), projects=("p1",), expires_at=time.time() + 3600)
    assert moderate("Ada Quill smiles", policy, registry=reg, consent=g).allowed
    reg.revoke(g.grant_id)
    d = moderate("Ada Quill smiles", policy, registry=reg, consent=g)  # the caller's copy is stale
    assert not d.allowed and "revoked" in d.message


def test_expired_grant_and_a_grant_for_someone_else(reg: ConsentRegistry, policy: Policy) -> None:
    reg.register("Bo Lantern")
    g = reg.grant("Bo Lantern", uses=("text-to-video",), projects=("p1",), expires_at=time.time() + 3600)
    d = moderate("Ada Quill and a dog", policy, registry=reg, consent=g)
    assert not d.allowed and "is for Bo Lantern" in d.message
    expired = dataclasses.replace(g, expires_at=time.time() - 1)
    assert expired.covers("Bo Lantern", "text-to-video", "p1") is not None


def test_unregistered_real_names_are_refused_by_default(reg: ConsentRegistry, policy: Policy) -> None:
    d = moderate("Emma Watson reading in a cafe", policy, registry=reg)
    assert not d.allowed and "not in the consent registry" in d.message
    relaxed = dataclasses.replace(policy, refuse_unregistered=False)
    assert moderate("Emma Watson reading in a cafe", relaxed, registry=reg).allowed


def test_registry_refuses_vague_consent(reg: ConsentRegistry) -> None:
    with pytest.raises(ConsentError, match="not registered"):
        reg.grant("Nobody", uses=("text-to-video",), projects=("p",), expires_at=time.time() + 60)
    with pytest.raises(ConsentError, match="name its projects"):
        reg.grant("Ada Quill", uses=("text-to-video",), projects=("*",), expires_at=time.time() + 60)
    with pytest.raises(ConsentError, match="uses must be"):
        reg.grant("Ada Quill", uses=("anything",), projects=("p",), expires_at=time.time() + 60)
    with pytest.raises(ConsentError, match="in the past"):
        reg.grant("Ada Quill", uses=("remix",), projects=("p",), expires_at=time.time() - 60)
    with pytest.raises(ConsentError, match="already registered"):
        reg.register("ada  quill")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = ["consent", "--data-dir", str(tmp_path)]
    assert main([*dd, "register", "Cy Marlowe"]) == 0
    assert main([*dd, "grant", "Cy Marlowe", "--use", "text-to-video", "--project", "short-1",
                 "--expires", "2999-01-01"]) == 0
    grant_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert grant_id.startswith("cg_")
    assert main(["moderate", "Cy Marlowe waves", "--data-dir", str(tmp_path), "--consent", grant_id,
                 "--terms-only"]) == 0
    assert main([*dd, "revoke", grant_id]) == 0
    assert main(["moderate", "Cy Marlowe waves", "--data-dir", str(tmp_path), "--consent", grant_id,
                 "--terms-only"]) == 1
    capsys.readouterr()
    assert main([*dd, "list"]) == 0
    assert "REVOKED" in capsys.readouterr().out
    assert main([*dd, "grant", "Cy Marlowe", "--use", "text-to-video", "--project", "x", "--expires",
                 "soon"]) == 2
