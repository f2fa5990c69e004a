"""The backlot dataset: rendered clips, captions, scene specs and a licence record per clip.

Layout of a dataset directory::

    manifest.json                 counts, split rule, seed, parameters, shard list
    heldout.json                  the held-out compositions (a copy of cinegen/backlot/heldout.json)
    train-00000.npz               frames: uint8 (N, T, H, W, 3)
    train-00000.jsonl             one line per clip, in the same order as the frames:
                                  {id, split, captions, scene (SceneSpec.to_dict), licence, ...}
    val-00000.npz / .jsonl
    test_heldout-00000.npz / .jsonl

The split, all drawn from `seed`:

* ``train``: `num_clips - n_val` random scenes (`scene.random_scene`) that exclude every held-out
  (colour, shape, motion) composition, for any object and for either motion of a mid-clip change.
* ``val``: `n_val = round(num_clips * val_fraction)` scenes from the same distribution as train
  (held-out compositions excluded too), drawn from a different seed stream, so val measures
  in-distribution fit on unseen clips.
* ``test_heldout``: `heldout_per_composition` scenes per held-out composition, alternating
  single-object and up-to-two-object scenes, whose first object is that composition (the other
  object is never held out). It measures compositional generalisation: every colour, shape and
  motion in it was seen in training, never in this combination.

Each clip's scene comes from its own `random.Random(f"{seed}:{split}:{index}")`, so a clip is
reproducible on its own and the splits never share a seed. Every record carries training-tier
captions (`captions.captions_for`); val and test_heldout records also carry a `paraphrase` prompt,
worded in the paraphrase tier that training captions never use.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np

from cinegen.backlot.captions import captions_for, paraphrase_prompt
from cinegen.backlot.heldout import Composition, heldout_compositions
from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import SceneSpec, random_scene
from cinegen.config import unknown_keys
from cinegen.trust.licences import BACKLOT_LICENCE, LicenceRecord

FORMAT: Final = "cinegen-backlot-shards/1"
SPLITS: Final = ("train", "val", "test_heldout")
SPLIT_RULE: Final = (
    "train and val: random_scene excluding every held-out (colour, shape, motion) composition for any "
    "object and either motion; val is round(num_clips * val_fraction) clips from the same distribution "
    "with its own seed stream. test_heldout: heldout_per_composition clips per held-out composition "
    "(alternating 1 and up to 2 objects), the first object forced to that composition. Clip i of split "
    "s uses random.Random(f'{seed}:{s}:{i}')."
)


class DatasetError(ValueError):
    """A dataset that cannot be written or read (bad parameters, missing or inconsistent files)."""


@dataclass(frozen=True)
class ShardInfo:
    split: str
    frames: str  # file name of the .npz
    records: str  # file name of the .jsonl
    clips: int


@dataclass(frozen=True)
class DatasetManifest:
    seed: int
    counts: dict[str, int]
    parameters: dict[str, Any]
    shards: tuple[ShardInfo, ...]
    split_rule: str = SPLIT_RULE
    heldout_file: str = "heldout.json"
    licence: dict[str, Any] = field(default_factory=BACKLOT_LICENCE.to_dict)
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shards"] = [asdict(s) for s in self.shards]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetManifest:
        d = dict(d)
        unknown = unknown_keys(cls, d)
        if unknown:
            raise DatasetError(f"unknown manifest keys: {unknown}")
        if d.get("format") != FORMAT:
            raise DatasetError(f"manifest format {d.get('format')!r} is not {FORMAT!r}")
        d["shards"] = tuple(ShardInfo(**s) for s in d["shards"])
        return cls(**d)


class ClipRecord(NamedTuple):
    """One clip as read back. Unpacks as (frames, captions, scene, licence, id, split, paraphrase)."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    captions: list[str]
    scene: SceneSpec
    licence: LicenceRecord
    id: str
    split: str
    paraphrase: str | None = None


