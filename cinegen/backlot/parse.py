"""Text → scene: parse a prompt in the backlot's language back into a `SceneSpec`.

The parser accepts both caption tiers (training and paraphrase, see `captions.py`), a few extra
spellings, stop words, punctuation and any case. It works in three steps:

1. normalise: lower-case, drop punctuation and stop words ("a", "the", "on", ...);
2. match: greedy longest phrases from one lexicon into tags (colour, shape, motion, then,
   relation, setting, camera, occluder, size, speed); every token left over is an unknown word;
3. interpret: a shape makes an object with the colour before it; a motion belongs to the last
   object ("then" makes it the mid-clip change); a relation links the object before it to the
   object after it.

Anything it cannot place raises `PromptError`, naming the words or the problem. Unsaid things get
defaults: setting "studio", camera "static", motion "still", and a colour drawn from `seed`.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cinegen.backlot import captions as C
from cinegen.backlot.scene import ObjectSpec, Relation, SceneSpec, _visible, place_objects
from cinegen.backlot.vocab import COLORS, MAX_OBJECTS, SHAPES


class PromptError(ValueError):
    """A prompt the backlot cannot turn into a scene; `unknown_words` lists the words it could not place."""

    def __init__(self, message: str, unknown_words: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.unknown_words = unknown_words


# ----------------------------------------------------------------------------- normalising
STOP_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "on",
        "at",
        "is",
        "are",
        "its",
        "it",
        "with",
        "and",
        "against",
        "while",
        "as",
        "there",
        "this",
        "video",
        "clip",
        "footage",
        "scene",
        "showing",
        "shows",
        "show",
    ]
)
# Ignored when left over, but kept for matching ("left of" is a relation, "left" alone is not).
SOFT_WORDS: Final = frozenset({"of", "that", "which", "across"})
# "in" is a stop word except after these ("zoom in", "push in").
_KEEP_IN_AFTER: Final = frozenset(
    {"zoom", "zooms", "zooming", "push", "pushes", "pushing", "dolly", "dollies"}
)
# Words that only make sense around a pillar; accepted when the prompt names one.
_OCCLUDER_FILLERS: Final = frozenset(
    [
        "behind",
        "passing",
        "passes",
        "pass",
        "going",
        "goes",
        "reappearing",
        "reappears",
        "reappear",
        "foreground",
        "front",
        "emerging",
        "emerges",
        "again",
        "slipping",
        "slips",
        "vanishing",
        "vanishes",
        "coming",
        "comes",
        "back",
        "out",
        "other",
        "side",
        "through",
    ]
)


def tokens(text: str) -> list[str]:
    """Lower-case words with stop words removed: the form both prompts and lexicon phrases take."""
    raw = re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("’", ""))
    out: list[str] = []
    for i, t in enumerate(raw):
        if t in STOP_WORDS:
            continue
        if t == "in" and (i == 0 or raw[i - 1] not in _KEEP_IN_AFTER):
            continue
        out.append(t)
    return out


# ----------------------------------------------------------------------------- lexicon
@dataclass(frozen=True)
class Tag:
    kind: str  # color, shape, motion, then, relation, setting, camera, occluder, size, speed
    value: str
    words: str  # the prompt words it came from, for error messages


# Spellings beyond the two caption tiers (captions.TRAIN_* / PARA_*), by tag kind and value.
MOTION_VERBS: Final = (
    "moving", "moves", "move", "drifting", "drifts", "drift", "sliding", "slides", "slide", "travelling",
    "traveling", "travels", "travel", "heading", "heads", "head", "going", "goes", "go", "gliding", "glides",
    "glide", "scooting", "scoots", "edging", "edges", "creeping", "creeps", "rolling", "rolls", "roll",
    "floating", "floats", "float",
)  # "<verb> <direction>" is a motion
DIRECTIONS: Final = {
    "left": ("left", "leftward", "leftwards"), "right": ("right", "rightward", "rightwards"),
    "up": ("up", "upward", "upwards"), "down": ("down", "downward", "downwards"),
}
EXTRA_MOTIONS: Final = {
    "up": ("rise", "rises", "rising", "ascend", "ascends"),
    "down": ("sink", "sinks", "descend", "descends"),
    "fall": ("fall", "drop", "plummets", "plunges", "falling down", "falls down", "drops down",
             "falling and bouncing", "falls and bounces"),
    "bounce": ("bounce", "bouncy", "bobs", "jumps", "hop", "bouncing around"),
    "still": ("still", "stay still", "stays put", "staying put", "stationary", "not moving at all", "stop",
              "stops",
              "stopping", "halts", "halting", "comes to rest", "coming to rest"),
    "grow": ("grow", "expands", "swells", "getting larger", "gets larger"),
    "shrink": ("shrink", "contracts", "dwindles", "getting tinier", "shrinking down"),
}
EXTRA_RELATIONS: Final = {
    "left_of": ("on the left of", "to the left side of"),
    "right_of": ("on the right of", "to the right side of"),
    "above": ("up above",), "below": ("down below",),
}
EXTRA_SETTINGS: Final = {
    "black": ("black background", "black backdrop", "plain black background", "darkness", "void"),
    "studio": ("studio", "grey background", "gray background", "grey backdrop", "gray backdrop",
               "gray studio",
               "plain gray studio", "soundstage"),
    "sky": ("sky", "blue sky", "clear sky", "clouds", "under sky", "under blue sky", "under clear blue sky"),
    "grass": ("grass", "grass field", "grassy field", "field", "meadow", "lawn",
              "grass field under blue sky"),
    "night": ("night", "night sky", "starry night", "nighttime", "midnight"),
    "sunset": ("sunset", "dusk", "twilight", "sunset sky"),
}
STATIC_CAMERA: Final = ("static camera", "camera static", "fixed camera", "camera fixed", "static shot",
                        "locked off camera")


def _camera_phrases() -> dict[str, tuple[str, ...]]:
    """Camera moves spelled with or without "camera": pans, zooms, pushes, dollies, pulls."""
    cam: dict[str, list[str]] = {"static": list(STATIC_CAMERA)}
    for subject in ("", "camera "):
        for side in ("left", "right"):
            for verb in ("pan", "pans", "panning", "sweeps", "sweeping", "pan to", "pans to", "panning to"):
                for d in (side, f"{side}ward"):
                    cam.setdefault(f"pan_{side}", []).append(f"{subject}{verb} {d}")
        for verb in ("zoom", "zooms", "zooming", "push", "pushes", "pushing", "dolly", "dollies"):
            cam.setdefault("zoom_in", []).append(f"{subject}{verb} in")
        for verb in ("zoom", "zooms", "zooming", "dolly", "dollies"):
            cam.setdefault("zoom_out", []).append(f"{subject}{verb} out")
        for verb in ("pull", "pulls", "pulling"):
            cam["zoom_out"] += [f"{subject}{verb} back", f"{subject}{verb} out"]
    return {k: tuple(v) for k, v in cam.items()}


def _build_lexicon() -> dict[tuple[str, ...], tuple[str, str]]:
    """Every phrase the parser knows -> (tag kind, value): both caption tiers and the extras above.
    A phrase with two meanings, or one made only of stop words, is a bug: it raises."""
    entries: list[tuple[str, str, str]] = []

    def add(kind: str, *tables: Mapping[str, tuple[str, ...] | str]) -> None:
        for table in tables:
            for value, phrases in table.items():
                for p in (phrases,) if isinstance(phrases, str) else phrases:
                    if p:
                        entries.append((p, kind, value))

    add("shape", C.TRAIN_SHAPES, C.PARA_SHAPES)
    add("color", C.TRAIN_COLORS, C.PARA_COLORS)
    add("motion", C.TRAIN_MOTIONS, C.TRAIN_MOTIONS_FINITE, C.PARA_MOTIONS, C.MOTION_WORDS,
        C._DETAILED_MOTION)
    add("motion",
        {m: tuple(f"{v} {d}" for v in MOTION_VERBS for d in dirs) for m, dirs in DIRECTIONS.items()})
    add("motion", EXTRA_MOTIONS)
    add("then", {"then": (*C.TRAIN_THEN, *C.PARA_THEN, "afterwards", "and afterwards", "after which")})
    add("relation", C.TRAIN_RELATIONS, C.PARA_RELATIONS, EXTRA_RELATIONS)
    add("setting", C.TRAIN_SETTINGS, C.PARA_SETTINGS, C._SHORT_SETTING, C._DETAILED_SETTING, EXTRA_SETTINGS)
    add("camera", C.TRAIN_CAMERAS, C.PARA_CAMERAS, C._DETAILED_CAMERA,
        {k: v for k, v in C._SHORT_CAMERA.items() if v})
    add("camera", _camera_phrases())
    add("occluder",
        {"pillar": (*C.TRAIN_OCCLUDER, *C.TRAIN_OCCLUDER_FINITE, *C.TRAIN_OCCLUDER_SCENE, *C.PARA_OCCLUDER)})
    add("occluder", {"pillar": ("pillar", "column", "post", "column front")})
    add("size", {"small": ("small", "little", "tiny"), "large": ("big", "large", "huge")})
    add("speed", {"slow": ("slow", "slowly"), "fast": ("fast", "quickly", "rapidly", "swiftly", "quick")})

    lexicon: dict[tuple[str, ...], tuple[str, str]] = {}
    for phrase, kind, value in entries:
        key = tuple(tokens(phrase))
        if not key:
            raise AssertionError(f"lexicon phrase {phrase!r} is all stop words")
        old = lexicon.get(key)
        if old is not None and old != (kind, value):
            raise AssertionError(f"lexicon phrase {phrase!r} means both {old} and {(kind, value)}")
        lexicon[key] = (kind, value)
    return lexicon


LEXICON: Final = _build_lexicon()
_MAX_PHRASE: Final = max(len(k) for k in LEXICON)


def tag(text: str) -> tuple[list[Tag], list[str]]:
    """Greedy longest-phrase tagging. Returns (tags, unknown words)."""
    toks = tokens(text)
    tags: list[Tag] = []
    unknown: list[str] = []
    i = 0
    while i < len(toks):
        for n in range(min(_MAX_PHRASE, len(toks) - i), 0, -1):
            hit = LEXICON.get(tuple(toks[i : i + n]))
            if hit is not None:
                tags.append(Tag(hit[0], hit[1], " ".join(toks[i : i + n])))
                i += n
                break
        else:
            if toks[i] not in SOFT_WORDS:
                unknown.append(toks[i])
            i += 1
    if any(t.kind == "occluder" for t in tags):
        unknown = [u for u in unknown if u not in _OCCLUDER_FILLERS]
    return tags, unknown


# ----------------------------------------------------------------------------- interpreting
_SIZE = {"small": 0.7, "large": 1.35}
# an unsaid size: the radius (frame heights) a parsed object gets, alone or beside others
SINGLE_RADIUS = 0.125  # near the top of the world's single-object range (docs/decisions.md, session 18)
GROUP_RADIUS = 0.11  # the top of the world's two-object range: shapes read (docs/decisions.md, session 18)
START_GAP = 1.15  # objects start at least this many times the sum of their radii apart (centre to centre)
_SPEED = {"slow": 0.07, "fast": 0.18}


@dataclass
class _Obj:
    color: str | None
    shape: str
    size: str | None = None
    motion: str | None = None
    then: str | None = None
    speed: str | None = None

    def name(self) -> str:
        return f"{self.color or ''} {self.shape}".strip()


def parse_prompt(
    text: str,
    *,
    seconds: float = 4.0,
    fps: int = 16,
    width: int = 128,
    height: int = 128,
    seed: int = 0,
) -> SceneSpec:
    """Turn a prompt such as "a red ball moving left, then falling, at sunset" into a scene.

    Raises `PromptError` naming the words it could not place or what is wrong (too many
    objects, a motion with no object, two settings, ...), and `SceneError` for bad timing or size.
    """
    tags, unknown = tag(text)
    if unknown:
        words = tuple(dict.fromkeys(unknown))
        shown = ", ".join(repr(w) for w in words)
        raise PromptError(
            f"could not place {shown} in the prompt; the backlot knows shapes ({', '.join(SHAPES)}), "
            f"colours ({', '.join(COLORS)}), motions (moving left/right/up/down, falling, bouncing, "
            "staying still, growing, shrinking, 'then' for a change), relations (left of, right of, "
            "above, below), settings (plain black, studio, sky, grass field, night, sunset), camera "
            "moves (static, pan left/right, zoom in/out) and a pillar",
            unknown_words=words,
        )
    reading = _Reading()
    for t in tags:
        getattr(reading, f"on_{t.kind}")(t)
    reading.finish()
    return reading.scene(seconds=seconds, fps=fps, width=width, height=height, seed=seed)


@dataclass
class _Reading:
    """The interpreter's state while it reads tags left to right (step 3 of the module docstring):
    words waiting for their shape, the objects so far, and the scene-wide choices."""

    objs: list[_Obj] = field(default_factory=list)
    pending_color: Tag | None = None
    pending_size: str | None = None
    pending_motion: Tag | None = None
    pending_speed: str | None = None
    pending_rel: tuple[int, Tag] | None = None
    relation: Relation | None = None
    then_after: int | None = None  # index of the object whose next motion is its change
    setting: Tag | None = None
    camera: Tag | None = None
    occluder: bool = False

    def on_color(self, t: Tag) -> None:
        if self.pending_color is not None and self.pending_color.value != t.value:
            raise PromptError(f"two colours for one object: {self.pending_color.words!r} and {t.words!r}")
        self.pending_color = t

    def on_size(self, t: Tag) -> None:
        self.pending_size = t.value

    def on_shape(self, t: Tag) -> None:
        if self.then_after is not None:
            raise PromptError(f"'then' after the {self.objs[self.then_after].name()} needs a motion, got "
                              f"{t.words!r}")
        obj = _Obj(self.pending_color.value if self.pending_color else None, t.value, self.pending_size)
        if self.pending_motion is not None:
            obj.motion = self.pending_motion.value
        obj.speed = self.pending_speed
        self.objs.append(obj)
        if self.pending_rel is not None:
            a, rt = self.pending_rel
            self.relation = Relation(a, rt.value, len(self.objs) - 1)
            self.pending_rel = None
        self.pending_color, self.pending_size = None, None
        self.pending_motion, self.pending_speed = None, None

    def on_motion(self, t: Tag) -> None:
        if self.pending_color is not None:
            raise PromptError(f"colour {self.pending_color.words!r} has no shape after it (ball, box, "
                              "triangle, star)")
        if self.then_after is not None:
            o = self.objs[self.then_after]
            if o.then is not None:
                raise PromptError(f"the {o.name()} changes motion twice; a clip allows one 'then'")
            if t.value != o.motion:
                o.then = t.value
            self.then_after = None
        elif not self.objs:
            if self.pending_motion is not None and self.pending_motion.value != t.value:
                raise PromptError(f"two motions before any object: {self.pending_motion.words!r} and "
                                  f"{t.words!r}")
            self.pending_motion = t
        else:
            o = self.objs[-1]
            if o.motion is None:
                o.motion = t.value
            elif o.motion != t.value or o.then is not None:
                raise PromptError(
                    f"the {o.name()} has two motions ({o.motion!r} and {t.value!r}); "
                    "write 'then' between them for a change of motion"
                )

    def on_then(self, t: Tag) -> None:
        if not self.objs or self.objs[-1].motion is None:
            raise PromptError(
                f"{t.words!r} must follow an object's motion, as in 'a red ball moving left, then falling'"
            )
        self.then_after = len(self.objs) - 1

    def on_relation(self, t: Tag) -> None:
        if not self.objs:
            raise PromptError(f"relation {t.words!r} has no object before it")
        if self.relation is not None or self.pending_rel is not None:
            raise PromptError("a scene holds one spatial relation; found more than one")
        self.pending_rel = (len(self.objs) - 1, t)

    def on_setting(self, t: Tag) -> None:
        if self.setting is not None and self.setting.value != t.value:
            raise PromptError(f"contradictory settings: {self.setting.words!r} and {t.words!r}")
        self.setting = t

    def on_camera(self, t: Tag) -> None:
        if self.camera is not None and self.camera.value != t.value:
            raise PromptError(f"contradictory camera moves: {self.camera.words!r} and {t.words!r}")
        self.camera = t

    def on_occluder(self, t: Tag) -> None:
        self.occluder = True

    def on_speed(self, t: Tag) -> None:
        if self.objs:
            self.objs[-1].speed = t.value
        else:
            self.pending_speed = t.value

    def finish(self) -> None:
        """Refuse what was left waiting: a colour without a shape, a dangling motion, 'then' or relation."""
        if self.pending_color is not None:
            raise PromptError(f"colour {self.pending_color.words!r} has no shape after it (ball, box, "
                              "triangle, star)")
        if self.pending_motion is not None:
            raise PromptError(f"a motion with no object: {self.pending_motion.words!r}")
        if self.then_after is not None:
            raise PromptError(f"'then' after the {self.objs[self.then_after].name()} has no motion after it")
        if self.pending_rel is not None:
            raise PromptError(f"relation {self.pending_rel[1].words!r} has no object after it")
        if not self.objs:
            raise PromptError(f"no object in the prompt; name a shape: {', '.join(SHAPES)}")
        if len(self.objs) > MAX_OBJECTS:
            raise PromptError(f"{len(self.objs)} objects, at most {MAX_OBJECTS}")

    def scene(self, *, seconds: float, fps: int, width: int, height: int, seed: int) -> SceneSpec:
        """Build the scene: defaults, then layout by the same rule random scenes use."""
        rng = random.Random(seed)
        setting_name = self.setting.value if self.setting else "studio"
        used = {(o.color, o.shape) for o in self.objs if o.color}
        specs = []
        for o in self.objs:
            color = o.color
            if color is None:  # an unsaid colour: a seeded one that shows against the setting
                choices = [c for c in COLORS if _visible(c, setting_name) and (c, o.shape) not in used]
                color = rng.choice(choices)
                used.add((color, o.shape))
            base = SINGLE_RADIUS if len(self.objs) == 1 else GROUP_RADIUS
            specs.append(ObjectSpec(shape=o.shape, color=color, motion=o.motion or "still", then=o.then,
                                    size=round(base * _SIZE.get(o.size or "", 1.0), 4),
                                    speed=_SPEED.get(o.speed or "", 0.12)))
        placed = fit_apart(place_objects(specs, self.relation, rng), width / height)
        return SceneSpec(objects=tuple(placed), setting=setting_name,
                         camera=self.camera.value if self.camera else "static",
                         relation=self.relation, occluder=self.occluder, seconds=seconds, fps=fps,
                         width=width,
                         height=height, seed=seed)


def fit_apart(objects: list[ObjectSpec], aspect: float) -> list[ObjectSpec]:
    """Shrink objects that would start overlapping (a "large" pair one above the other, side by side
    in a portrait frame): each pair starts at least START_GAP x the sum of its radii apart. The
    layout is kept; only radii shrink, never below the world's 0.02. `aspect` is width / height."""
    out = list(objects)
    for i in range(len(out)):
        for j in range(i + 1, len(out)):
            a, b = out[i], out[j]
            apart = ((a.x - b.x) * aspect) ** 2 + (a.y - b.y) ** 2  # frame heights, squared
            need = START_GAP * (a.size + b.size)
            if apart < need**2:
                f = apart**0.5 / need
                out[i] = dataclasses.replace(a, size=round(max(0.02, a.size * f), 4))
                out[j] = dataclasses.replace(b, size=round(max(0.02, b.size * f), 4))
    return out


def scene_semantics(scene: SceneSpec) -> dict[str, Any]:
    """What a caption says about a scene, independent of object order, layout and timing.

    Objects as a sorted list of (colour, shape, motion, then); the relation by object identity,
    with right_of/below turned into left_of/above; setting, camera and occluder.
    """
    rel = None
    if scene.relation is not None:
        a, b = scene.objects[scene.relation.a], scene.objects[scene.relation.b]
        kind = scene.relation.kind
        if kind in ("right_of", "below"):
            a, b, kind = b, a, C.INVERSE_RELATION[kind]
        rel = ((a.color, a.shape), kind, (b.color, b.shape))
    return {
        "objects": sorted((o.color, o.shape, o.motion, o.then or "") for o in scene.objects),
        "relation": rel,
        "setting": scene.setting,
        "camera": scene.camera,
        "occluder": scene.occluder,
    }


def expand_prompt(text: str) -> str:
    """Short prompt → detailed caption (parse, then describe in the detailed style)."""
    return C.describe(parse_prompt(text), "detailed")


def shorten_prompt(text: str) -> str:
    """Any prompt in the backlot's language → its short canonical caption."""
    return C.describe(parse_prompt(text), "short")
