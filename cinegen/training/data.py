"""Training data: backlot clips rendered on the fly by a process pool, licence-checked.

Every clip is drawn from `random_scene` with the held-out compositions excluded, so the model
never sees them. Each item carries its licence record; `LicenceGate` refuses items without a
training grant before they reach a step and counts what was learned from, per source.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing as mp
import queue
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cinegen.backlot.heldout import heldout_compositions
from cinegen.backlot.motion import Track, object_track
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
    tracks: tuple[Track, ...] | None = None  # the objects' tracks where a drawn path replaced the world's


PATH_SECONDS = (0.8, 4.0)  # a drawn path is travelled in this many seconds (uniform): <= 2.5 frame widths/s


def clip_layout(scene: SceneSpec, num_frames: int, tracks: tuple[Track, ...] | None = None) -> np.ndarray:
    """The scene's exact layout at latent resolution, uint8 (x255): what the renderer conditions on."""
    from cinegen.planning.planner import plan_from_scene
    from cinegen.planning.raster import latent_layout

    n = 1 + (num_frames - 1) // 4
    lay = latent_layout(plan_from_scene(scene, tracks=tracks), 0, n, scene.width, scene.height).numpy()
    return np.round(lay * 255.0).astype(np.uint8)


def drawn_path_tracks(scene: SceneSpec, rng: random.Random) -> tuple[SceneSpec, tuple[Track, ...]]:
    """The scene with a still camera and its first object on a drawn path (a zig-zag, circle, diagonal or
    S-curve, travelled at constant speed in PATH_SECONDS, the clip a random stretch of it); the other
    objects keep the world's motion. Drawn paths move objects in any direction up to 15x faster than
    the world's sideways motions (0.07-0.18 frame widths/s; only a fall's last frames are as fast,
    straight down), which the VAE must reconstruct too."""
    from cinegen.planning.paths import PATH_KINDS, polyline_positions, random_path

    scene = dataclasses.replace(scene, camera="static")
    n = scene.num_frames
    total = max(n, round(rng.uniform(*PATH_SECONDS) * scene.fps))
    start = rng.randrange(total - n + 1)
    xy = polyline_positions(random_path(rng.choice(PATH_KINDS), rng), total)[start : start + n]  # (n, 2)
    tracks = [object_track(o, scene) for o in scene.objects]
    aspect = scene.width / scene.height
    tracks[0] = Track(x=xy[:, 0] * aspect, y=xy[:, 1], r=tracks[0].r)  # a still camera: screen = world
    return scene, tuple(tracks)


def render_clip(
    args: tuple[int, Bucket, bool] | tuple[int, Bucket, bool, bool] | tuple[int, Bucket, bool, bool, float],
) -> Clip:
    """Render one random clip (module-level so a process pool can pickle it); optionally with its layout,
    and with probability `path_share` (the fifth item) its first object on a drawn path."""
    seed, bucket, with_captions = args[:3]
    with_layout = bool(args[3]) if len(args) > 3 else False
    path_share = float(args[4]) if len(args) > 4 else 0.0  # type: ignore[misc]
    rng = random.Random(seed)
    scene = random_scene(
        rng,
        seconds=bucket.frames / 16.0,
        fps=16,
        width=bucket.width,
        height=bucket.height,
        exclude=heldout_compositions(),
    )
    tracks = None
    if path_share and rng.random() < path_share:
        scene, tracks = drawn_path_tracks(scene, rng)
    frames = render_scene(scene, tracks=tracks)
    if len(frames) != bucket.frames:  # round(seconds*fps) == frames by construction
        frames = frames[: bucket.frames]
    captions: list[str] = []
    if with_captions:
        from cinegen.backlot.captions import captions_for

        captions = captions_for(scene, rng, n=4)
    layout = clip_layout(scene, bucket.frames, tracks) if with_layout else None
    return Clip(f"backlot-{seed}", frames, captions, scene, BACKLOT_LICENCE, bucket, layout, tracks)


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
        path_share: float = 0.0,
        prefetch: int = 512,
    ) -> None:
        if not 0.0 <= path_share <= 1.0:
            raise ValueError(f"path_share must be in [0, 1], got {path_share}")
        self._rng = random.Random(seed)
        self._path_share = path_share
        self._buckets, self._weights, self._captions = buckets, weights, with_captions
        self._layout = with_layout
        self._workers = workers
        self._q: queue.Queue[Clip] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._pool = None
        if workers > 0:
            self._pool = mp.get_context("spawn").Pool(workers)
            threading.Thread(target=self._feed, daemon=True).start()

    def _jobs(self) -> Iterator[tuple[int, Bucket, bool, bool, float]]:
        while True:
            b = self._rng.choices(self._buckets, weights=self._weights)[0]
            yield (self._rng.randrange(2**62), b, self._captions, self._layout, self._path_share)

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
    path_share: float = 0.0,
    prefetch: int = 512,
) -> Iterator[Clip]:
    """An endless stream of licence-checked clips rendered by `workers` processes; a `path_share` of
    them with the first object on a drawn path (`drawn_path_tracks`)."""
    source = ClipSource(buckets, weights, seed=seed, workers=workers, with_captions=with_captions,
                        path_share=path_share, prefetch=prefetch)
    try:
        while True:
            yield source.get()
    finally:
        source.close()
