"""Scene → text: several phrasings per clip so the model learns language, not one template.

Two tiers of wording live here:

* ``TRAINING``: the synonyms and templates that training captions use ("ball"/"circle",
  "drifting left"/"sliding to the left", "at sunset"/"against a sunset sky", ...).
* ``PARAPHRASE``: synonyms that never appear in any training caption ("orb", "cube",
  "gliding leftward", "plummeting", "expanding", "at dusk", ...). Only `paraphrase_prompt` uses
  them, to measure whether the model generalises from the language it learned to new wording.

Every caption names each object's colour, shape and motion(s) (with "then" for the mid-clip
change), the spatial relation, and every non-default setting, camera and occluder. Defaults
("studio" setting, "static" camera, no pillar) may be left unsaid, which is exactly what the parser
assumes, so `parse.parse_prompt(c)` recovers the scene's meaning from any caption `c`.

`describe` gives deterministic canonical captions in a short and a detailed style; `parse.expand_prompt`
and `parse.shorten_prompt` convert between them through the parser (Sora's recaptioning idea: train on
detailed captions, expand short user prompts before sampling).
"""

from __future__ import annotations

import random
from typing import Final, Literal

from cinegen.backlot.scene import ObjectSpec, SceneSpec

Style = Literal["short", "detailed"]

MAX_CAPTION_WORDS: Final = 36  # keeps captions within MiniLM's 48-token cap (measured)

# ----------------------------------------------------------------------------- training tier
# Object noun and adjective synonyms.
TRAIN_SHAPES: Final[dict[str, tuple[str, ...]]] = {
    "ball": ("ball", "circle"),
    "box": ("box", "square"),
    "triangle": ("triangle",),
    "star": ("star",),
}
TRAIN_COLORS: Final[dict[str, tuple[str, ...]]] = {
    c: (c,) for c in ("red", "orange", "yellow", "green", "blue", "purple", "white")
}

# Motions, as a participle ("a ball moving left") and as a finite verb ("a ball moves left").
TRAIN_MOTIONS: Final[dict[str, tuple[str, ...]]] = {
    "left": (
        "moving left",
        "drifting left",
        "sliding to the left",
        "travelling left",
        "heading left",
        "going left",
    ),
    "right": (
        "moving right",
        "drifting right",
        "sliding to the right",
        "travelling right",
        "heading right",
        "going right",
    ),
    "up": ("moving up", "rising", "drifting up", "floating up", "going up"),
    "down": ("moving down", "sinking", "drifting down", "going down"),
    "fall": ("falling", "dropping", "falling and bouncing on the ground", "falling to the ground"),
    "bounce": ("bouncing", "bouncing up and down", "hopping"),
    "still": ("staying still", "standing still", "sitting still", "resting", "not moving"),
    "grow": ("growing", "getting bigger", "growing larger"),
    "shrink": ("shrinking", "getting smaller"),
}
TRAIN_MOTIONS_FINITE: Final[dict[str, tuple[str, ...]]] = {
    "left": ("moves left", "drifts left", "slides to the left", "travels left", "heads left"),
    "right": ("moves right", "drifts right", "slides to the right", "travels right", "heads right"),
    "up": ("moves up", "rises", "drifts up", "floats up"),
    "down": ("moves down", "sinks", "drifts down"),
    "fall": ("falls", "drops", "falls to the ground", "falls and bounces on the ground"),
    "bounce": ("bounces", "bounces up and down", "hops"),
    "still": ("stays still", "stands still", "sits still", "rests"),
    "grow": ("grows", "gets bigger", "grows larger"),
    "shrink": ("shrinks", "gets smaller"),
}
TRAIN_THEN: Final = ("then", "and then", "and after that")

TRAIN_RELATIONS: Final[dict[str, tuple[str, ...]]] = {
    "left_of": ("to the left of", "left of"),
    "right_of": ("to the right of", "right of"),
    "above": ("above", "over"),
    "below": ("below", "under"),
}
INVERSE_RELATION: Final = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}

