"""Parser: both tiers of wording, defaults, layout, and errors that name what went wrong."""

from __future__ import annotations

import dataclasses

import pytest

from cinegen.backlot.parse import (
    GROUP_RADIUS,
    LEXICON,
    SINGLE_RADIUS,
    START_GAP,
    PromptError,
    fit_apart,
    parse_prompt,
    scene_semantics,
    tokens,
)
from cinegen.backlot.scene import SceneError
from cinegen.backlot.vocab import CAMERAS, COLORS, MOTIONS, RELATIONS, SETTINGS, SHAPES


def test_lexicon_covers_the_whole_vocabulary() -> None:
    meanings = set(LEXICON.values())
    for kind, names in (
        ("shape", SHAPES),
        ("color", COLORS),
        ("motion", MOTIONS),
        ("setting", SETTINGS),
        ("camera", CAMERAS),
        ("relation", RELATIONS),
    ):
        for name in names:
            assert (kind, name) in meanings, (kind, name)


def test_simple_prompt_defaults_and_layout() -> None:
    s = parse_prompt("A red ball.")
    assert len(s.objects) == 1
    o = s.objects[0]
    assert (o.color, o.shape, o.motion, o.then) == ("red", "ball", "still", None)
    assert (s.setting, s.camera, s.relation, s.occluder) == ("studio", "static", None, False)
    assert (s.seconds, s.fps, s.width, s.height, s.seed) == (4.0, 16, 128, 128, 0)
    assert parse_prompt("A red ball.") == s  # deterministic for a seed


def test_full_prompt() -> None:
    s = parse_prompt(
        "RED circle drifting left, then FALLING -- to the left of a blue cube; at dusk, the camera pushes in",
        seconds=2,
        fps=8,
        width=64,
        height=48,
        seed=3,
    )
    sem = scene_semantics(s)
    assert sem["objects"] == [("blue", "box", "still", ""), ("red", "ball", "left", "fall")]
    assert sem["relation"] == (("red", "ball"), "left_of", ("blue", "box"))
    assert (s.setting, s.camera, s.num_frames, s.width, s.seed) == ("sunset", "zoom_in", 16, 64, 3)
    red, blue = s.objects
    assert red.x < blue.x  # the layout honours the relation


def test_vertical_relation_layout_and_occluder() -> None:
    s = parse_prompt("a yellow star above a purple triangle, behind a pillar, night")
    assert s.objects[0].y < s.objects[1].y
    assert s.occluder and s.setting == "night"


def test_missing_colour_is_drawn_from_the_seed() -> None:
    a = parse_prompt("a ball bouncing on the grass", seed=1)
    assert a.objects[0].color in COLORS and a.objects[0].color != "green"  # visible on grass
    assert a == parse_prompt("a ball bouncing on the grass", seed=1)


def test_sizes_and_speeds() -> None:
    small, big = parse_prompt("a small red ball"), parse_prompt("a big red ball")
    assert small.objects[0].size < big.objects[0].size
    assert (
        parse_prompt("a red ball moving left slowly").objects[0].speed
        < parse_prompt("a red ball moving left quickly").objects[0].speed
    )


def test_tokens_drop_stop_words_but_keep_zoom_in() -> None:
    assert tokens("In the sky, the camera zooms IN!") == ["sky", "camera", "zooms", "in"]


def test_unknown_words_are_named() -> None:
    with pytest.raises(PromptError) as e:
        parse_prompt("a red ball juggling a flaming torch")
    assert e.value.unknown_words == ("juggling", "flaming", "torch")
    assert "'juggling'" in str(e.value) and "'torch'" in str(e.value)


