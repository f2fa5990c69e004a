"""`cinegen eval`: JSON out, batch reports, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import ObjectSpec, SceneSpec
from cinegen.cli import main
from cinegen.media import write_video

SCENE = SceneSpec(objects=(ObjectSpec("ball", "red", "left", x=0.7),), setting="black", seconds=1.5)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("eval") / "clip.mp4"
    write_video(p, render_scene(SCENE), SCENE.fps)
    return p


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_grade_with_a_scene_prints_json(clip: Path, tmp_path: Path, capsys) -> None:
    scene_file = tmp_path / "scene.json"
    scene_file.write_text(SCENE.to_json())
    rc, out, _ = _run(capsys, "eval", str(clip), "--scene", str(scene_file))
    assert rc == 0
    d = json.loads(out)
    assert d["passed"] is True and d["adherence"] == 1.0
    assert d["objects"][0]["detected"] == {"color": "red", "shape": "ball", "motion": "left", "then": None}
    # the wrong scene still grades (exit 0) but fails; --strict turns that into exit 1
    wrong = tmp_path / "wrong.json"
    wrong.write_text(SCENE.replace(objects=(ObjectSpec("ball", "blue", "left"),)).to_json())
    rc, out, _ = _run(capsys, "eval", str(clip), "--scene", str(wrong), "--strict")
    assert rc == 1 and json.loads(out)["passed"] is False


def test_grade_with_a_prompt(clip: Path, capsys) -> None:
    pytest.importorskip("cinegen.backlot.parse")
    rc, out, _ = _run(capsys, "eval", str(clip), "--prompt", "a red ball moving left")
    assert rc == 0
    assert json.loads(out)["checks"]["object0.motion"] is True


def test_analysis_without_prompt(clip: Path, capsys) -> None:
    rc, out, _ = _run(capsys, "eval", str(clip))
    assert rc == 0
    (obj,) = json.loads(out)["analysis"]["objects"]
    assert (obj["color"], obj["shape"], obj["motion"]) == ("red", "ball", "left")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p, clip: p.write_bytes(b"not a video at all" * 50), "cannot read"),
        (lambda p, clip: p.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 3]), "truncated MP4"),
        (lambda p, clip: p.write_bytes(b""), "empty"),
        (lambda p, clip: None, "no such video"),
    ],
    ids=["garbage", "truncated", "empty", "missing"],
)
def test_unreadable_videos_fail_with_one_line(make, message: str, clip: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.mp4"
    make(bad, clip)
    rc, out, err = _run(capsys, "eval", str(bad), "--scene", str(_scene_file(tmp_path)))
    assert rc == 2
    assert out == ""
    assert err.startswith("cinegen eval: error: ") and err.count("\n") == 1
    assert "Traceback" not in err and message in err


def _scene_file(tmp_path: Path) -> Path:
    p = tmp_path / "s.json"
    p.write_text(SCENE.to_json())
    return p


def test_bad_scene_and_prompt_errors(clip: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"objects": [{"shape": "cube", "color": "red"}]}')
    rc, _, err = _run(capsys, "eval", str(clip), "--scene", str(bad))
    assert rc == 2 and "unknown shape 'cube'" in err
    rc, _, err = _run(capsys, "eval", str(clip), "--scene", str(tmp_path / "missing.json"))
    assert rc == 2 and "--scene: cannot read" in err
    rc, _, err = _run(capsys, "eval", "--prompt", "a red ball")
    assert rc == 2 and "give a VIDEO" in err


def test_batch_report(clip: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"junk" * 100)
    rows = [
        {"video": str(clip), "scene": SCENE.to_dict(), "group": "seen"},
        {"video": str(clip), "scene": SCENE.replace(objects=(ObjectSpec("box", "red", "left"),)).to_dict(),
         "group": "heldout"},
        {"video": "broken.mp4", "scene": SCENE.to_dict(), "group": "heldout"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    rc, out, _ = _run(capsys, "eval", "--batch", str(manifest), "--out", str(tmp_path / "rep"))
    assert rc == 0 and "graded 3 clips (1 errors)" in out
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["groups"]["seen"]["attributes"]["shape"]["rate"] == 1.0
    assert rep["groups"]["heldout"]["attributes"]["shape"] == {"passed": 0, "total": 2, "rate": 0.0}
    assert rep["groups"]["all"]["attributes"]["color"]["total"] == 3
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| shape |" in md and "broken.mp4" in md
    rc, _, err = _run(capsys, "eval", "--batch", str(manifest))
    assert rc == 2 and "--out" in err
