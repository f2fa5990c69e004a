"""Training data: backlot clips rendered on the fly by a process pool, licence-checked.

Every clip is drawn from `random_scene` with the held-out compositions excluded, so the model
never sees them. Each item carries its licence record; `LicenceGate` refuses items without a
training grant before they reach a step and counts what was learned from, per source.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cinegen.backlot.heldout import heldout_compositions
from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import SceneSpec, random_scene
from cinegen.trust.licences import BACKLOT_LICENCE, LicenceRecord, require_training_grants


@dataclass(frozen=True)
class Bucket:
    """One training shape: frames per clip (1 + 4k) and pixel size."""

    frames: int
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return self.frames / 16.0


@dataclass
class Clip:
    id: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    captions: list[str]
    scene: SceneSpec
    licence: LicenceRecord
    bucket: Bucket


def render_clip(args: tuple[int, Bucket, bool]) -> Clip:
    """Render one random clip (module-level so a process pool can pickle it)."""
    seed, bucket, with_captions = args
    rng = random.Random(seed)
    scene = random_scene(
        rng,
        seconds=bucket.frames / 16.0,
        fps=16,
        width=bucket.width,
        height=bucket.height,
        exclude=heldout_compositions(),
    )
    frames = render_scene(scene)
    if len(frames) != bucket.frames:  # round(seconds*fps) == frames by construction
        frames = frames[: bucket.frames]
    captions: list[str] = []
    if with_captions:
        from cinegen.backlot.captions import captions_for

        captions = captions_for(scene, rng, n=4)
    return Clip(f"backlot-{seed}", frames, captions, scene, BACKLOT_LICENCE, bucket)


def clip_stream(
    buckets: list[Bucket],
    weights: list[float],
    *,
    seed: int,
    workers: int,
    with_captions: bool,
    prefetch: int = 512,
) -> Iterator[Clip]:
    """An endless stream of licence-checked clips rendered by `workers` processes."""
    rng = random.Random(seed)

    def jobs() -> Iterator[tuple[int, Bucket, bool]]:
        while True:
            b = rng.choices(buckets, weights=weights)[0]
            yield (rng.randrange(2**62), b, with_captions)

    if workers <= 0:
        for job in jobs():
            clip = render_clip(job)
            require_training_grants([(clip.id, clip.licence)])
            yield clip
        return
    q: queue.Queue[Clip] = queue.Queue(maxsize=prefetch)
    ctx = mp.get_context("fork")
    pool = ctx.Pool(workers)
    stop = threading.Event()

    def feed() -> None:
        for clip in pool.imap_unordered(render_clip, jobs(), chunksize=4):
            if stop.is_set():
                break
            q.put(clip)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        while True:
            clip = q.get()
            require_training_grants([(clip.id, clip.licence)])
            yield clip
    finally:
        stop.set()
        pool.terminate()
