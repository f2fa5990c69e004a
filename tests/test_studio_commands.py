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


def test_storyboard_command_writes_shots_reel_timelines_and_sheet(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CINEGEN_HOME", str(tmp_path / "home"))  # signing keys stay in the test's folder
    (tmp_path / "shots.yaml").write_text(SHOTS)
    assert main(["storyboard", str(tmp_path / "shots.yaml"), "-o", str(tmp_path / "reel"), "--generator",
                 "backlot"]) == 0
    out = tmp_path / "reel"
    for name in ("shots/s1.mp4", "shots/s2.mp4", "reel.mp4", "storyboard.otio", "storyboard.xml",
                 "storyboard.edl", "sheet.pdf", "sheet.png", "storyboard.yaml"):
        assert (out / name).is_file(), name
    tl = otio.adapters.read_from_file(str(out / "storyboard.otio"))
    assert [c.media_reference.target_url.rsplit("/", 1)[-1] for c in tl.find_clips()] == ["s1.mp4", "s2.mp4"]
    # the reel is signed, naming the shots it was cut from
    from cinegen.trust.publish import verify_video

    c2pa = verify_video(out / "reel.mp4").to_dict()["c2pa"]
    assert c2pa["valid"] is True
    assert len(c2pa["claims"]["ingredients"]) == 2
    # regenerate one shot only
    assert main(["storyboard", str(tmp_path / "shots.yaml"), "-o", str(out), "--only", "s2", "--generator",
                 "backlot"]) == 0


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
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "o"), "--generator",
                 "backlot"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_storyboard_check_and_bad_generator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b.yaml").write_text(SHOTS)
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "o"), "--check"]) == 0
    assert "2 shots" in capsys.readouterr().out
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "o"), "--generator",
                 "nope"]) == 2


def test_storyboard_with_the_model_generator_writes_signed_shots(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The default generator is the model pipeline (here a tiny random one saved to disk)."""
    from cinegen.models.text import TextEncoder
    from cinegen.models.transformer import DIT_PRESETS, build_transformer
    from cinegen.models.vae import VAE_PRESETS, VideoVAE
    from cinegen.pipeline import CinegenPipeline
    from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
    from cinegen.trust.publish import verify_video

    model = tmp_path / "model"
    CinegenPipeline(
        BuiltinVAE(VideoVAE(VAE_PRESETS["tiny"])), build_transformer(DIT_PRESETS["tiny"]),
        MiniLMPrompts(TextEncoder()),
        sizes=[(64, 64)], window_latents=3, default_steps=2, info={"name": "tiny", "version": "test"},
    ).save_pretrained(model)
    monkeypatch.setenv("CINEGEN_HOME", str(tmp_path / "home"))
    (tmp_path / "b.yaml").write_text(SHOTS.replace("width: 32", "width: 64").replace("height: 18",
                                                                                     "height: 64"))
    assert main(["storyboard", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "reel"), "--model",
                 str(model)]) == 0
    report = verify_video(tmp_path / "reel" / "shots" / "s1.mp4")
    assert report.to_dict()["c2pa"]["valid"] is True
    # a board at a size the model does not serve fails that shot with the reason, nothing silently resized
    (tmp_path / "c.yaml").write_text(SHOTS)
    assert main(["storyboard", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "reel2"), "--model",
                 str(model)]) == 1