TRAIN_SETTINGS: Final[dict[str, tuple[str, ...]]] = {
    "black": ("on a plain black background", "against a black background", "in plain black"),
    "studio": ("in a grey studio", "in a studio", "in a plain grey studio", "against a grey studio backdrop"),
    "sky": ("against a blue sky", "in the sky", "in a clear blue sky", "under a blue sky"),
    "grass": ("on a grass field under the sky", "on a grassy field", "on a grass field", "on the grass"),
    "night": ("at night", "under a starry night sky", "in the night", "at nighttime"),
    "sunset": ("at sunset", "against a sunset sky", "under a sunset sky"),
}
TRAIN_CAMERAS: Final[dict[str, tuple[str, ...]]] = {
    "static": ("static camera", "the camera is static", "fixed camera"),
    "pan_left": (
        "the camera pans left",
        "camera panning left",
        "panning left",
        "the camera pans to the left",
    ),
    "pan_right": (
        "the camera pans right",
        "camera panning right",
        "panning right",
        "the camera pans to the right",
    ),
    "zoom_in": ("the camera zooms in", "camera zooming in", "zooming in", "slow zoom in"),
    "zoom_out": ("the camera zooms out", "camera zooming out", "zooming out", "slow zoom out"),
}
# The pillar: as a participle after the moving object, or as a clause about the whole scene.
TRAIN_OCCLUDER: Final = (
    "passing behind a pillar",
    "passing behind a pillar and reappearing",
    "going behind a pillar",
)
TRAIN_OCCLUDER_FINITE: Final = ("passes behind a pillar", "passes behind a pillar and reappears")
TRAIN_OCCLUDER_SCENE: Final = ("with a pillar in the foreground", "behind a foreground pillar")
TRAIN_PREFIXES: Final = ("", "", "", "a video of ", "a clip of ", "footage of ", "a scene showing ")

# ----------------------------------------------------------------------------- paraphrase tier
# None of these words occur in any training caption (tests/test_backlot_captions.py checks it).
PARA_SHAPES: Final[dict[str, tuple[str, ...]]] = {
    "ball": ("orb", "sphere", "disc"),
    "box": ("cube", "block"),
    "triangle": ("pyramid", "wedge"),
    "star": ("starburst", "pentagram"),
}
PARA_COLORS: Final[dict[str, tuple[str, ...]]] = {
    "red": ("crimson", "scarlet"),
    "orange": ("tangerine", "amber"),
    "yellow": ("golden", "lemon"),
    "green": ("emerald", "lime"),
    "blue": ("azure", "cobalt"),
    "purple": ("violet", "amethyst"),
    "white": ("ivory", "snowy"),
}
PARA_MOTIONS: Final[dict[str, tuple[str, ...]]] = {
    "left": ("gliding leftward", "scooting to the left", "edging leftward"),
    "right": ("gliding rightward", "scooting to the right", "edging rightward"),
    "up": ("ascending", "climbing upward", "soaring upward"),
    "down": ("descending", "creeping downward", "gliding downward"),
    "fall": ("plummeting", "plunging", "tumbling to the floor"),
    "bounce": ("bobbing", "springing up and down", "jumping"),
    "still": ("motionless", "stationary", "immobile"),
    "grow": ("expanding", "swelling", "enlarging"),
    "shrink": ("contracting", "dwindling", "deflating"),
}
PARA_THEN: Final = ("before", "and later", "followed by")
PARA_RELATIONS: Final[dict[str, tuple[str, ...]]] = {
    "left_of": ("on the left side of", "on the left-hand side of"),
    "right_of": ("on the right side of", "on the right-hand side of"),
    "above": ("higher than", "atop"),
    "below": ("beneath", "underneath", "lower than"),
}
PARA_SETTINGS: Final[dict[str, tuple[str, ...]]] = {
    "black": ("in a dark void", "in pitch darkness"),
    "studio": ("on a soundstage", "on a neutral soundstage"),
    "sky": ("amid the clouds", "in the open heavens"),
    "grass": ("in a meadow", "on a lawn"),
    "night": ("after dark", "at midnight"),
    "sunset": ("at dusk", "at twilight", "in the evening glow"),
}
PARA_CAMERAS: Final[dict[str, tuple[str, ...]]] = {
    "static": ("locked-off shot", "tripod shot"),
    "pan_left": ("the camera sweeps left", "sweeping leftward"),
    "pan_right": ("the camera sweeps right", "sweeping rightward"),
    "zoom_in": ("the camera pushes in", "dolly in"),
    "zoom_out": ("the camera pulls back", "dolly out"),
}
PARA_OCCLUDER: Final = ("slipping behind a column", "vanishing behind a post and emerging again")

