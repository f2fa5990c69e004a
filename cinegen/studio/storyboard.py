"""A storyboard: a titled sequence of shots sharing a style line, a seed and a cast of characters.

Pure data with validation and a YAML/JSON round trip. The same `Storyboard` drives the CLI
(`cinegen storyboard shots.yaml -o reel/`), the studio's `/v1/storyboards` routes and the exports.
Generating a shot is one swappable callable (`ShotGenerator`): the CLI defaults to the backlot
renderer, the studio goes through the job service, and the model pipeline can be dropped in.

A file looks like:

    title: The red ball
    style: soft studio light, 35mm
    seed: 7
    characters:
      - Rolo: a red ball
    shots:
      - prompt: Rolo rolls to the right
        seconds: 2
        camera: pan_right
      - prompt: Rolo falls
        seconds: 1.5
        transition: dissolve
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cinegen.backlot.vocab import CAMERAS
from cinegen.config import field_names, require_known
from cinegen.limits import MAX_PROMPT_CHARS, MAX_SECONDS

CAMERA_MOVES: tuple[str, ...] = tuple(CAMERAS)  # the moves the world (and the model) knows
TRANSITIONS: tuple[str, ...] = ("cut", "dissolve")  # how a shot enters from the one before it
STATUSES: tuple[str, ...] = ("draft", "queued", "in_progress", "completed", "failed", "cancelled")
EDITORIAL_FPS: tuple[int, ...] = (24, 25, 30, 48, 50, 60)  # rates SMPTE timecode (EDL, FCP7) can carry
MAX_SHOTS = 200
MAX_SHOT_SECONDS = MAX_SECONDS
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_CAMERA_WORDS = {
    "static": "locked-off static camera",
    "pan_left": "the camera pans left",
    "pan_right": "the camera pans right",
    "zoom_in": "the camera zooms in",
    "zoom_out": "the camera zooms out",
}


class StoryboardError(ValueError):
    """A storyboard that cannot be generated or exported, with the shot and field at fault."""


_NUMBER = (int, float)


def _check_types(obj: Any, kinds: dict[str, tuple[type, ...]], where: str) -> None:
    """Fields of the wrong kind (from JSON/YAML) fail here with a message, not deeper with a TypeError."""
    for name, allowed in kinds.items():
        v = getattr(obj, name)
        if v is None and type(None) in allowed:
            continue
        if isinstance(v, bool) or not isinstance(v, allowed) or (isinstance(v, float) and v != v):
            names = {float: "a number", int: "a number" if float in allowed else "a whole number",
                     str: "text",
                     type(None): "null"}
            want = " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in allowed))
            raise StoryboardError(f"{where}: {name} must be {want}, got {v!r}")


# ----------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Character:
    """Someone (or something) that appears in several shots, described once for consistency.

    `character_id` optionally links an API character (`POST /v1/videos/characters`, `char_...`):
    a shot naming the character is then rendered with its reference images (a model that takes them)."""

    name: str
    description: str = ""
    character_id: str = ""

    def __post_init__(self) -> None:
        _check_types(self, {"name": (str,), "description": (str,), "character_id": (str,)}, "character")
        if not self.name.strip():
            raise StoryboardError("a character needs a name")
        if self.character_id and not re.fullmatch(r"char_[A-Za-z0-9]{1,59}", self.character_id):
            raise StoryboardError(f"character {self.name!r}: character_id must be an API character id "
                                  f"(char_...), got {self.character_id[:70]!r}")

    @classmethod
    def parse(cls, value: Any) -> Character:
        """From `{"name": .., "description": .., "character_id": ..}` or the short form
        `"Name: description"` (`"Name: description @char_..."` links an API character)."""
        if isinstance(value, Character):
            return value
        if isinstance(value, str):  # "Name: description[ @char_...]" (a linked API character)
            linked = re.fullmatch(r"(.*?)\s*@(char_[A-Za-z0-9]{1,59})", value.strip(), re.S)
            text, cid = (linked.group(1), linked.group(2)) if linked else (value, "")
            name, _, desc = text.partition(":")
            return cls(name.strip(), desc.strip(), cid)
        if isinstance(value, dict):
            if len(value) == 1 and "name" not in value:  # YAML `- Rolo: a red ball`
                ((name, desc),) = value.items()
                return cls(str(name).strip(), str(desc or "").strip())
            unknown = set(value) - {"name", "description", "character_id"}
            if unknown:
                raise StoryboardError(f"unknown character keys: {sorted(unknown)}")
            name, desc = value.get("name", ""), value.get("description", "")
            cid = value.get("character_id", "")
            if not isinstance(name, str) or not isinstance(desc, str) or not isinstance(cid, str):
                raise StoryboardError(f"a character's name and description are text (and its character_id), "
                                      f"got {value!r}")
            return cls(name.strip(), desc.strip(), cid.strip())
        raise StoryboardError(f"a character is a 'Name: description' string or a mapping, got {value!r}")

    def to_dict(self) -> dict[str, str]:
        linked = {"character_id": self.character_id} if self.character_id else {}
        return {"name": self.name, "description": self.description, **linked}


@dataclass(frozen=True)
class Shot:
    """One shot: a prompt (or a start image), how long it runs, how the camera moves, how it enters.

    `transition` is how this shot follows the previous one; on the first shot it is ignored.
    `status`, `video_id`, `path` and `error` record the latest generation of the shot.
    """

    id: str
    prompt: str = ""
    image: str | None = None  # a start image (path, or a studio upload name) for image-to-video
    seconds: float = 2.0
    camera: str = "static"
    transition: str = "cut"
    transition_seconds: float = 0.5  # dissolve length, centred on the cut
    seed: int | None = None  # overrides the storyboard seed for this shot only
    status: str = "draft"
    video_id: str | None = None
    path: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        where = f"shot {self.id!r}"
        _check_types(self, {
            "id": (str,), "prompt": (str,), "image": (str, type(None)), "seconds": _NUMBER, "camera": (str,),
            "transition": (str,), "transition_seconds": _NUMBER, "seed": (int, type(None)), "status": (str,),
            "video_id": (str, type(None)), "path": (str, type(None)), "error": (str, type(None)),
        }, where)
        if not _ID_RE.match(self.id):
            raise StoryboardError(f"shot id must be 1-32 letters, digits, '-' or '_', got {self.id!r}")
        if not self.prompt.strip() and not self.image:
            raise StoryboardError(f"{where} needs a prompt or an image")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise StoryboardError(f"{where}: prompt is {len(self.prompt)} characters, "
                                  f"over {MAX_PROMPT_CHARS}")
        if not self.seconds > 0:
            raise StoryboardError(f"{where} is {self.seconds:g} seconds long; a shot must last more than 0 "
                                  "seconds")
        if not self.seconds <= MAX_SHOT_SECONDS:  # also refuses infinity
            raise StoryboardError(f"{where}: seconds must be at most {MAX_SHOT_SECONDS:g}, got "
                                  f"{self.seconds:g}")
        if self.camera not in CAMERA_MOVES:
            raise StoryboardError(f"{where}: unknown camera {self.camera!r}; "
                                  f"known: {', '.join(CAMERA_MOVES)}")
        if self.transition not in TRANSITIONS:
            raise StoryboardError(
                f"{where}: unknown transition {self.transition!r}; known: {', '.join(TRANSITIONS)}"
            )
        if self.seed is not None and not 0 <= self.seed < 2**31:
            raise StoryboardError(f"{where}: seed must be in [0, 2**31), got {self.seed}")
        if not 0 < self.transition_seconds <= 5:
            raise StoryboardError(f"{where}: transition_seconds must be in (0, 5], got "
                                  f"{self.transition_seconds}")
        if self.status not in STATUSES:
            raise StoryboardError(f"{where}: unknown status {self.status!r}; known: {', '.join(STATUSES)}")

    def replace(self, **changes: Any) -> Shot:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], default_id: str = "s1") -> Shot:
        if not isinstance(d, dict):
            raise StoryboardError(f"a shot is a mapping of fields, got {d!r}")
        require_known(cls, d, lambda bad: StoryboardError(
            f"shot {d.get('id', default_id)!r}: unknown keys {bad}; known: {field_names(cls)}"))
        d = dict(d)
        d["id"] = str(d.get("id") or default_id)
        if d.get("prompt") is None:
            d["prompt"] = ""
        return cls(**d)


@dataclass(frozen=True)
class Storyboard:
    """A sequence of shots with what they share: style line, seed, characters, frame rate and size.

    An empty `shots` is a valid draft (the studio saves boards as they are built); generating or
    exporting one raises `StoryboardError` through `require_shots`.
    """

    title: str = "Untitled storyboard"
    style: str = ""
    seed: int = 0
    characters: tuple[Character, ...] = ()
    shots: tuple[Shot, ...] = ()
    fps: int = 24
    width: int = 176  # the shipped model's ~16:9 size
    height: int = 96
    negative_prompt: str = ""
    model: str = ""  # the served model every shot is rendered by ("": the service's default)
    quality: str = ""  # a quality that model ships ("": its default)

    def __post_init__(self) -> None:
        _check_types(self, {"title": (str,), "style": (str,), "seed": (int,), "fps": (int,), "width": (int,),
                            "height": (int,), "negative_prompt": (str,), "model": (str,), "quality": (str,)},
                     "storyboard")
        if not self.title.strip():
            raise StoryboardError("a storyboard needs a title")
        if not 0 <= self.seed < 2**31:
            raise StoryboardError(f"seed must be an integer in [0, 2**31), got {self.seed!r}")
        if self.fps not in EDITORIAL_FPS:
            raise StoryboardError(
                f"fps must be an editorial timecode rate ({', '.join(map(str, EDITORIAL_FPS))}), got "
                f"{self.fps!r}"
            )
        for side, v in (("width", self.width), ("height", self.height)):
            if v < 16 or v > 2048 or v % 2:
                raise StoryboardError(f"{side} must be an even number in 16..2048, got {v}")
        if len(self.shots) > MAX_SHOTS:
            raise StoryboardError(f"a storyboard holds at most {MAX_SHOTS} shots, got {len(self.shots)}")
        seen: set[str] = set()
        for s in self.shots:
            if s.id in seen:
                raise StoryboardError(f"two shots share the id {s.id!r}; shot ids must be unique")
            seen.add(s.id)
            if s.seconds * self.fps < 0.5:
                raise StoryboardError(
                    f"shot {s.id!r} is {s.seconds:g} seconds long, under one frame at {self.fps} fps"
                )
        for prev, cur in zip(self.shots, self.shots[1:], strict=False):
            if cur.transition == "dissolve" and cur.transition_seconds >= min(prev.seconds, cur.seconds):
                raise StoryboardError(
                    f"shot {cur.id!r}: a {cur.transition_seconds:g} s dissolve needs both shots longer than "
                    "it "
                    f"({prev.id!r} is {prev.seconds:g} s, {cur.id!r} is {cur.seconds:g} s)"
                )

    # ----------------------------------------------------------------- queries
    @property
    def seconds(self) -> float:
        """Running time of the cut: shot lengths less the overlap of each dissolve."""
        return sum(s.seconds for s in self.shots) - sum(t for _, t in self.dissolves())

    def dissolves(self) -> list[tuple[int, float]]:
        """(index of the incoming shot, dissolve seconds) for each dissolve that applies."""
        return [(i, s.transition_seconds) for i,
                s in enumerate(self.shots) if i > 0 and s.transition == "dissolve"]

    def shot(self, shot_id: str) -> Shot:
        for s in self.shots:
            if s.id == shot_id:
                return s
        raise StoryboardError(f"no shot {shot_id!r} in this storyboard; shots: "
                              f"{', '.join(s.id for s in self.shots)}")

    def require_shots(self) -> None:
        if not self.shots:
            raise StoryboardError("the storyboard has no shots; add at least one shot before generating or "
                                  "exporting")

    def require_rendered(self) -> None:
        """Raise unless every shot has finished and its file exists (before a reel or timeline export)."""
        self.require_shots()
        waiting = [s for s in self.shots if s.status != "completed" or not s.path]
        if waiting:
            desc = ", ".join(f"{s.id} ({s.status})" for s in waiting)
            raise StoryboardError(
                f"{len(waiting)} of {len(self.shots)} shots are not finished: {desc}; "
                "generate them and wait for them to complete before exporting"
            )
        missing = [s for s in self.shots if s.path and not Path(s.path).is_file()]
        if missing:
            raise StoryboardError(f"shot {missing[0].id!r}: its video file {missing[0].path} is missing; "
                                  "regenerate it")

    def prompt_for(self, shot: Shot) -> str:
        """The full prompt sent for a shot: its own text, the camera move, the cast and the style line.

        Characters named in the shot's prompt are spelled out each time, so every shot describes
        them the same way (the cheapest consistency device a text-conditioned model has).
        """
        parts = [shot.prompt.strip().rstrip(".")] if shot.prompt.strip() else []
        cast = [c for c in self.characters if c.description and c.name.lower() in shot.prompt.lower()]
        if cast:
            parts.append("; ".join(f"{c.name} is {c.description}" for c in cast))
        if shot.camera != "static":
            parts.append(_CAMERA_WORDS[shot.camera])
        if self.style.strip():
            parts.append(self.style.strip().rstrip("."))
        return ". ".join(p for p in parts if p) + ("." if parts else "")

    def character_ids_for(self, shot: Shot) -> list[str]:
        """The API characters (`characters` on create) of the linked characters the shot's prompt names."""
        return [c.character_id for c in self.characters
                if c.character_id and c.name.lower() in shot.prompt.lower()]

    def seed_for(self, shot: Shot) -> int:
        """The shared seed, unless the shot overrides it: one seed across shots keeps looks consistent."""
        return self.seed if shot.seed is None else shot.seed

    # ----------------------------------------------------------------- edits (return new boards)
    def replace(self, **changes: Any) -> Storyboard:
        return dataclasses.replace(self, **changes)

    def with_shot(self, shot: Shot) -> Storyboard:
        """Replace the shot with the same id."""
        self.shot(shot.id)
        return self.replace(shots=tuple(shot if s.id == shot.id else s for s in self.shots))

    def reordered(self, ids: Sequence[str]) -> Storyboard:
        if sorted(ids) != sorted(s.id for s in self.shots):
            raise StoryboardError(f"a new order must list every shot id exactly once, got {list(ids)}")
        by_id = {s.id: s for s in self.shots}
        return self.replace(shots=tuple(by_id[i] for i in ids))

    def next_shot_id(self) -> str:
        used = {s.id for s in self.shots}
        n = len(self.shots) + 1
        while f"s{n}" in used:
            n += 1
        return f"s{n}"

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["characters"] = [c.to_dict() for c in self.characters]
        d["shots"] = [s.to_dict() for s in self.shots]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, d: Any) -> Storyboard:
        if not isinstance(d, dict):
            raise StoryboardError("a storyboard is a mapping with title, style, seed, characters, shots; "
                                  f"got {type(d).__name__}")
        require_known(cls, d,
                      lambda bad: StoryboardError(
                          f"unknown storyboard keys: {bad}; known: {field_names(cls)}"))
        d = dict(d)
        chars = d.pop("characters", None) or []
        shots_in = d.pop("shots", None) or []
        if not isinstance(chars, list) or not isinstance(shots_in, list):
            raise StoryboardError("characters and shots must be lists")
        shots: list[Shot] = []
        used = {str(s["id"]) for s in shots_in if isinstance(s, dict) and s.get("id")}
        n = 0
        for s in shots_in:
            sid = None
            if not (isinstance(s, dict) and s.get("id")):
                n += 1
                while f"s{n}" in used:
                    n += 1
                sid = f"s{n}"
                used.add(sid)
            shots.append(Shot.from_dict(s, default_id=sid or "s1"))
        for k in ("style", "negative_prompt", "model", "quality"):
            if d.get(k) is None:
                d[k] = ""
        if d.get("title") is None:
            d.pop("title", None)
        return cls(characters=tuple(Character.parse(c) for c in chars), shots=tuple(shots), **d)

    @classmethod
    def from_json(cls, text: str) -> Storyboard:
        return cls._from_text(text, json.loads, json.JSONDecodeError, "JSON")

    @classmethod
    def from_yaml(cls, text: str) -> Storyboard:
        return cls._from_text(text, yaml.safe_load, yaml.YAMLError, "YAML")

    @classmethod
    def _from_text(cls, text: str, load: Callable[[str], Any], syntax: type[Exception],
                   what: str) -> Storyboard:
        try:
            return cls.from_dict(load(text))
        except syntax as e:
            raise StoryboardError(f"not valid {what}: {e}") from e
        except TypeError as e:  # a field of the wrong kind reaching a constructor
            raise StoryboardError(str(e)) from e


