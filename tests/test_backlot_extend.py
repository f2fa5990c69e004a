"""The backlot prompt extender: user wording -> canonical training captions, and pass-through."""

from __future__ import annotations

import pytest

from cinegen.backlot.captions import describe
from cinegen.backlot.extend import PROMPT_EXTENDERS, BacklotPromptExtender
from cinegen.backlot.parse import parse_prompt


def test_paraphrase_becomes_the_canonical_caption() -> None:
    ext = BacklotPromptExtender("short")
    assert ext("a crimson orb plummeting at dusk", seed=0) == "a red ball falling, at sunset"
    assert ext("A cobalt cube gliding leftward on a lawn; the camera sweeps left.", seed=3) == (
        "a blue box moving left, on a grass field, camera pans left"
    )


def test_detailed_style_matches_describe() -> None:
    prompt = "a golden star ascending in the open heavens"
    scene = parse_prompt(prompt, seed=1)
    assert BacklotPromptExtender("detailed")(prompt, seed=1) == describe(scene, "detailed")
    assert BacklotPromptExtender("detailed")(prompt, seed=1).startswith("A yellow star floating up")


@pytest.mark.parametrize("prompt",
                         ["a red ball in slow motion", "a dragon over a city",
                          "a red ball on grass at night"])
def test_prompts_outside_the_backlot_pass_through_unchanged(prompt: str) -> None:
    assert BacklotPromptExtender("short")(prompt, seed=0) == prompt


def test_an_unsaid_colour_comes_from_the_seed() -> None:
    ext = BacklotPromptExtender("short")
    outs = {ext("a ball bouncing", seed=s) for s in range(12)}
    assert ext("a ball bouncing", seed=5) == ext("a ball bouncing", seed=5)
    assert len(outs) > 1 and all(o.endswith(" ball bouncing") for o in outs)


def test_registry_names_and_bad_style() -> None:
    assert {k: v.name for k, v in PROMPT_EXTENDERS.items()} == {k: k for k in PROMPT_EXTENDERS}
    with pytest.raises(ValueError, match="style"):
        BacklotPromptExtender("poetic")  # type: ignore[arg-type]
