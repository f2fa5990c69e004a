"""Render a scene to frames: uint8 RGB, deterministic for the scene's seed, any size and fps.

Backgrounds are procedural functions of world coordinates (smooth gradients plus low-frequency
sinusoidal texture), so camera pans and zooms move the world consistently. Objects are
anti-aliased signed-distance shapes with a thin dark outline; an optional foreground pillar
occludes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from cinegen.backlot.motion import CameraPath, Track, camera_path, object_track
from cinegen.backlot.scene import SceneSpec
from cinegen.backlot.vocab import COLORS

HORIZON = 0.62  # world Y where the ground begins in settings that have one
PILLAR_HALF_WIDTH = 0.045
PILLAR_RGB = (92, 64, 46)
# brightness lost per squared frame-height from the view centre (textured worlds only)
VIGNETTE_STRENGTH = 0.12


def render_scene(scene: SceneSpec, tracks: Sequence[Track] | None = None) -> np.ndarray:
    """All frames of a scene. Returns (T, H, W, 3) uint8."""
    return np.stack(list(iter_frames(scene, tracks=tracks)))


def iter_frames(
    scene: SceneSpec, start: int = 0, stop: int | None = None, tracks: Sequence[Track] | None = None
) -> Iterator[np.ndarray]:
    """Yield frames one at a time (H, W, 3) uint8, so minute-long clips stay in flat memory.

    `tracks` (one per object, `num_frames` long) replace the world's motion: the ground truth of a
    drawn path, which no backlot motion makes."""
    rng = np.random.default_rng(scene.seed)
    bg_params = _background_params(scene, rng)
    if tracks is None:
        tracks = [object_track(o, scene) for o in scene.objects]
    elif len(tracks) != len(scene.objects) or any(len(t.x) < scene.num_frames for t in tracks):
        raise ValueError(f"need one track of {scene.num_frames} frames per object ({len(scene.objects)})")
    tracks = list(tracks)
    cam = camera_path(scene)
    static_bg = None
    if scene.camera == "static":
        static_bg = _background(scene, bg_params, cam, 0)
    stop = scene.num_frames if stop is None else min(stop, scene.num_frames)
    for i in range(start, stop):
        bg = static_bg.copy() if static_bg is not None else _background(scene, bg_params, cam, i)
        yield _compose(scene, bg, tracks, cam, i)


# ----------------------------------------------------------------------------- coordinates
def _world_grid(scene: SceneSpec, cam: CameraPath, i: int) -> tuple[np.ndarray, np.ndarray]:
    """World (X, Y) of every pixel centre at frame i: (H, W) each."""
    h, w = scene.height, scene.width
    aspect = w / h
    u = (np.arange(w, dtype=np.float32) + 0.5) / h - aspect / 2  # frame heights from centre
    v = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    z = np.float32(cam.zoom[i])
    X = u[None, :] / z + np.float32(cam.cx[i])
    Y = v[:, None] / z + 0.5
    return np.broadcast_to(X, (h, w)), np.broadcast_to(Y, (h, w))


def _to_screen(scene: SceneSpec, cam: CameraPath, i: int, x: float, y: float, r: float) -> tuple[float, float,
                                                                                                 float]:
    """World position and radius to pixel coordinates at frame i."""
    h = scene.height
    aspect = scene.width / h
    z = cam.zoom[i]
    px = ((x - cam.cx[i]) * z + aspect / 2) * h
    py = ((y - 0.5) * z + 0.5) * h
    return float(px), float(py), float(r * z * h)


# ----------------------------------------------------------------------------- background
def _background_params(scene: SceneSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "freq": rng.uniform(2.0, 7.0, size=(6, 2)).astype(np.float32),
        "phase": rng.uniform(0, 2 * np.pi, size=6).astype(np.float32),
        "amp": rng.uniform(0.4, 1.0, size=6).astype(np.float32),
        "light": np.asarray(rng.uniform(0.93, 1.07), dtype=np.float32),  # 0-d
        "tint": rng.uniform(-6, 6, size=3).astype(np.float32),
        "stars": rng.uniform(0, 1, size=(40, 2)).astype(np.float32),
    }


def _noise(X: np.ndarray, Y: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """Smooth texture in [-1, 1]: a sum of a few oriented sinusoids in world coordinates."""
    acc = np.zeros(X.shape, np.float32)
    for k in range(6):
        fx, fy = p["freq"][k]
        acc += p["amp"][k] * np.sin(fx * X + fy * Y + p["phase"][k])
    return acc / float(p["amp"].sum())


def _mix(a: tuple[float, ...], b: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    A = np.asarray(a, np.float32)
    B = np.asarray(b, np.float32)
    return A + (B - A) * t[..., None]


def _background(scene: SceneSpec, p: dict[str, np.ndarray], cam: CameraPath, i: int) -> np.ndarray:
    """(H, W, 3) float32 in 0..255."""
    X, Y = _world_grid(scene, cam, i)
    tex = scene.texture
    n = _noise(X, Y, p) * tex
    s = scene.setting
    yy = np.clip(Y, 0, 1)
    if s == "black":
        img = np.broadcast_to(np.float32(10) + 6 * n[..., None], X.shape + (3,)).copy()
    elif s == "studio":
        wall = _mix((118, 118, 122), (150, 150, 154), 1 - yy)
        floor = _mix((172, 170, 166), (130, 128, 126), np.clip((Y - HORIZON) / (1 - HORIZON), 0, 1))
        img = np.where((Y < HORIZON)[..., None], wall, floor) + 7 * n[..., None]
    elif s == "sky":
        img = _mix((70, 130, 215), (165, 205, 240), np.clip(yy * 1.1, 0, 1))
        cloud = np.clip(_noise(X * 0.7, Y * 1.8, p) * 1.6 - 0.35, 0, 1) * tex
        img = img + (250 - img) * (0.55 * cloud)[..., None]
    elif s == "grass":
        sky = _mix((95, 150, 220), (175, 210, 238), np.clip(Y / HORIZON, 0, 1))
        grass = _mix((88, 150, 60), (52, 112, 40), np.clip((Y - HORIZON) / (1 - HORIZON), 0, 1))
        grass = grass + 14 * (_noise(X * 3.0, Y * 9.0, p) * tex)[..., None]
        img = np.where((Y < HORIZON)[..., None], sky, grass)
    elif s == "night":
        img = _mix((8, 10, 30), (22, 28, 62), yy)
        col_x, row_y = X[0], Y[:, 0]  # (W,), (H,): the grid is separable
        for sx, sy in p["stars"]:
            # small soft dots, fixed in the world; drawn only within 0.025 world units, beyond which
            # exp(-d2 / 2.5e-5) < 1e-10 and adds nothing to a float32 pixel
            sxw, syw = sx * 3.0 - 0.75, sy * HORIZON
            cols = np.flatnonzero(np.abs(col_x - sxw) < 0.025)
            rows = np.flatnonzero(np.abs(row_y - syw) < 0.025)
            if cols.size == 0 or rows.size == 0:
                continue
            win = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            d2 = (X[win] - sxw) ** 2 + (Y[win] - syw) ** 2
            img[win] += (150 * tex * np.exp(-d2 / 2.5e-5))[..., None]
        ground = np.asarray((14, 18, 24), np.float32)
        img = np.where((Y < HORIZON + 0.08)[..., None], img, ground + 4 * n[..., None])
    elif s == "sunset":
        img = _mix((250, 150, 70), (120, 60, 120), np.clip(1 - Y / HORIZON, 0, 1))
        img = img + 10 * n[..., None]
        ground = _mix((52, 30, 42), (28, 16, 26), np.clip((Y - HORIZON) / (1 - HORIZON), 0, 1))
        img = np.where((Y < HORIZON + 0.06)[..., None], img, ground)
    else:  # pragma: no cover - SceneSpec validates settings
        raise ValueError(s)
    # gentle lighting: a per-clip exposure, a tint and a vignette
    vig = 1 - VIGNETTE_STRENGTH * tex * ((X - cam.cx[i]) ** 2 + (Y - 0.5) ** 2)
    img = img * (p["light"] if tex else 1.0) * vig[..., None] + p["tint"] * tex
    return img.astype(np.float32)


# ----------------------------------------------------------------------------- objects
def shape_sdf(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) of a shape of radius r centred at the origin."""
    if shape == "ball":
        return np.sqrt(dx * dx + dy * dy) - r
    if shape == "box":
        a = r * 0.86
        qx, qy = np.abs(dx) - a, np.abs(dy) - a
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    if shape == "triangle":
        # equilateral, pointing up: the largest of three edge-plane distances (inradius 0.62 r)
        ri = r * 0.62
        dyc = dy - r * 0.25  # lower the centroid so the shape sits in its circle
        return np.maximum(dyc, 0.866 * np.abs(dx) - 0.5 * dyc) - ri
    if shape == "star":
        # five points with straight edges: distance to the edge line within one angular sector
        ro, ri = r * 1.3, r * 0.55
        rr = np.sqrt(dx * dx + dy * dy)
        th = np.abs(np.mod(np.arctan2(dx, -dy) + np.pi / 5, 2 * np.pi / 5) - np.pi / 5)
        qx, qy = rr * np.cos(th), rr * np.sin(th)
        ax, ay = ro, 0.0
        bx, by = ri * np.cos(np.pi / 5), ri * np.sin(np.pi / 5)
        ex, ey = bx - ax, by - ay
        return -(ex * (qy - ay) - ey * (qx - ax)) / np.hypot(ex, ey)
    raise ValueError(shape)  # pragma: no cover


