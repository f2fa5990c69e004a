"""Captions: every vocabulary item is named, captions vary, the paraphrase tier stays unseen."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from cinegen.backlot import captions as C
from cinegen.backlot.captions import (
    MAX_CAPTION_WORDS,
    captions_for,
    describe,
    paraphrase_prompt,
)
from cinegen.backlot.parse import expand_prompt, parse_prompt, scene_semantics, shorten_prompt
from cinegen.backlot.scene import ObjectSpec, Relation, SceneSpec, random_scene
from cinegen.backlot.vocab import CAMERAS, COLORS, MOTIONS, SETTINGS, SHAPES


def _scene(*objs: ObjectSpec, **kw: object) -> SceneSpec:
    return SceneSpec(objects=objs, **kw)  # type: ignore[arg-type]


def _vocab_scenes() -> list[SceneSpec]:
    """Scenes that between them hold every shape, colour, motion, change, setting, camera, relation."""
    scenes = [_scene(ObjectSpec(s, c, m)) for c, s, m in itertools.product(COLORS, SHAPES, MOTIONS)]
    scenes += [_scene(ObjectSpec("ball", "red", m, then=t)) for m, t in itertools.permutations(MOTIONS, 2)]
    scenes += [
        _scene(ObjectSpec("star", "white"), setting=s, camera=c)
        for s, c in itertools.product(SETTINGS, CAMERAS)
    ]
    objs = (ObjectSpec("ball", "red", "left"), ObjectSpec("box", "blue", "fall"), ObjectSpec("star", "green"))
    for kind in ("left_of", "right_of", "above", "below"):
        for a, b in itertools.permutations(range(3), 2):
            scenes.append(_scene(*objs, relation=Relation(a, kind, b)))
            scenes.append(_scene(*objs[:2], relation=Relation(a % 2, kind, 1 - a % 2)))
    scenes.append(_scene(ObjectSpec("triangle", "purple", "right"), occluder=True))
    scenes.append(
        _scene(ObjectSpec("triangle", "purple", "right", then="still"), occluder=True, setting="night")
    )
    scenes.append(_scene(*objs, occluder=True, camera="zoom_out"))
    return scenes


def test_every_vocabulary_item_round_trips_through_every_caption() -> None:
    rng = random.Random(0)
    for scene in _vocab_scenes():
        want = scene_semantics(scene)
        texts = [*captions_for(scene, rng, n=4), paraphrase_prompt(scene, rng)]
        texts += [describe(scene, "short"), describe(scene, "detailed")]
        for text in texts:
            assert scene_semantics(parse_prompt(text)) == want, text


def test_random_scenes_round_trip_and_stay_short() -> None:
    rng = random.Random(1)
    for _ in range(300):
        scene = random_scene(rng)
        caps = captions_for(scene, rng, n=5)
        assert len(set(caps)) == 5
        for c in caps:
            assert len(c.split()) <= MAX_CAPTION_WORDS, c
            assert scene_semantics(parse_prompt(c)) == scene_semantics(scene), c


def test_captions_mix_styles_and_mention_the_change() -> None:
    scene = _scene(ObjectSpec("ball", "red", "left", then="fall"), setting="sunset", camera="pan_right")
    caps = captions_for(scene, random.Random(3), n=8)
    assert len({len(c.split()) for c in caps}) > 3  # short and detailed
    assert all(re.search(r"\bthen\b|after that", c) for c in caps)
    assert describe(scene) == "a red ball moving left, then falling, at sunset, camera pans right"
    assert describe(scene, "detailed") == (
        "A red ball drifting to the left, and then falling and bouncing on the ground, "
        "against a sunset sky; the camera pans to the right."
    )


def test_captions_are_deterministic_for_a_seed() -> None:
    scene = random_scene(random.Random(7))
    assert captions_for(scene, random.Random(4)) == captions_for(scene, random.Random(4))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_paraphrase_words_never_appear_in_training_captions() -> None:
    rng = random.Random(5)
    seen: set[str] = set()
    for scene in _vocab_scenes():
        for c in captions_for(scene, rng, n=6):
            seen |= _words(c)
    for _ in range(400):
        for c in captions_for(random_scene(rng), rng, n=4):
            seen |= _words(c)
    tables = [C.PARA_SHAPES, C.PARA_COLORS, C.PARA_MOTIONS, C.PARA_RELATIONS, C.PARA_SETTINGS, C.PARA_CAMERAS]
    phrases = [p for t in tables for ps in t.values() for p in ps] + list(C.PARA_THEN) + list(C.PARA_OCCLUDER)
    for p in phrases:
        assert _words(p) - seen, f"paraphrase {p!r} uses only training words"
    for t in (C.PARA_SHAPES, C.PARA_COLORS):
        for ps in t.values():
            assert not _words(" ".join(ps)) & seen


def test_expand_and_shorten() -> None:
    assert expand_prompt("red ball falling at night") == (
        "A red ball falling and bouncing on the ground, under a starry night sky; the camera is static."
    )
    assert shorten_prompt(expand_prompt("a blue star left of a green box, zoom in")) == (
        "a blue star staying still, to the left of a green box staying still, camera zooms in"
    )


def test_describe_rejects_unknown_style() -> None:
    with pytest.raises(ValueError, match="style"):
        describe(_scene(ObjectSpec("ball", "red")), "long")  # type: ignore[arg-type]


def test_a_scene_with_everything_still_gets_captions() -> None:
    objs = tuple(
        ObjectSpec(s, c, m, then=t)
        for s, c, m, t in (
            ("ball", "red", "left", "fall"),
            ("box", "blue", "up", "still"),
            ("star", "white", "grow", "shrink"),
        )
    )
    scene = _scene(*objs, relation=Relation(2, "above", 0), occluder=True, setting="grass", camera="zoom_out")
    caps = captions_for(scene, random.Random(0), n=6)
    assert len(set(caps)) == 6
    for c in caps:
        assert scene_semantics(parse_prompt(c)) == scene_semantics(scene), c
