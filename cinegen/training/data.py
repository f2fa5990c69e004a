"""Training data: backlot clips rendered on the fly by a process pool, licence-checked.

Every clip is drawn from `random_scene` with the held-out compositions excluded, so the model
never sees them. Each item carries its licence record; `LicenceGate` refuses items without a
training grant before they reach a step and counts what was learned from, per source.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
    layout: np.ndarray | None = None  # (LAYOUT_CHANNELS, N, h, w) uint8: the clip's exact plan, rasterised


def clip_layout(scene: SceneSpec, num_frames: int) -> np.ndarray:
    """The scene's exact layout at latent resolution, uint8 (x255): what the renderer conditions on."""
    from cinegen.planning.planner import plan_from_scene
    from cinegen.planning.raster import latent_layout

    n = 1 + (num_frames - 1) // 4
    lay = latent_layout(plan_from_scene(scene), 0, n, scene.width, scene.height).numpy()
    return np.round(lay * 255.0).astype(np.uint8)


def render_clip(args: tuple[int, Bucket, bool] | tuple[int, Bucket, bool, bool]) -> Clip:
    """Render one random clip (module-level so a process pool can pickle it); optionally with its layout."""
    seed, bucket, with_captions = args[:3]
    with_layout = bool(args[3]) if len(args) > 3 else False
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
    layout = clip_layout(scene, bucket.frames) if with_layout else None
    return Clip(f"backlot-{seed}", frames, captions, scene, BACKLOT_LICENCE, bucket, layout)


class ClipSource:
    """Clips rendered in the background by `workers` processes, licence-checked on arrival.

    `get()` blocks for one clip; `drain(k)` returns up to k clips that are ready without waiting.
    With workers == 0 clips are rendered inline (tests, tiny runs).
    """

    def __init__(
        self,
        buckets: list[Bucket],
        weights: list[float],
        *,
        seed: int,
        workers: int,
        with_captions: bool,
        with_layout: bool = False,
        prefetch: int = 512,
    ) -> None:
        self._rng = random.Random(seed)
        self._buckets, self._weights, self._captions = buckets, weights, with_captions
        self._layout = with_layout
        self._workers = workers
        self._q: queue.Queue[Clip] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._pool = None
        if workers > 0:
            self._pool = mp.get_context("spawn").Pool(workers)
            threading.Thread(target=self._feed, daemon=True).start()

    def _jobs(self) -> Iterator[tuple[int, Bucket, bool, bool]]:
        while True:
            b = self._rng.choices(self._buckets, weights=self._weights)[0]
            yield (self._rng.randrange(2**62), b, self._captions, self._layout)

    def _feed(self) -> None:
        """Keep at most `2 * workers` renders in flight; block while the queue is full.

        (Pool.imap over an endless generator would render without bound and pile results up in
        the parent's memory, starving the training loop: measured as falling throughput.)
        """
        assert self._pool is not None
        inflight: collections.deque[Any] = collections.deque()
        jobs = self._jobs()
        while not self._stop.is_set():
            while len(inflight) < 2 * self._workers:
                inflight.append(self._pool.apply_async(render_clip, (next(jobs),)))
            clip = inflight.popleft().get()
            while not self._stop.is_set():
                try:
                    self._q.put(clip, timeout=0.5)
                    break
                except queue.Full:
                    continue

    @staticmethod
    def _checked(clip: Clip) -> Clip:
        require_training_grants([(clip.id, clip.licence)])
        return clip

    def get(self) -> Clip:
        if self._pool is None:
            return self._checked(render_clip(next(self._jobs())))
        return self._checked(self._q.get())

    def drain(self, k: int) -> list[Clip]:
        if self._pool is None:
            return [self.get() for _ in range(k)]
        out = []
        for _ in range(k):
            try:
                out.append(self._checked(self._q.get_nowait()))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.terminate()


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
    source = ClipSource(buckets, weights, seed=seed, workers=workers, with_captions=with_captions,
                        prefetch=prefetch)
    try:
        while True:
            yield source.get()
    finally:
        source.close()
