"""The likeness gate is not fooled by how a name is written (issue #17): case, spacing,
punctuation, digits for letters, diacritics; and ordinary words that look like names pass."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cinegen.trust.consent import ConsentRegistry
from cinegen.trust.moderation import Policy, load_policy, moderate
from cinegen.trust.names import NameIndex, plain_capitals, public_figures, skeleton


@pytest.fixture(scope="module")
def policy() -> Policy:
    return dataclasses.replace(load_policy(), embedding=False)  # the likeness gate is lexical


def test_skeleton_folds_the_ways_a_name_is_written() -> None:
    forms = ["Tom Cruise", "tom cruise", "TOM  CRUISE", "Tom-Cruise", "T0m Cru1se", "Tóm Crúise",
             "tom_cruise"]
    assert {skeleton(f) for f in forms} == {"tom cruise"}
    assert skeleton("Wi11 Smith") == skeleton("Will Smith")  # 1, l and i meet at one letter
    assert skeleton("Zoë Saldaña") == skeleton("Zoe Saldana")
    assert plain_capitals("R081n W1ll14m5 and ROBIN-WILLIAMS") == "Robin Williams and Robin Williams"
    assert plain_capitals("Leonardo DiCaprio") == "Leonardo DiCaprio"


def test_name_index_finds_spaced_joined_and_spelled_names() -> None:
    index = NameIndex.of(["Tom Cruise", "Oprah"])
    for text in ("tom cruise jogging", "TomCruise jogging", "t.o.m c.r.u.i.s.e", "a video of O.p.r.a.h",
                 "tom cruise's car"):
        assert index.find(text) != [], text
    assert index.find("atom cruiser on the sea") == []


@pytest.mark.parametrize("prompt", [
    "Tom Cruise running on a beach", "tom cruise jogging", "T0m Cru1se jogging", "TOM CRUISE jogging",
    "tom   cruise jogging", "Tóm Crüise jogging", "Tom.Cruise jogging", "b3y0nc3 sings on stage",
    "taylor swift in a kitchen"])
def test_the_reported_variants_are_refused(policy: Policy, prompt: str) -> None:
    d = moderate(prompt, policy)
    assert not d.allowed and d.code == "safety.likeness", (prompt, d.message)


@pytest.mark.parametrize("prompt", ["a drake swims across a pond", "an ice cube melts on a pan",
                                    "a tiger walks through the woods", "a jack russell terrier runs",
                                    "a king charles spaniel sleeps", "a red ball bounces on grass",
                                    "4 seconds of a blue box sliding left"])
def test_ordinary_words_that_look_like_names_pass(policy: Policy, prompt: str) -> None:
    assert moderate(prompt, policy).allowed, prompt


def test_registered_performers_are_matched_the_same_way(policy: Policy, tmp_path: Path) -> None:
    registry = ConsentRegistry(tmp_path / "consent.sqlite")
    registry.register("Ada Quill", aliases=("Ada Q",))
    for prompt in ("ada quill walks", "4d4 Qu1ll walks", "ÁDA-QUILL walks"):
        d = moderate(prompt, policy, registry=registry)
        assert not d.allowed and "Ada Quill" in d.message, prompt


def test_the_list_is_a_few_hundred_unique_names() -> None:
    names = public_figures()
    assert len(names) >= 300 and len({skeleton(n) for n in names}) == len(names)
