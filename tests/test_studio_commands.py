"""`cinegen storyboard shots.yaml -o reel/` end to end, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from cinegen.cli import main

SHOTS = """title: CLI board
seed: 1
fps: 24
width: 32
height: 18
shots:
  - prompt: a red ball moves left
    seconds: 0.5
  - prompt: a green star bounces
    seconds: 0.25
"""


def test_storyboard_command_writes_shots_reel_timelines_and_sheet(tmp_path: Path) -> None:
    (tmp_path / "shots.yaml").write_text(SHOTS)
    assert main(["storyboard", str(tmp_path / "shots.yaml"), "-o", str(tmp_path / "reel")]) == 0
    out = tmp_path / "reel"
    for name in ("shots/s1.mp4", "shots/s2.mp4", "reel.mp4", "storyboard.otio", "storyboard.xml",
                 "storyboard.edl", "sheet.pdf", "sheet.png", "storyboard.yaml"):
        assert (out / name).is_file(), name
    tl = otio.adapters.read_from_file(str(out / "storyboard.otio"))
    assert [c.media_reference.target_url.rsplit("/", 1)[-1] for c in tl.find_clips()] == ["s1.mp4", "s2.mp4"]
    # regenerate one shot only
    assert main(["storyboard", str(tmp_path / "shots.yaml"), "-o", str(out), "--only", "s2"]) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\nshots: []\n", "no shots"),
        ("title: x\nshots: [{prompt: a, seconds: 0}]\n", "more than 0 seconds"),
        ("title: x\nshots: [{prompt: a, camera: crane}]\n", "unknown camera 'crane'"),
    ],
)
def test_storyboard_command_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (tmp_path / "b.yaml").write_text(text)
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_storyboard_check_and_bad_generator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b.yaml").write_text(SHOTS)
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "o"), "--check"]) == 0
    assert "2 shots" in capsys.readouterr().out
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "o"), "--generator", "nope"]) == 2