def load_storyboard(path: str | Path) -> Storyboard:
    """Read a `.yaml`/`.yml`/`.json` storyboard file; relative image paths resolve beside the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such storyboard file: {p}")
    text = p.read_text(encoding="utf-8")
    board = Storyboard.from_json(text) if p.suffix.lower() == ".json" else Storyboard.from_yaml(text)
    shots = tuple(
        s.replace(image=str((p.parent / s.image).resolve()))
        if s.image and not Path(s.image).is_absolute() else s
        for s in board.shots
    )
    return board.replace(shots=shots)


def save_storyboard(board: Storyboard, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = board.to_json() if p.suffix.lower() == ".json" else board.to_yaml()
    tmp = p.with_name(f".{p.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p


# ----------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class ShotRequest:
    """Everything a generator needs for one shot; it writes an MP4 to `out` and returns its path."""

    shot_id: str
    prompt: str  # the full prompt (Storyboard.prompt_for)
    seconds: float
    fps: int
    width: int
    height: int
    seed: int
    camera: str
    out: Path
    image: str | None = None
    negative_prompt: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


ShotGenerator = Callable[[ShotRequest], Path]


def shot_request(board: Storyboard, shot: Shot, out: Path) -> ShotRequest:
    return ShotRequest(
        shot_id=shot.id,
        prompt=board.prompt_for(shot),
        seconds=shot.seconds,
        fps=board.fps,
        width=board.width,
        height=board.height,
        seed=board.seed_for(shot),
        camera=shot.camera,
        out=out,
        image=shot.image,
        negative_prompt=board.negative_prompt,
    )


def generate_shots(
    board: Storyboard,
    generate: ShotGenerator,
    shots_dir: str | Path,
    *,
    only: Sequence[str] | None = None,
    on_shot: Callable[[Shot], None] | None = None,
) -> Storyboard:
    """Generate every shot (or the ids in `only`) into `shots_dir/<id>.mp4`; return the updated board.

    A failing shot is recorded (`status="failed"`, `error`) and the others still run, so one bad
    prompt does not lose the rest of the reel.
    """
    board.require_shots()
    targets = set(only) if only else {s.id for s in board.shots}
    for sid in targets:
        board.shot(sid)  # unknown ids fail before any work
    out_dir = Path(shots_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for shot in board.shots:
        if shot.id not in targets:
            continue
        try:
            path = generate(shot_request(board, shot, out_dir / f"{shot.id}.mp4"))
            done = shot.replace(status="completed", path=str(Path(path).resolve()), error=None)
        except (ValueError, OSError, RuntimeError) as e:
            done = shot.replace(status="failed", path=None, error=str(e))
        board = board.with_shot(done)
        if on_shot is not None:
            on_shot(done)
    return board


# ----------------------------------------------------------------------------- a stand-in generator
def backlot_shot(req: ShotRequest) -> Path:
    """Generate a shot with the backlot renderer: a stand-in for the model, fast and deterministic.

    It reads the closed world vocabulary out of the prompt (colour + shape pairs, a motion, a
    setting) and falls back to choices drawn from the seed, so the same character description
    renders the same object in every shot. Swap in the model pipeline with the same signature.
    """
    import random

    from cinegen.backlot.render import iter_frames
    from cinegen.backlot.scene import ObjectSpec, SceneSpec
    from cinegen.backlot.vocab import COLORS, MOTIONS, SETTINGS, SHAPES
    from cinegen.media import write_video

    text = req.prompt.lower()
    rng = random.Random(req.seed)
    pairs = re.findall(rf"\b({'|'.join(COLORS)})\s+({'|'.join(SHAPES)})", text)
    motion = _first_mentioned(text, MOTIONS, prefix=True) or "still"
    objects: list[ObjectSpec] = []
    for color, shape in dict.fromkeys(pairs):  # unique, in order of mention
        objects.append(ObjectSpec(shape=shape, color=color, motion=motion if not objects else "still"))
    if not objects:
        objects.append(ObjectSpec(shape=rng.choice(SHAPES), color=rng.choice(list(COLORS)), motion=motion))
    objects = objects[:2]
    if len(objects) == 2:
        objects = [dataclasses.replace(objects[0], x=0.3), dataclasses.replace(objects[1], x=0.7)]
    setting = _first_mentioned(text, SETTINGS) or rng.choice(SETTINGS)
    scene = SceneSpec(objects=tuple(objects), setting=setting, camera=req.camera, seconds=req.seconds,
                      fps=req.fps,
                      width=req.width, height=req.height, seed=req.seed)
    frames = iter_frames(scene)
    if req.image:  # image to video: the start image (cropped to the frame) opens the shot
        import numpy as np
        from PIL import Image, ImageOps

        from cinegen.media import read_image

        first = ImageOps.fit(Image.fromarray(read_image(req.image)), (req.width, req.height))
        frames = itertools.chain([np.asarray(first, dtype=np.uint8)], itertools.islice(frames, 1, None))
    return write_video(req.out, frames, fps=req.fps)


def _first_mentioned(text: str, words: Sequence[str], prefix: bool = False) -> str | None:
    """The word of `words` that appears earliest in `text` (the shot's own words come before the style's)."""
    hits = []
    for w in words:
        m = re.search(rf"\b{w}" + ("" if prefix else r"\b"), text)
        if m:
            hits.append((m.start(), w))
    return min(hits)[1] if hits else None
