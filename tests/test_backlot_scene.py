"""Scene spec: validation errors, dict/JSON round trip, unknown keys, random scenes."""

from __future__ import annotations

import json
import random

import pytest

from cinegen.backlot.scene import ObjectSpec, Relation, SceneError, SceneSpec, place_objects, random_scene


def _ball(**kw: object) -> ObjectSpec:
    return ObjectSpec("ball", "red", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"objects": ()}, "1 to 3 objects, got 0"),
        ({"objects": (ObjectSpec("ball", "red"),) * 4}, "1 to 3 objects, got 4"),
        ({"setting": "moon"}, "unknown setting 'moon'"),
        ({"camera": "dolly"}, "unknown camera 'dolly'"),
        ({"fps": 0}, "fps must be in 1..120, got 0"),
        ({"seconds": 0.0}, "seconds must be > 0"),
        ({"seconds": 61.0}, "at most 60"),
        ({"width": 127}, "width must be an even number"),
        ({"height": 4096}, "height must be an even number"),
        ({"relation": Relation(0, "above", 1)}, "does not exist"),
        ({"texture": 2.0}, "texture"),
    ],
)
def test_scene_validation(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"objects": (_ball(),), **kw}
    with pytest.raises(SceneError, match=message):
        SceneSpec(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"shape": "cube"}, "unknown shape 'cube'"),
        ({"color": "black"}, "unknown color 'black'"),
        ({"motion": "spin"}, "unknown motion 'spin'"),
        ({"then": "spin"}, "unknown then 'spin'"),
        ({"size": 0.5}, "object size"),
        ({"change_at": 1.0}, "change_at"),
        ({"shade": 2.0}, "shade"),
    ],
)
def test_object_validation(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"shape": "ball", "color": "red", **kw}
    with pytest.raises(SceneError, match=message):
        ObjectSpec(**args)  # type: ignore[arg-type]


def test_relation_validation() -> None:
    with pytest.raises(SceneError, match="unknown relation"):
        Relation(0, "near", 1)
    with pytest.raises(SceneError, match="two different objects"):
        Relation(1, "above", 1)


def test_dict_and_json_round_trip() -> None:
    rng = random.Random(0)
    for _ in range(50):
        s = random_scene(rng)
        assert SceneSpec.from_dict(s.to_dict()) == s
        assert SceneSpec.from_dict(json.loads(s.to_json())) == s


def test_unknown_keys_raise() -> None:
    d = random_scene(random.Random(1)).to_dict()
    with pytest.raises(SceneError, match="unknown scene keys: \\['colour'\\]"):
        SceneSpec.from_dict({**d, "colour": "red"})
    d["objects"][0]["spin"] = 1
    with pytest.raises(SceneError, match="unknown object keys: \\['spin'\\]"):
        SceneSpec.from_dict(d)


def test_num_frames_at_least_one() -> None:
    assert SceneSpec(objects=(_ball(),), seconds=0.01, fps=8).num_frames == 1
    assert SceneSpec(objects=(_ball(),), seconds=4, fps=16).num_frames == 64


def test_placement_honours_relations() -> None:
    objs = [_ball(), ObjectSpec("box", "blue"), ObjectSpec("star", "green")]
    for seed in range(20):
        rng = random.Random(seed)
        left = place_objects(objs, Relation(2, "left_of", 0), rng)
        assert left[2].x < left[0].x
        above = place_objects(objs, Relation(1, "above", 0), rng)
        assert above[1].y < above[0].y


def test_random_scene_forced_composition_keeps_its_motion() -> None:
    for seed in range(200):
        s = random_scene(random.Random(seed), max_objects=2, only=("red", "star", "fall"))
        o = s.objects[0]
        assert (o.color, o.shape) == ("red", "star") and "fall" in o.motions