# ----------------------------------------------------------------------------- scenes
def _clip_rng(seed: int, split: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{split}:{index}")


def _uses_heldout(scene: SceneSpec, heldout: frozenset[Composition]) -> bool:
    return any((o.color, o.shape, m) in heldout for o in scene.objects for m in o.motions)


def _check_counts(num_clips: int, val_fraction: float, heldout_per_composition: int) -> None:
    if num_clips < 1:
        raise DatasetError(f"num_clips must be at least 1, got {num_clips}")
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if heldout_per_composition < 0:
        raise DatasetError(f"heldout_per_composition must be >= 0, got {heldout_per_composition}")


def split_scenes(
    *,
    num_clips: int,
    seed: int,
    seconds: float = 2.0,
    fps: int = 16,
    width: int = 128,
    height: int = 128,
    val_fraction: float = 0.05,
    heldout_per_composition: int = 2,
    heldout: frozenset[Composition] | None = None,
) -> Iterator[tuple[str, int, SceneSpec, random.Random]]:
    """Yield (split, index, scene, rng) for every clip, in write order, without rendering.

    The rng is the clip's own stream, positioned after drawing the scene (captions draw from it next).
    """
    _check_counts(num_clips, val_fraction, heldout_per_composition)
    held = heldout_compositions() if heldout is None else heldout
    n_val = round(num_clips * val_fraction)
    for split, count in (("train", num_clips - n_val), ("val", n_val)):
        for i in range(count):
            rng = _clip_rng(seed, split, i)
            scene = random_scene(rng, seconds=seconds, fps=fps, width=width, height=height, exclude=held)
            if _uses_heldout(scene, held):  # pragma: no cover - random_scene guarantees it
                raise AssertionError(f"{split} clip {i} contains a held-out composition: {scene.to_json()}")
            yield split, i, scene, rng
    i = 0
    for comp in sorted(held):
        for k in range(heldout_per_composition):
            rng = _clip_rng(seed, "test_heldout", i)
            scene = random_scene(rng, seconds=seconds, fps=fps, width=width, height=height, exclude=held,
                                 only=comp,
                                 max_objects=1 if k % 2 == 0 else 2)
            yield "test_heldout", i, scene, rng
            i += 1


# ----------------------------------------------------------------------------- writing
def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_shard(out: Path, name: str, frames: list[np.ndarray], records: list[dict[str, Any]]) -> None:
    tmp = out / f".{name}.tmp.npz"
    np.savez_compressed(tmp, frames=np.stack(frames))  # (N, T, H, W, 3) uint8
    os.replace(tmp, out / f"{name}.npz")
    _atomic_write_text(out / f"{name}.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def _check_output(out: Path, *, clips_per_shard: int, captions_per_clip: int) -> None:
    if clips_per_shard < 1:
        raise DatasetError(f"clips_per_shard must be at least 1, got {clips_per_shard}")
    if captions_per_clip < 1:
        raise DatasetError(f"captions_per_clip must be at least 1, got {captions_per_clip}")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} exists and is not a directory")
    if out.is_dir() and (out / "manifest.json").exists():
        raise DatasetError(f"{out} already holds a dataset (manifest.json); choose an empty directory")


def _record(split: str, index: int, scene: SceneSpec, rng: random.Random, captions_per_clip: int) -> dict[str,
                                                                                                          Any]:
    """One clip's JSONL record: id, split, captions (and a paraphrase outside train), scene, licence."""
    record: dict[str, Any] = {
        "id": f"{split}-{index:06d}",
        "split": split,
        "captions": captions_for(scene, rng, n=captions_per_clip),
        "scene": scene.to_dict(),
        "licence": BACKLOT_LICENCE.to_dict(),
    }
    if split != "train":
        record["paraphrase"] = paraphrase_prompt(scene, rng)
    return record


def write_dataset(
    out_dir: str | os.PathLike[str], *, num_clips: int, seed: int,
    seconds: float = 2.0, fps: int = 16, width: int = 128, height: int = 128,
    clips_per_shard: int = 256, val_fraction: float = 0.05, captions_per_clip: int = 4,
    heldout_per_composition: int = 2, progress: Callable[[int, int], None] | None = None,
) -> DatasetManifest:
    """Render and write a dataset (see the module docstring for layout and split).

    `num_clips` counts train + val; test_heldout adds `heldout_per_composition` clips per held-out
    composition. `progress(done, total)` is called after every clip. Returns the manifest written.
    """
    _check_counts(num_clips, val_fraction, heldout_per_composition)
    out = Path(out_dir)
    _check_output(out, clips_per_shard=clips_per_shard, captions_per_clip=captions_per_clip)
    # Check every parameter (size, fps, duration) before rendering anything.
    SceneSpec(objects=random_scene(random.Random(0)).objects, seconds=seconds, fps=fps, width=width,
              height=height)
    out.mkdir(parents=True, exist_ok=True)
    held = heldout_compositions()
    n_val = round(num_clips * val_fraction)
    total = num_clips + heldout_per_composition * len(held)

    shards: list[ShardInfo] = []
    counts = dict.fromkeys(SPLITS, 0)
    frames: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    current = None

    def flush() -> None:
        if not frames:
            return
        assert current is not None
        name = f"{current}-{sum(s.split == current for s in shards):05d}"
        _write_shard(out, name, frames, records)
        shards.append(ShardInfo(current, f"{name}.npz", f"{name}.jsonl", len(frames)))
        frames.clear()
        records.clear()

    for done, (split, index, scene, rng) in enumerate(
        split_scenes(num_clips=num_clips, seed=seed, seconds=seconds, fps=fps, width=width, height=height,
                     val_fraction=val_fraction, heldout_per_composition=heldout_per_composition,
                     heldout=held),
        start=1,
    ):
        if split != current or len(frames) >= clips_per_shard:
            flush()
            current = split
        records.append(_record(split, index, scene, rng, captions_per_clip))
        frames.append(render_scene(scene))
        counts[split] += 1
        if progress is not None:
            progress(done, total)
    flush()

    manifest = DatasetManifest(
        seed=seed,
        counts=counts,
        parameters={"num_clips": num_clips, "seconds": seconds, "fps": fps, "width": width, "height": height,
                    "clips_per_shard": clips_per_shard, "val_fraction": val_fraction, "n_val": n_val,
                    "captions_per_clip": captions_per_clip,
                    "heldout_per_composition": heldout_per_composition},
        shards=tuple(shards),
    )
    heldout_json = {"compositions": [list(c) for c in sorted(held)], "source": "cinegen/backlot/heldout.json"}
    _atomic_write_text(out / "heldout.json", json.dumps(heldout_json, indent=2) + "\n")
    _atomic_write_text(out / "manifest.json", json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    return manifest


# ----------------------------------------------------------------------------- reading
def read_manifest(data_dir: str | os.PathLike[str]) -> DatasetManifest:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise DatasetError(f"{data_dir} is not a backlot dataset: no manifest.json")
    return DatasetManifest.from_dict(json.loads(path.read_text()))


def read_shard(path: str | os.PathLike[str]) -> Iterator[ClipRecord]:
    """Clips of one shard, given its .npz or .jsonl path (the other must sit beside it)."""
    p = Path(path)
    npz, jsonl = p.with_suffix(".npz"), p.with_suffix(".jsonl")
    for f in (npz, jsonl):
        if not f.exists():
            raise DatasetError(f"shard file {f} is missing")
    lines = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    with np.load(npz) as data:
        frames = data["frames"]  # (N, T, H, W, 3)
    if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[0] != len(lines):
        raise DatasetError(
            f"shard {npz.name}: frames {frames.shape} {frames.dtype} do not match {len(lines)} records"
        )
    for clip, rec in zip(frames, lines, strict=True):
        yield ClipRecord(
            id=rec["id"],
            split=rec["split"],
            frames=clip,
            captions=list(rec["captions"]),
            scene=SceneSpec.from_dict(rec["scene"]),
            licence=LicenceRecord.from_dict(rec["licence"]),
            paraphrase=rec.get("paraphrase"),
        )


def iter_dataset(data_dir: str | os.PathLike[str], split: str | None = None) -> Iterator[ClipRecord]:
    """Every clip of a dataset (or of one split), shard by shard, in manifest order."""
    if split is not None and split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    manifest = read_manifest(data_dir)
    for shard in manifest.shards:
        if split is None or shard.split == split:
            yield from read_shard(Path(data_dir) / shard.frames)