def object_rgb(color: str, shade: float, setting: str) -> np.ndarray:
    base = np.asarray(COLORS[color], np.float32)
    rgb = base * (1 + 0.07 * shade)
    if setting == "night":
        rgb = rgb * 0.88
    return np.clip(rgb, 0, 255)


def _compose(scene: SceneSpec, img: np.ndarray, tracks: list[Track], cam: CameraPath, i: int) -> np.ndarray:
    h, w = scene.height, scene.width
    # Draw far objects first: the object lower in frame (nearer the ground/viewer) on top.
    order = sorted(range(len(tracks)), key=lambda k: tracks[k].y[i])
    for k in order:
        o, tr = scene.objects[k], tracks[k]
        px, py, pr = _to_screen(scene, cam, i, tr.x[i], tr.y[i], tr.r[i])
        pad = pr * 1.4 + 2
        x0, x1 = max(int(px - pad), 0), min(int(px + pad) + 1, w)
        y0, y1 = max(int(py - pad), 0), min(int(py + pad) + 1, h)
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - px
        ys = np.arange(y0, y1, dtype=np.float32) + 0.5 - py
        d = shape_sdf(o.shape, xs[None, :], ys[:, None], pr)
        edge = max(0.6, pr * 0.07)  # outline width in pixels
        alpha = np.clip(0.5 - d, 0, 1)[..., None]
        inner = np.clip(0.5 - (d + edge), 0, 1)[..., None]
        rgb = object_rgb(o.color, o.shade, scene.setting)
        outline = rgb * 0.45
        fill = outline + (rgb - outline) * inner
        patch = img[y0:y1, x0:x1]
        img[y0:y1, x0:x1] = patch + (fill - patch) * alpha
    if scene.occluder:
        aspect = w / h
        X, _ = _world_grid(scene, cam, i)
        d = (np.abs(X[0] - scene.occluder_x * aspect) - PILLAR_HALF_WIDTH) * h * cam.zoom[i]
        a = np.clip(0.5 - d, 0, 1)[None, :, None]
        shade = np.linspace(1.1, 0.85, h, dtype=np.float32)[:, None, None]
        img = img + (np.asarray(PILLAR_RGB, np.float32) * shade - img) * a
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