# ----------------------------------------------------------------------------- canonical
_SHORT_SETTING: Final = {
    "black": "on plain black",
    "studio": "in a grey studio",
    "sky": "in the sky",
    "grass": "on a grass field",
    "night": "at night",
    "sunset": "at sunset",
}
_SHORT_CAMERA: Final = {
    "static": "",
    "pan_left": "camera pans left",
    "pan_right": "camera pans right",
    "zoom_in": "camera zooms in",
    "zoom_out": "camera zooms out",
}
MOTION_WORDS: Final = {  # a motion in the short captions' words (the planner's phrases too)
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "fall": "falling",
    "bounce": "bouncing",
    "still": "staying still",
    "grow": "growing",
    "shrink": "shrinking",
}
_DETAILED_MOTION: Final = {
    "left": "drifting to the left",
    "right": "drifting to the right",
    "up": "floating up",
    "down": "sinking down",
    "fall": "falling and bouncing on the ground",
    "bounce": "bouncing up and down",
    "still": "staying still",
    "grow": "growing larger",
    "shrink": "getting smaller",
}
_DETAILED_SETTING: Final = {
    "black": "on a plain black background",
    "studio": "in a plain grey studio",
    "sky": "against a clear blue sky",
    "grass": "on a grass field under the sky",
    "night": "under a starry night sky",
    "sunset": "against a sunset sky",
}
_DETAILED_CAMERA: Final = {
    "static": "the camera is static",
    "pan_left": "the camera pans to the left",
    "pan_right": "the camera pans to the right",
    "zoom_in": "the camera zooms in",
    "zoom_out": "the camera zooms out",
}


# ----------------------------------------------------------------------------- building blocks
def _ordered(scene: SceneSpec, invert: bool) -> tuple[list[ObjectSpec], str | None]:
    """Objects in the order the caption names them, and the relation between the first two.

    With a relation `a kind b` the caption reads "A kind B" (or "B inverse A" when `invert`),
    followed by the remaining objects, so the parser sees the relation between its first two.
    """
    objs = list(scene.objects)
    rel = scene.relation
    if rel is None:
        return objs, None
    first, second, kind = (rel.b, rel.a, INVERSE_RELATION[rel.kind]) if invert else (rel.a, rel.b, rel.kind)
    rest = [o for i, o in enumerate(objs) if i not in (first, second)]
    return [objs[first], objs[second], *rest], kind


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _Words:
    """One tier's wording, chosen at random per caption."""

    def __init__(self, rng: random.Random, tier: Literal["train", "para"]) -> None:
        self.rng = rng
        self.tier = tier

    def pick(self, options: tuple[str, ...]) -> str:
        return self.rng.choice(options)

    def noun(self, o: ObjectSpec) -> str:
        shapes = TRAIN_SHAPES if self.tier == "train" else PARA_SHAPES
        colors = TRAIN_COLORS if self.tier == "train" else PARA_COLORS
        color = self.pick(colors[o.color])
        return f"{_article(color)} {color} {self.pick(shapes[o.shape])}"

    def motion(self, m: str, finite: bool) -> str:
        if self.tier == "para":
            return self.pick(PARA_MOTIONS[m])
        return self.pick((TRAIN_MOTIONS_FINITE if finite else TRAIN_MOTIONS)[m])

    def then(self) -> str:
        return self.pick(TRAIN_THEN if self.tier == "train" else PARA_THEN)

    def relation(self, kind: str) -> str:
        return self.pick((TRAIN_RELATIONS if self.tier == "train" else PARA_RELATIONS)[kind])

    def setting(self, s: str) -> str:
        return self.pick((TRAIN_SETTINGS if self.tier == "train" else PARA_SETTINGS)[s])

    def camera(self, c: str) -> str:
        return self.pick((TRAIN_CAMERAS if self.tier == "train" else PARA_CAMERAS)[c])

    def occluder(self, finite: bool) -> str:
        if self.tier == "para":
            return self.pick(PARA_OCCLUDER)
        return self.pick(TRAIN_OCCLUDER_FINITE if finite else TRAIN_OCCLUDER)


def _compose(scene: SceneSpec, w: _Words) -> str:
    """One random caption in tier `w`, naming everything non-default in the scene."""
    rng = w.rng
    objs, kind = _ordered(scene, invert=rng.random() < 0.3)
    # Verb form: participle ("a ball falling"), finite ("a ball falls") or relative ("that is falling").
    forms = ("participle", "participle", "finite", "relative") if kind is None else ("participle", "relative")
    form = rng.choice(forms) if w.tier == "train" else "participle"
    finite = form == "finite"
    single_occluder = scene.occluder and len(objs) == 1

    parts: list[str] = []
    for i, o in enumerate(objs):
        desc = w.noun(o)
        motion = w.motion(o.motion, finite)
        if form == "relative":
            motion = f"that is {motion}"
        desc += f" {motion}"
        if o.then is not None:
            sep = ", " if rng.random() < 0.5 else " "
            desc += f"{sep}{w.then()} {w.motion(o.then, finite)}"
        if single_occluder:
            desc += f", {'and ' if finite else ''}{w.occluder(finite)}"
        if i == 0 and kind is not None:
            desc += f", {w.relation(kind)}" if rng.random() < 0.5 else f" {w.relation(kind)}"
            parts.append(desc)
            continue
        parts.append(desc)
    # Join: the relation already links the first two objects.
    if kind is not None:
        body = f"{parts[0]} {parts[1]}"
        rest = parts[2:]
    else:
        body, rest = parts[0], parts[1:]
    for j, p in enumerate(rest):
        body += (", and " if j == len(rest) - 1 else ", ") + p

    setting = ""
    if scene.setting != "studio" or rng.random() < 0.4:
        setting = w.setting(scene.setting)
    camera = ""
    if scene.camera != "static" or rng.random() < 0.25:
        camera = w.camera(scene.camera)
    occluder_clause = ""
    if scene.occluder and not single_occluder:
        occluder_clause = rng.choice(TRAIN_OCCLUDER_SCENE) if w.tier == "train" else "with a column in front"

    prefix = rng.choice(TRAIN_PREFIXES) if w.tier == "train" else ""
    if setting and rng.random() < 0.3:
        text = f"{setting[0].upper()}{setting[1:]}, {prefix}{body}"
    else:
        text = f"{prefix}{body}" + (f", {setting}" if setting else "")
    if occluder_clause:
        text += f", {occluder_clause}"
    if camera:
        sep = rng.choice((", ", "; ", ". "))
        text += sep + (camera[0].upper() + camera[1:] if sep == ". " else camera)
    if rng.random() < 0.6:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.5:
        text += "."
    return text


