"""The held-out compositions (colour, shape, motion) that training never sees."""

from __future__ import annotations

import json
from importlib import resources

Composition = tuple[str, str, str]


def heldout_compositions() -> frozenset[Composition]:
    data = json.loads(resources.files("cinegen.backlot").joinpath("heldout.json").read_text())
    return frozenset((c, s, m) for c, s, m in data["compositions"])
