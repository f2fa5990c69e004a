"""Plan -> layout channels at latent resolution: the renderer's extra input.

Each object is rasterised as its silhouette (the backlot's shape at the box's size) with soft
coverage on a grid 4x finer than the latent grid, pooled to latent cells, and averaged over the
pixel frames each latent frame stands for (latent 0 is frame 0; latent k is frames 4k-3..4k, the
causal VAE's layout), so a latent frame also sees where its object moved within it. Channels:
    0      occupancy (how much of the cell some object covers)
    1..4   shape one-hot (ball, box, triangle, star) times that object's coverage
    5..11  colour one-hot (the backlot's seven colours) times that object's coverage
    12, 13 the camera: 0.5 + 0.5 sin(2 pi X / P) and the same of Y, where (X, Y) is the world point
           (frame heights) each cell shows under the plan's pan and zoom, so the background's motion
           is drawn where it happens, as the objects' is (a pan slides the stripes, a zoom spreads them)
    14..17 the view relative to the window's first frame, constant over the frame: its pan ahead and
           behind (frame heights of that first view) and its scale up and down (first zoom / this
           zoom - 1), each / POSITION_RANGE. A model with world positions (models/world_rope.py)
           reads these into its tokens' positions instead of taking them as input channels.
    18..21 sub-frame timing: the occupancy (channel 0) of each of the TEMPORAL_DOWN pixel frames the
           latent frame stands for, in order (latent 0, one frame, repeats it), where channel 0 has
           only their mean: a fall's last latent before the ground holds the object high in one
           frame and on the ground in the next, which the mean smears into one box between them.
           A world-positions model trained with them takes them as inputs after channels 0..13.
Objects lower in the frame are composited over higher ones, as the renderer draws them. All zeros
means "no plan": text-only generation and plan dropout in training. Channels only ever grow at the
end: a model trained with fewer takes the first ones it knows (models/velocity.py).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from cinegen.backlot.render import shape_sdf
from cinegen.backlot.vocab import COLORS, SHAPES
from cinegen.models.world_rope import POSITION_CHANNELS, POSITION_OFFSET, POSITION_RANGE
from cinegen.planning.plan import ShotPlan

OBJECT_CHANNELS = 1 + len(SHAPES) + len(COLORS)  # 12
CAMERA_CHANNELS = 2
LAYOUT_CHANNELS = OBJECT_CHANNELS + CAMERA_CHANNELS  # 14: the rasterised channels, a transformer's input
TIMING_CHANNELS = 4  # one per pixel frame of a latent frame (TEMPORAL_DOWN)
PLAN_CHANNELS = LAYOUT_CHANNELS + POSITION_CHANNELS + TIMING_CHANNELS  # 22: what `latent_layout` gives
CAMERA_PERIOD = 0.375  # frame heights per stripe of the camera channels: 6 latent cells at zoom 1
SPATIAL_DOWN = 8  # the VAE's spatial factor
TEMPORAL_DOWN = 4  # the VAE's temporal factor
assert LAYOUT_CHANNELS == POSITION_OFFSET and TIMING_CHANNELS == TEMPORAL_DOWN  # the contracts above
_SUPER = 4  # coverage samples per latent cell side

_COLOR_INDEX = {c: i for i, c in enumerate(COLORS)}
_SHAPE_INDEX = {s: i for i, s in enumerate(SHAPES)}


def frame_layout(plan: ShotPlan, frame: int, width: int, height: int) -> np.ndarray:
    """Layout of one pixel frame: (LAYOUT_CHANNELS, height // 8, width // 8) float32 in [0, 1]."""
    h, w = height // SPATIAL_DOWN, width // SPATIAL_DOWN
    out = np.zeros((LAYOUT_CHANNELS, h, w), np.float32)
    frame = min(max(frame, 0), plan.num_frames - 1)
    step = SPATIAL_DOWN / _SUPER  # pixels between samples
    xs = (np.arange(w * _SUPER, dtype=np.float32) + 0.5) * step  # sample centres, pixels
    ys = (np.arange(h * _SUPER, dtype=np.float32) + 0.5) * step
    out[OBJECT_CHANNELS:] = camera_channels(plan, frame, width, height)
    order = sorted(range(len(plan.objects)), key=lambda k: plan.objects[k].boxes[frame].cy)
    for k in order:
        o = plan.objects[k]
        b = o.boxes[frame]
        px, py, pr = b.cx * width, b.cy * height, b.size * height
        d = shape_sdf(o.shape, xs[None, :] - px, ys[:, None] - py, pr)  # (H*, W*) pixels, < 0 inside
        alpha = np.clip(0.5 - d / step, 0.0, 1.0)
        cov = alpha.reshape(h, _SUPER, w, _SUPER).mean(axis=(1, 3)).astype(np.float32)  # (h, w)
        if not cov.any():
            continue
        feat = np.zeros(OBJECT_CHANNELS, np.float32)
        feat[0] = 1.0
        feat[1 + _SHAPE_INDEX[o.shape]] = 1.0
        feat[1 + len(SHAPES) + _COLOR_INDEX[o.color]] = 1.0
        obj = out[:OBJECT_CHANNELS]
        out[:OBJECT_CHANNELS] = obj * (1.0 - cov[None]) + feat[:, None, None] * cov[None]
    return out


def camera_channels(plan: ShotPlan, frame: int, width: int, height: int) -> np.ndarray:
    """(CAMERA_CHANNELS, height // 8, width // 8): stripes fixed to the world, seen through the camera."""
    h, w = height // SPATIAL_DOWN, width // SPATIAL_DOWN
    aspect = width / height
    cam = plan.camera
    pan = cam.pan[frame] if cam.pan else 0.0  # the view's left edge in world frame heights
    zoom = cam.zoom[frame] if cam.zoom else 1.0
    u = (np.arange(w, dtype=np.float32) + 0.5) * SPATIAL_DOWN / height - aspect / 2  # from the centre
    v = (np.arange(h, dtype=np.float32) + 0.5) * SPATIAL_DOWN / height - 0.5
    x = u / zoom + pan + aspect / 2  # (w,) world X of each cell centre
    y = v / zoom + 0.5  # (h,)
    out = np.empty((CAMERA_CHANNELS, h, w), np.float32)
    out[0] = 0.5 + 0.5 * np.sin(2 * np.pi * x / CAMERA_PERIOD)[None, :]
    out[1] = 0.5 + 0.5 * np.sin(2 * np.pi * y / CAMERA_PERIOD)[:, None]
    return out


def latent_frames_of(k: int) -> range:
    """Pixel frames (relative to a window's first frame) that latent frame k stands for."""
    return range(0, 1) if k == 0 else range(TEMPORAL_DOWN * k - (TEMPORAL_DOWN - 1), TEMPORAL_DOWN * k + 1)


def latent_layout(
    plan: ShotPlan, start_frame: int, num_latents: int, width: int, height: int
) -> torch.Tensor:
    """Layout for a window whose latent 0 is pixel frame `start_frame`: (PLAN_CHANNELS, N, h, w).

    Frames past the plan's end hold its last frame (a window may cover a few padding frames).
    """
    h, w = height // SPATIAL_DOWN, width // SPATIAL_DOWN
    maps = []
    for k in range(num_latents):
        frames = [frame_layout(plan, start_frame + f, width, height) for f in latent_frames_of(k)]
        pan, scale = np.mean([view_change(plan, start_frame, start_frame + f) for f in latent_frames_of(k)],
                             axis=0)
        position = np.clip([pan, -pan, scale, -scale], 0.0, POSITION_RANGE) / POSITION_RANGE  # (4,)
        occupancy = [f[0] for f in frames] * (TIMING_CHANNELS // len(frames))  # (4 of (h, w)), in order
        maps.append(np.concatenate([np.mean(frames, axis=0),
                                    np.broadcast_to(position[:, None, None], (POSITION_CHANNELS, h, w)),
                                    np.stack(occupancy)]))
    return torch.from_numpy(np.stack(maps, axis=1).astype(np.float32))  # (PLAN_CHANNELS, N, h, w)


def view_change(plan: ShotPlan, first: int, frame: int) -> tuple[float, float]:
    """How the camera's view at `frame` differs from its view at `first`: (pan in frame heights of the
    first view, first zoom / this zoom - 1). (0, 0) for a still camera; frames clamp to the plan."""
    cam, last = plan.camera, plan.num_frames - 1
    a, b = min(max(first, 0), last), min(max(frame, 0), last)
    pan_a, pan_b = (cam.pan[a], cam.pan[b]) if cam.pan else (0.0, 0.0)
    zoom_a, zoom_b = (cam.zoom[a], cam.zoom[b]) if cam.zoom else (1.0, 1.0)
    return (pan_b - pan_a) * zoom_a, zoom_a / zoom_b - 1.0


def object_mask(plan: ShotPlan, frame: int, width: int, height: int, margin: float = 2.0) -> np.ndarray:
    """Pixels within `margin` pixels of some object's silhouette in one frame: (height, width) bool.

    The pixel-resolution counterpart of channel 0, for losses that weight objects (a VAE decoder's
    shapes): the margin keeps the edges, where a blurred star turns into a ball, inside the mask. It is
    a Euclidean distance from the silhouette (the star's signed distance runs long past its points)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0 pixels, got {margin}")
    frame = min(max(frame, 0), plan.num_frames - 1)
    xs = np.arange(width, dtype=np.float32) + 0.5
    ys = np.arange(height, dtype=np.float32) + 0.5
    inside = np.zeros((height, width), bool)
    for o in plan.objects:
        b = o.boxes[frame]
        d = shape_sdf(o.shape, xs[None, :] - b.cx * width, ys[:, None] - b.cy * height, b.size * height)
        inside |= d < 0  # (height, width)
    if margin == 0 or not inside.any():
        return inside
    return ndimage.distance_transform_edt(~inside) <= margin


def object_masks(plan: ShotPlan, num_frames: int, width: int, height: int, margin: float = 2.0) -> np.ndarray:
    """`object_mask` of frames 0..num_frames-1: (num_frames, height, width) bool."""
    return np.stack([object_mask(plan, t, width, height, margin) for t in range(num_frames)])
