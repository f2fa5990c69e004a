"""`cinegen render` and `cinegen backlot ...`: outputs, and one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from cinegen.cli import main
from cinegen.media import probe_video


def test_render_writes_a_video_and_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clip.mp4"
    args = ["render", "a red ball falling at sunset", "-o", str(out), "--seconds", "0.5", "--fps", "8"]
    rc = main([*args, "--size", "48x32", "--frames-dir", str(tmp_path / "frames")])
    assert rc == 0
    info = probe_video(out)
    assert (info.width, info.height) == (48, 32)
    assert len(list((tmp_path / "frames").glob("frame-*.png"))) == 4
    assert "a red ball falling, at sunset" in capsys.readouterr().out


def test_render_help_says_it_is_not_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "does not run the generative model" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["a red ball juggling torches"], "could not place 'juggling', 'torches'"),
        (["a red ball, a blue box, a green star, a white triangle"], "4 objects, at most 3"),
        (["a red ball", "--seconds", "0"], "seconds must be > 0"),
        (["a red ball", "--fps", "0"], "fps must be in 1..120"),
        (["a red ball", "--size", "33x32"], "width must be an even number"),
        (["a red ball", "--size", "big"], "--size must be WIDTHxHEIGHT"),
        (["a red ball", "--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_render_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    rc = main(["render", *extra[:1], "-o", str(tmp_path / "x.mp4"), *extra[1:]])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert not (tmp_path / "x.mp4").exists()


def test_render_missing_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "a red ball", "-o", str(tmp_path / "nope" / "x.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["render", "a red ball", "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert (
        main(["render", "a red ball", "-o", str(tmp_path / "x.mp4"), "--frames-dir", str(tmp_path / "f")])
        == 2
    )
    assert "not a directory" in capsys.readouterr().err


def test_expand_shorten_parse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backlot", "expand", "red ball falling at night"]) == 0
    assert capsys.readouterr().out.startswith("A red ball falling and bouncing on the ground")
    assert main(["backlot", "shorten", "A crimson orb plummeting at dusk."]) == 0
    assert capsys.readouterr().out.strip() == "a red ball falling, at sunset"
    assert main(["backlot", "parse", "a green star"]) == 0
    assert '"shape": "star"' in capsys.readouterr().out
    assert main(["backlot", "expand", "a blorp"]) == 2
    assert "'blorp'" in capsys.readouterr().err


def test_dataset_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    args = ["backlot", "dataset", str(out), "--clips", "3", "--seconds", "0.125", "--fps", "8"]
    rc = main([*args, "--size", "16x16", "--heldout-per-composition", "0", "--quiet"])
    assert rc == 0
    assert (out / "manifest.json").exists() and (out / "train-00000.npz").exists()
    assert "train 3" in capsys.readouterr().out
    assert main([*args, "--quiet"]) == 2  # the directory already holds a dataset
    assert "already holds a dataset" in capsys.readouterr().err
    assert main(["backlot", "dataset", str(tmp_path / "d2"), "--clips", "0", "--quiet"]) == 2
    assert "num_clips must be at least 1" in capsys.readouterr().err
