"""Exports: the reel's frame count, OTIO / FCP7 / EDL read back with their adapters, the sheet."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest
from PIL import Image

from cinegen.media import probe_video
from cinegen.studio.export import ExportError, cut_timings, export_all, write_edl
from cinegen.studio.storyboard import Shot, Storyboard, StoryboardError, backlot_shot, generate_shots

FPS = 24



@pytest.fixture(autouse=True)
def _keys_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reel is signed: keep the dev signing keys in the test's own folder."""
    monkeypatch.setenv("CINEGEN_HOME", str(tmp_path / "home"))

@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Storyboard:
    board = Storyboard(
        title="Two shots",
        style="flat",
        seed=3,
        fps=FPS,
        width=32,
        height=18,
        shots=(
            Shot("open", "a red ball moves right", seconds=0.5, camera="pan_right"),
            Shot("close", "a blue box falls", seconds=0.75),
        ),
    )
    return generate_shots(board, backlot_shot, tmp_path_factory.mktemp("shots"))


def test_cut_timings_centre_dissolves() -> None:
    b = Storyboard(shots=(Shot("a", "x", seconds=2), Shot("b", "y", seconds=2, transition="dissolve",
                                                              transition_seconds=0.5)), fps=24)
    a, c = cut_timings(b)
    assert (a.start, a.duration) == (0, 42)  # 48 frames less 6 after the cut
    assert (c.start, c.duration, c.dissolve_in) == (6, 42, 12)


def test_export_all_writes_everything_and_otio_reads_back(rendered: Storyboard, tmp_path: Path) -> None:
    ex = export_all(rendered, tmp_path)
    assert probe_video(ex.reel).num_frames == 12 + 18
    tl = otio.adapters.read_from_file(str(ex.otio))
    clips = list(tl.find_clips())
    assert [c.metadata["cinegen"]["shot_id"] for c in clips] == ["open", "close"]
    assert [c.source_range.duration.to_seconds() for c in clips] == [0.5, 0.75]
    urls = [Path(s.path or "").as_uri() for s in rendered.shots]
    assert [c.media_reference.target_url for c in clips] == urls
    assert clips[0].markers[0].name == "a red ball moves right"
    assert clips[0].metadata["cinegen"]["full_prompt"].endswith("the camera pans right. flat.")
    with Image.open(ex.sheet_png) as im:
        assert im.width == 1600
    assert ex.sheet_pdf.read_bytes()[:5] == b"%PDF-"


def test_fcp7_and_edl_parse_with_their_adapters(rendered: Storyboard, tmp_path: Path) -> None:
    ex = export_all(rendered.with_shot(rendered.shots[1].replace(transition="dissolve",
                                                                 transition_seconds=0.25)), tmp_path)
    fcp = otio.adapters.read_from_file(str(ex.fcp7), adapter_name="fcp_xml")
    clips = list(fcp.find_clips())
    urls = [Path(s.path or "").as_uri() for s in rendered.shots]
    assert [c.media_reference.target_url for c in clips] == urls
    assert any(isinstance(i, otio.schema.Transition) for i in fcp.tracks[0])
    edl = otio.adapters.read_from_file(str(ex.edl), adapter_name="cmx_3600", rate=FPS)
    assert [c.metadata["cmx_3600"]["reel"] for c in edl.find_clips()] == ["OPEN", "CLOSE"]
    assert "* LOC:" in ex.edl.read_text() and "A RED BALL MOVES RIGHT" in ex.edl.read_text()
    # the reel renders the dissolve: 12 + 18 frames less the 6 that overlap
    assert probe_video(ex.reel).num_frames == 24


def test_export_refuses_unfinished_shots_and_writes_nothing(rendered: Storyboard, tmp_path: Path) -> None:
    busy = rendered.with_shot(rendered.shots[1].replace(status="in_progress"))
    with pytest.raises(StoryboardError, match=r"1 of 2 shots are not finished: close \(in_progress\)"):
        export_all(busy, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(StoryboardError, match="no shots"):
        write_edl(Storyboard(), tmp_path / "e.edl")


def test_export_refuses_mismatched_media(rendered: Storyboard, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="32x18, the storyboard is 64x36"):
        export_all(rendered.replace(width=64, height=36), tmp_path)


def test_longer_media_is_trimmed_to_the_shot_and_kept_as_handle(rendered: Storyboard, tmp_path: Path) -> None:
    shorter = rendered.with_shot(rendered.shots[1].replace(seconds=0.5))  # retimed after generation
    ex = export_all(shorter, tmp_path)
    clip = list(otio.adapters.read_from_file(str(ex.otio)).find_clips())[1]
    assert clip.source_range.duration.to_seconds() == 0.5
    assert clip.media_reference.available_range.duration.to_seconds() == 0.75
    assert probe_video(ex.reel).num_frames == 24


def test_bundle_holds_shots_and_relative_timelines(rendered: Storyboard, tmp_path: Path) -> None:
    import zipfile

    ex = export_all(rendered, tmp_path / "out")
    with zipfile.ZipFile(ex.bundle) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "unzipped")
    root = tmp_path / "unzipped" / "Two-shots"
    assert {f"Two-shots/shots/{Path(s.path or '').name}" for s in rendered.shots} <= names
    assert {"Two-shots/storyboard.otio", "Two-shots/storyboard.xml", "Two-shots/storyboard.edl",
            "Two-shots/reel.mp4", "Two-shots/sheet.pdf"} <= names
    tl = otio.adapters.read_from_file(str(root / "storyboard.otio"))
    urls = [c.media_reference.target_url for c in tl.find_clips()]
    assert urls == [f"shots/{Path(s.path or '').name}" for s in rendered.shots]
    assert all((root / u).is_file() for u in urls)
