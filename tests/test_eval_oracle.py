"""The oracle grades rendered ground truth as correct and rejects wrong clips (tiny, encoded)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import ObjectSpec, Relation, SceneSpec
from cinegen.eval.oracle import Grade, analyze, grade
from cinegen.eval.validate import CORRUPTIONS, encode_roundtrip, true_clips

N_TRUE = 16


@pytest.fixture(scope="module")
def clips() -> list[tuple[SceneSpec, np.ndarray, float]]:
    return list(true_clips(N_TRUE, seed=123, seconds=(2.0,)))


@pytest.fixture(scope="module")
def graded(clips: list[tuple[SceneSpec, np.ndarray, float]]) -> list[Grade]:
    return [grade(f, fps, s) for s, f, fps in clips]


def test_true_clips_pass_every_attribute(clips, graded) -> None:
    checks = [(name, ok) for g in graded for name, ok in g.checks.items()]
    failed = [(clips[i][0].to_dict(), g.checks) for i, g in enumerate(graded) if not g.passed]
    assert len(checks) >= 3 * N_TRUE
    assert not failed, failed
    assert all(g.adherence == 1.0 for g in graded)


def test_grade_to_dict_is_json_ready(graded) -> None:
    import json

    d = graded[0].to_dict()
    json.dumps(d)
    assert set(d) >= {"passed", "adherence", "objects", "camera", "temporal", "checks", "physics"}
    assert 0.0 <= d["adherence"] <= 1.0


@pytest.mark.parametrize("name",
                         ["wrong_color", "wrong_shape", "reversed_motion", "wrong_camera", "noise", "blank"])
def test_corruptions_are_rejected(name, clips, graded) -> None:
    rng = random.Random(0)
    applicable = rejected = 0
    for (scene, frames, fps), g in list(zip(clips, graded, strict=True))[:6]:
        got = CORRUPTIONS[name](scene, frames, rng)
        if got is None:
            continue
        bad_scene, bad_frames = got
        an = g.analysis if bad_frames is frames else None
        applicable += 1
        rejected += not grade(bad_frames, fps, bad_scene, analysis=an).passed
    assert applicable > 0
    assert rejected == applicable


def test_fall_physics_matches_world_gravity() -> None:
    scene = SceneSpec(objects=(ObjectSpec("ball", "red", "fall", x=0.5, y=0.2, size=0.1),), setting="black",
                      seconds=2.0)
    frames = encode_roundtrip(render_scene(scene), scene.fps)
    g = grade(frames, 16.0, scene)
    assert g.passed, g.checks
    (p,) = g.objects[0].physics
    assert p.gravity_ratio is not None and abs(p.gravity_ratio - 1) < 0.15
    assert p.gravity_px == pytest.approx(p.gravity_fit * 128)
    assert p.timing_ok


def test_relation_and_permanence() -> None:
    objs = (ObjectSpec("box", "yellow", "still", x=0.25), ObjectSpec("star", "blue", "still", x=0.75))
    scene = SceneSpec(objects=objs, relation=Relation(0, "left_of", 1), setting="night", seconds=1.0)
    frames = render_scene(scene)
    assert grade(frames, 16.0, scene).relation_ok is True
    flipped = scene.replace(relation=Relation(0, "right_of", 1))
    assert grade(frames, 16.0, flipped).relation_ok is False
    # a ball passing behind the pillar comes out the other side
    runner = SceneSpec(objects=(ObjectSpec("ball", "green", "right", x=0.3, speed=0.14),), occluder=True,
                       setting="studio", seconds=3.0)
    g = grade(render_scene(runner), 16.0, runner)
    assert g.permanence_ok is True and g.passed, g.checks


def test_analyze_without_prompt() -> None:
    scene = SceneSpec(objects=(ObjectSpec("triangle", "orange", "left", x=0.7),), setting="sky",
                      camera="zoom_in", seconds=2.0)
    an = analyze(render_scene(scene), 16.0)
    assert an.camera.kind == "zoom_in"
    (o,) = an.objects
    assert (o.color, o.shape, o.motion.motion) == ("orange", "triangle", "left")


def test_bad_input_is_a_value_error() -> None:
    scene = SceneSpec(objects=(ObjectSpec("ball", "red"),))
    with pytest.raises(ValueError, match="uint8"):
        grade(np.zeros((4, 32, 32, 3), np.float32), 16.0, scene)
    with pytest.raises(ValueError, match="fps"):
        grade(np.zeros((4, 32, 32, 3), np.uint8), 0.0, scene)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        analyze(np.zeros((32, 32, 3), np.uint8), 16.0)