def _words(text: str) -> int:
    return len(text.split())


# ----------------------------------------------------------------------------- public API
def describe(scene: SceneSpec, style: Style = "short") -> str:
    """The canonical caption of a scene, deterministic: "short" or "detailed".

    The short style names only what is not a default; the detailed one also states the setting and
    camera and uses the fuller motion phrases.
    """
    if style not in ("short", "detailed"):
        raise ValueError(f"style must be 'short' or 'detailed', got {style!r}")
    detailed = style == "detailed"
    objs, kind = _ordered(scene, invert=False)
    motions = _DETAILED_MOTION if detailed else MOTION_WORDS
    parts = []
    for o in objs:
        desc = f"{_article(o.color)} {o.color} {o.shape} {motions[o.motion]}"
        if o.then is not None:
            desc += f", {'and then' if detailed else 'then'} {motions[o.then]}"
        if scene.occluder and len(objs) == 1:
            desc += ", passing behind a pillar and reappearing" if detailed else ", passing behind a pillar"
        parts.append(desc)
    if kind is not None:
        body = f"{parts[0]}, {TRAIN_RELATIONS[kind][0]} {parts[1]}"
        rest = parts[2:]
    else:
        body, rest = parts[0], parts[1:]
    for j, p in enumerate(rest):
        body += (", and " if j == len(rest) - 1 else ", ") + p
    clauses = [body]
    if detailed:
        clauses.append(_DETAILED_SETTING[scene.setting])
        if scene.occluder and len(objs) > 1:
            clauses.append("with a pillar in the foreground")
        clauses.append(_DETAILED_CAMERA[scene.camera])
        text = ", ".join(clauses[:-1]) + "; " + clauses[-1] + "."
        return text[0].upper() + text[1:]
    if scene.setting != "studio":
        clauses.append(_SHORT_SETTING[scene.setting])
    if scene.occluder and len(objs) > 1:
        clauses.append("with a pillar in the foreground")
    if scene.camera != "static":
        clauses.append(_SHORT_CAMERA[scene.camera])
    return ", ".join(clauses)


def captions_for(scene: SceneSpec, rng: random.Random, n: int = 4) -> list[str]:
    """`n` distinct training-tier phrasings of `scene`, mixing short and detailed captions.

    The first is the canonical short or detailed caption (alternating with the rng), the rest are
    random templates and synonyms. Each stays within `MAX_CAPTION_WORDS` words where the scene
    allows; a scene too full for that gets its shortest phrasings.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    first = describe(scene, "detailed" if rng.random() < 0.5 else "short")
    if _words(first) > MAX_CAPTION_WORDS:
        first = describe(scene, "short")
    out: list[str] = [first]
    too_long: list[str] = []
    w = _Words(rng, "train")
    for _ in range(50 * n):
        if len(out) >= n:
            break
        c = _compose(scene, w)
        if c in out or c in too_long:
            continue
        (out if _words(c) <= MAX_CAPTION_WORDS else too_long).append(c)
    # A scene with everything in it (3 objects, changes, pillar, camera) may not fit: use the shortest.
    out += sorted(too_long, key=_words)[: n - len(out)]
    if len(out) < n:  # pragma: no cover - the template space is far larger than n
        raise ValueError(f"could not find {n} distinct captions for {describe(scene)!r}")
    return out


def paraphrase_prompt(scene: SceneSpec, rng: random.Random) -> str:
    """A prompt for `scene` in the paraphrase tier: wording the model never saw in training."""
    return _compose(scene, _Words(rng, "para"))

