"""Dataset writer: files, licence records, the held-out split, and the reader round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cinegen.backlot.heldout import heldout_compositions
from cinegen.backlot.parse import parse_prompt, scene_semantics
from cinegen.backlot.render import render_scene
from cinegen.backlot.shards import DatasetError, iter_dataset, read_manifest, split_scenes, write_dataset
from cinegen.trust.licences import BACKLOT_LICENCE

TINY = {"seconds": 0.25, "fps": 8, "width": 32, "height": 32}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("backlot") / "ds"
    seen: list[tuple[int, int]] = []
    write_dataset(
        out,
        num_clips=10,
        seed=3,
        clips_per_shard=4,
        val_fraction=0.2,
        heldout_per_composition=1,
        progress=lambda d, t: seen.append((d, t)),
        **TINY,  # type: ignore[arg-type]
    )
    assert seen[-1] == (10 + len(heldout_compositions()), 10 + len(heldout_compositions()))
    return out


def test_files_and_manifest(dataset: Path) -> None:
    m = read_manifest(dataset)
    n_held = len(heldout_compositions())
    assert m.counts == {"train": 8, "val": 2, "test_heldout": n_held}
    assert [s.frames for s in m.shards][:3] == ["train-00000.npz", "train-00001.npz", "val-00000.npz"]
    for s in m.shards:
        assert (dataset / s.frames).exists() and (dataset / s.records).exists()
    held = json.loads((dataset / "heldout.json").read_text())
    assert {tuple(c) for c in held["compositions"]} == heldout_compositions()
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seed"] == 3 and "held-out" in manifest["split_rule"]
    with np.load(dataset / "train-00000.npz") as z:
        assert z["frames"].shape == (4, 2, 32, 32, 3) and z["frames"].dtype == np.uint8


def test_reader_round_trip(dataset: Path) -> None:
    clips = list(iter_dataset(dataset))
    assert len(clips) == 10 + len(heldout_compositions())
    assert len({c.id for c in clips}) == len(clips)
    for c in clips[:3]:
        assert c.licence == BACKLOT_LICENCE and c.licence.training_allowed
        assert len(c.captions) == 4
        assert np.array_equal(c.frames, render_scene(c.scene))  # frames re-render from the spec
        assert scene_semantics(parse_prompt(c.captions[1])) == scene_semantics(c.scene)
    frames, captions, scene, licence, *_ = clips[0]
    assert frames.shape == (2, 32, 32, 3) and captions and scene.fps == 8 and licence == BACKLOT_LICENCE
    assert all(c.paraphrase is None for c in clips if c.split == "train")
    assert all(c.paraphrase for c in clips if c.split != "train")


def test_no_heldout_composition_in_training_splits(dataset: Path) -> None:
    held = heldout_compositions()
    for c in iter_dataset(dataset):
        comps = {(o.color, o.shape, m) for o in c.scene.objects for m in o.motions}
        if c.split == "test_heldout":
            first = c.scene.objects[0]
            assert any((first.color, first.shape, m) in held for m in first.motions)
        else:
            assert not comps & held, c.id


def test_split_rule_holds_at_scale() -> None:
    """Many scenes, no rendering: training splits never hold a held-out composition."""
    held = heldout_compositions()
    seen: set[str] = set()
    for split, _, scene, _ in split_scenes(num_clips=1500, seed=0, heldout_per_composition=6):
        seen.add(split)
        comps = {(o.color, o.shape, m) for o in scene.objects for m in o.motions}
        if split == "test_heldout":
            o = scene.objects[0]
            assert any((o.color, o.shape, m) in held for m in o.motions)
        else:
            assert not comps & held
    assert seen == {"train", "val", "test_heldout"}


def test_bad_parameters(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(DatasetError, match="num_clips"):
        write_dataset(tmp_path / "a", num_clips=0, seed=0)
    with pytest.raises(DatasetError, match="val_fraction"):
        write_dataset(tmp_path / "a", num_clips=5, seed=0, val_fraction=1.0)
    with pytest.raises(ValueError, match="width"):
        write_dataset(tmp_path / "b", num_clips=1, seed=0, width=31)
    with pytest.raises(DatasetError, match="already holds"):
        write_dataset(dataset, num_clips=1, seed=0)
    with pytest.raises(DatasetError, match="no manifest"):
        read_manifest(tmp_path)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
