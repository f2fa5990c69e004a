"""Prompt extension for the built-in model: a user's wording -> the caption language it learned.

Sora (DALL-E 3's recaptioning) and Wan ("prompt extend") rewrite a user's prompt into the detailed
captions their models were trained on, with a language model, because a video model follows its
own caption language far better than free wording. The built-in model's world is closed, so the
backlot's parser does that job here: it reads the training wording, the paraphrase tier and extra
spellings, and `describe` writes the scene back in the training captions' canonical words.

A prompt the parser cannot place (a word outside the backlot, two settings, ...) passes through
unchanged: the extender never guesses. What it fills in is stated: an unsaid colour is drawn from
the generation seed (so a seed still reproduces the video), an unsaid motion is "staying still".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cinegen.backlot.captions import Style, describe
from cinegen.backlot.parse import PromptError, parse_prompt
from cinegen.backlot.scene import SceneError


@dataclass(frozen=True)
class BacklotPromptExtender:
    """`extender(prompt, seed) -> prompt the model sees`; `style` is the canonical caption style."""

    style: Style = "short"

    def __post_init__(self) -> None:
        if self.style not in ("short", "detailed"):
            raise ValueError(f"style must be 'short' or 'detailed', got {self.style!r}")

    @property
    def name(self) -> str:
        """The key in PROMPT_EXTENDERS (what a saved pipeline's model_index.json records)."""
        return f"backlot-{self.style}"

    def __call__(self, prompt: str, seed: int) -> str:
        try:
            scene = parse_prompt(prompt, seed=seed)
        except (PromptError, SceneError):
            return prompt  # outside the backlot's language: the text encoder gets the user's words
        return describe(scene, self.style)


# the names model_index.json may give as "prompt_extender"
PROMPT_EXTENDERS: Final[dict[str, BacklotPromptExtender]] = {
    "backlot-short": BacklotPromptExtender("short"),
    "backlot-detailed": BacklotPromptExtender("detailed"),
}