def test_grey_and_black_objects_are_not_guessed() -> None:
    with pytest.raises(PromptError) as e:
        parse_prompt("a black ball and a grey box")
    assert e.value.unknown_words == ("black", "grey")


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("a red ball, a blue box, a green star and a white triangle", "4 objects, at most 3"),
        ("falling", "a motion with no object"),
        ("", "no object"),
        ("a red ball at night at sunset", "contradictory settings"),
        ("a red ball, the camera pans left, zoom in", "contradictory camera"),
        ("a red ball moving left falling", "two motions"),
        ("a red ball moving left then", "no motion after it"),
        ("a red ball then falling", "must follow an object's motion"),
        ("a red ball moving left, then falling, then rising", "changes motion twice"),
        ("a red ball to the left of", "no object after it"),
        ("to the left of a red ball", "no object before it"),
        ("a red ball left of a blue box above a green star", "one spatial relation"),
        ("a red ball and a blue", "has no shape"),
        ("a red blue ball", "two colours"),
    ],
)
def test_specific_errors(prompt: str, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        parse_prompt(prompt)


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"seconds": 0}, "seconds"), ({"fps": 0}, "fps"), ({"width": 127}, "width"), ({"height": 8}, "height")],
)
def test_impossible_timing_and_sizes(kw: dict[str, float], message: str) -> None:
    with pytest.raises(SceneError, match=message):
        parse_prompt("a red ball", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prompt", "short"),
    [
        ("red ball falls", "a red ball falling"),
        ("A red ball bounces on the grass", "a red ball bouncing, on a grass field"),
        ("a green triangle rises and then falls", "a green triangle moving up, then falling"),
        ("a red ball that moves left, then stops", "a red ball moving left, then staying still"),
        ("a purple ball falling and bouncing", "a purple ball falling"),
        (
            "the red ball is to the left of the blue box",
            "a red ball staying still, to the left of a blue box staying still",
        ),
        (
            "a blue square moving to the right at sunset with the camera zooming out",
            "a blue box moving right, at sunset, camera zooms out",
        ),
        (
            "an orange orb gliding leftward behind a column at dusk",
            "an orange ball moving left, passing behind a pillar, at sunset",
        ),
    ],
)
def test_natural_prompts(prompt: str, short: str) -> None:
    from cinegen.backlot.captions import describe

    assert describe(parse_prompt(prompt)) == short


SERVED_SIZES = ((128, 128), (176, 96), (96, 176))


@pytest.mark.parametrize("words", ["", "big "])
@pytest.mark.parametrize("relation", ["to the left of", "to the right of", "above", "below"])
def test_planned_objects_never_start_overlapping(words: str, relation: str) -> None:
    """Side by side in a portrait frame or one above the other when large, the planner shrinks
    objects (never moves them) so each pair starts apart; on a square frame unsized ones keep
    GROUP_RADIUS."""
    for width, height in SERVED_SIZES:
        for seed in range(20):
            s = parse_prompt(f"a {words}red ball {relation} a {words}blue box", width=width, height=height,
                             seed=seed)
            a, b = s.objects
            apart = (((a.x - b.x) * width / height) ** 2 + (a.y - b.y) ** 2) ** 0.5
            assert apart >= START_GAP * (a.size + b.size) - 1e-3, (width, height, seed)
            if (width, height) == (128, 128) and not words:
                assert a.size == b.size == GROUP_RADIUS


def test_unsaid_radii_alone_and_beside_others() -> None:
    assert parse_prompt("a red ball", seed=1).objects[0].size == SINGLE_RADIUS
    small = parse_prompt("a small red ball", seed=1).objects[0].size
    assert small == pytest.approx(SINGLE_RADIUS * 0.7, abs=1e-4)
    assert {o.size for o in parse_prompt("a red ball left of a blue star", seed=1).objects} == {GROUP_RADIUS}


def test_fit_apart_shrinks_only_the_overlapping_pair() -> None:
    s = parse_prompt("a red ball, a green box and a blue star", seed=0)
    far = list(s.objects)
    assert fit_apart(far, 1.0) == far  # apart already: nothing changes
    close = [dataclasses.replace(far[0], x=0.5, y=0.5, size=0.2),
             dataclasses.replace(far[1], x=0.6, y=0.5, size=0.1),
             dataclasses.replace(far[2], x=0.1, y=0.9, size=0.05)]
    a, b, c = fit_apart(close, 1.0)
    assert (a.x, a.y, b.x, b.y) == (0.5, 0.5, 0.6, 0.5)  # the layout is kept
    assert a.size / b.size == pytest.approx(2.0, rel=1e-2)  # both shrink by the same factor
    assert START_GAP * (a.size + b.size) == pytest.approx(0.1, abs=2e-3)
    assert c == close[2]  # far from both: untouched
