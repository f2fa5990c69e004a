"""Camera motion from the background: which of the world's camera moves, and its path.

The backlot's camera pans horizontally at a fixed speed or zooms about the frame centre by a fixed
range (`backlot.motion`), so between two frames the background moves by x' = c + s (x - c) + d.
The kind is decided by hypothesis: undo each canonical path and see which leaves the background
(objects masked out) most unchanged over one-second baselines. A Lucas-Kanade fit of (dx, dy, log s)
between anchor frames a quarter second apart, chained, measures the path too: a move whose measured
path does not progress steadily (shuffled frames, a jittering generator) is "erratic".

Object tracks are compensated with the canonical path of the detected kind: on the backlot's
faint backdrops, after H.264 (which leaves a faint texture untouched until its drift exceeds a
quantisation step), the measured path can fall short of the real one by half, which would leak into
still objects as motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cinegen.backlot.motion import PAN_SPEED, ZOOM_RANGE

ANCHORS_PER_SECOND = 4  # how often the reference frame moves on
SMOOTH_SIGMA = 1.0  # px, luma smoothing before fitting (H.264 blocks, noise)
MAX_ITERS = 12
TUKEY_C = 4.685  # robust weight cut-off, in units of the residual's MAD scale
VIGNETTE = 0.12  # the renderer's vignette strength at texture 1 (render._background)
PRIOR_STRENGTH = 0.001  # (luma levels / px)^2: the texture gradient below which the prior wins
MIN_NOISE = 1.0  # luma levels: the residual scale never drops below codec noise
BORDER = 3  # px ignored at the frame edge

HYPOTHESIS_BASELINE_S = 1.0  # seconds between the frames compared under each camera hypothesis
HYPOTHESIS_PAIRS = 8
STEADY_MIN_R2 = 0.8  # a real pan or zoom progresses steadily; erratic paths are not a camera move


@dataclass(frozen=True)
class CameraMotion:
    """Per-frame transform from frame-0 pixel coordinates: x_t = c + scale_t (x_0 - c) + (dx_t, dy_t).

    `dx, dy, scale` are the path used to compensate object motion: the world's canonical path for
    the detected kind (the backlot pans at PAN_SPEED and zooms linearly by ZOOM_RANGE; the measured
    path on its faint backdrops is a few tens of percent off, which would leak into still objects),
    or the measured path when the motion fits no kind ("erratic"). `measured_*` keep the fit.
    """

    dx: np.ndarray  # (T,) px
    dy: np.ndarray  # (T,) px
    scale: np.ndarray  # (T,)
    center: tuple[float, float]  # (cx, cy) px
    height: int
    fps: float
    kind: str  # static / pan_left / pan_right / zoom_in / zoom_out / erratic
    pan_rate: float  # background travel in frame heights per second (+ = scene moves right = pan_left)
    zoom_total: float  # scale of the last frame relative to the first
    steadiness: float  # R^2 of the dominant motion against time
    measured_dx: np.ndarray  # (T,) px, the fitted path
    measured_scale: np.ndarray  # (T,)
    costs: dict[str, float]  # background mismatch under each canonical path (hypothesis_costs)

    def to_frame0(self, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates at frames `t` back to frame-0 pixel coordinates."""
        cx, cy = self.center
        s = self.scale[t]
        return cx + (x - cx - self.dx[t]) / s, cy + (y - cy - self.dy[t]) / s

    @property
    def reference_scale(self) -> float:
        """The scale (relative to frame 0) at which the world is at zoom 1.

        A backlot zoom starts at zoom 1 when zooming in and ends at zoom 1 when zooming out, so world
        units are frame heights of the first frame, or of the last one for a zoom out.
        """
        return float(self.scale[-1]) if self.kind == "zoom_out" else 1.0

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "measured_pan_px": round(float(self.measured_dx[-1]), 2),
            "pan_rate": round(self.pan_rate, 4),
            "zoom_total": round(self.zoom_total, 4),
            "steadiness": round(self.steadiness, 4),
            "costs": {k: round(v, 4) for k, v in self.costs.items()},
        }


def luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H, W) float32 Rec.601 luma."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return (frames[..., :3].astype(np.float32) @ weights).astype(np.float32)


def vignette(h: int, w: int) -> np.ndarray:
    """The world's screen-fixed lighting falloff, (H, W): divided out before fitting.

    The renderer darkens every frame towards its corners (`render._background`: 1 - 0.12 r^2, r in
    frame heights from the centre). It does not move with the world, so on the backlot's faint
    textures it drags a pan estimate towards zero (measured: a 0.09/s pan read as 0.035/s on a
    studio backdrop); dividing it out restores the estimate.
    """
    ys = (np.arange(h) + 0.5 - h / 2) / h
    xs = (np.arange(w) + 0.5 - w / 2) / h
    return 1.0 - VIGNETTE * (ys[:, None] ** 2 + xs[None, :] ** 2)


def _fit_pair(
    ref: np.ndarray,
    tgt: np.ndarray,
    ref_ok: np.ndarray,
    tgt_ok: np.ndarray,
    init: np.ndarray,
    levels: tuple[float, ...] = (0.5, 1.0),
) -> np.ndarray:
    """Fit p = (dx, dy, log s) so tgt(W(x; p)) ~ ref(x). Images (H, W) smoothed float64.

    Gauss-Newton with the Jacobian taken from the reference's gradients (fixed per level, as in
    inverse-compositional Lucas-Kanade), Tukey weights with a codec-noise floor.
    """
    h, w = ref.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    p = init.astype(np.float64).copy()
    for f in levels:  # coarse (half size) to fine
        if f < 1.0:
            r = ndimage.zoom(ref, f, order=1)
            g = ndimage.zoom(tgt, f, order=1)
            rok = ndimage.zoom(ref_ok.astype(np.float32), f, order=0) > 0.5
            gok = ndimage.zoom(tgt_ok.astype(np.float32), f, order=0) > 0.5
        else:
            r, g, rok, gok = ref, tgt, ref_ok, tgt_ok
        hh, ww = r.shape
        f = hh / h
        ys, xs = np.mgrid[0:hh, 0:ww].astype(np.float64)
        ccx, ccy = cx * f, cy * f
        ry, rx = np.gradient(r)
        b = max(1, int(round(BORDER * f)))
        base = np.zeros((hh, ww), bool)
        base[b:-b, b:-b] = True
        base &= rok
        for _ in range(MAX_ITERS):
            s = np.exp(p[2])
            wx = ccx + s * (xs - ccx) + p[0] * f
            wy = ccy + s * (ys - ccy) + p[1] * f
            inside = (wx >= b) & (wx <= ww - 1 - b) & (wy >= b) & (wy <= hh - 1 - b)
            coords = np.stack([wy, wx])
            warped = ndimage.map_coordinates(g, coords, order=1, mode="nearest")
            okw = ndimage.map_coordinates(gok, coords, order=0, mode="nearest")
            m = base & inside & okw
            if m.sum() < 50:
                break
            res = (warped - r)[m]
            scale = max(1.4826 * float(np.median(np.abs(res - np.median(res)))), MIN_NOISE)
            u = res / (TUKEY_C * scale)
            wt = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
            gx, gy = rx[m], ry[m]
            # d warped / d(dx, dy, log s), with the target's gradient approximated by the reference's
            J = np.stack([gx * f, gy * f, gx * s * (xs[m] - ccx) + gy * s * (ys[m] - ccy)], 1)
            Jw = J * wt[:, None]
            # a weak prior on the initial guess: directions the background cannot pin down (a
            # near-flat black backdrop) stay where constant camera velocity puts them
            lam = PRIOR_STRENGTH * float(wt.sum()) * np.array([1.0, 1.0, (hh / 2.0) ** 2])
            A = Jw.T @ J + np.diag(lam)
            step = np.linalg.solve(A, -Jw.T @ res - lam * (p - init))
            p += step
            if abs(step[0]) < 1e-2 and abs(step[1]) < 1e-2 and abs(step[2]) < 1e-4:
                break
    return p


def estimate_camera(frames: np.ndarray, fps: float, ignore: np.ndarray | None = None) -> CameraMotion:
    """Classify and fit the camera path of (T, H, W, 3) uint8 frames; `ignore` (T, H, W) masks objects.

    The kind is the canonical camera path that best explains the background (`hypothesis_costs`);
    a Lucas-Kanade fit between anchor frames a quarter second apart measures the path itself, and
    a non-static kind whose measured path does not progress steadily is "erratic".
    """
    t_count, h, w = frames.shape[:3]
    y = luma(frames).astype(np.float64) / vignette(h, w)
    if SMOOTH_SIGMA > 0:
        y = ndimage.gaussian_filter(y, sigma=(0, SMOOTH_SIGMA, SMOOTH_SIGMA))
    ok = np.ones((t_count, h, w), bool) if ignore is None else ~ignore
    costs = hypothesis_costs(y, ok, fps)
    stride = max(1, int(round(fps / ANCHORS_PER_SECOND)))
    anchors = list(range(0, t_count, stride))
    if anchors[-1] != t_count - 1:
        anchors.append(t_count - 1)
    dx, dy, ls = np.zeros(len(anchors)), np.zeros(len(anchors)), np.zeros(len(anchors))
    vel = np.zeros(3)  # camera motion per frame, from the last fit
    for i in range(1, len(anchors)):
        a, b = anchors[i - 1], anchors[i]
        levels = (0.5, 1.0) if i == 1 else (1.0,)
        p = _fit_pair(y[a], y[b], ok[a], ok[b], vel * (b - a), levels)
        s_p = np.exp(p[2])
        dx[i] = s_p * dx[i - 1] + p[0]
        dy[i] = s_p * dy[i - 1] + p[1]
        ls[i] = ls[i - 1] + p[2]
        vel = p / (b - a)
    # the measured path at every frame, by interpolation between anchors
    frames_t = np.arange(t_count)
    mdx = np.interp(frames_t, anchors, dx)
    mdy = np.interp(frames_t, anchors, dy)
    mscale = np.exp(np.interp(frames_t, anchors, ls))
    return _classify(mdx, mdy, mscale, costs, (float(w) / 2, float(h) / 2), h, fps)


def hypothesis_costs(y: np.ndarray, ok: np.ndarray, fps: float) -> dict[str, float]:
    """Mean |background difference| after undoing each canonical camera path, per camera kind.

    Pairs of frames about HYPOTHESIS_BASELINE_S apart (the whole clip when shorter) are compared
    after warping the later one by the relative canonical transform; pixels under objects in either
    frame are left out. Long baselines matter: H.264 leaves a faint backdrop untouched until its
    drift exceeds a quantisation step, so frame-to-frame fits see less motion than there is.
    """
    n, h, w = y.shape
    if n < 2:
        return {k: 0.0 for k in ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")}
    gap = max(1, min(n - 1, int(round(HYPOTHESIS_BASELINE_S * fps))))
    starts = np.unique(np.linspace(0, n - 1 - gap, min(HYPOTHESIS_PAIRS, n - gap)).round().astype(int))
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    inner = np.zeros((h, w), bool)
    inner[BORDER:-BORDER, BORDER:-BORDER] = True
    out = {}
    for kind in ("static", "pan_left", "pan_right", "zoom_in", "zoom_out"):
        dx, _, sc = canonical_path(kind, n, fps, h)
        total, count = 0.0, 0
        for a in starts:
            b = a + gap
            s = sc[b] / sc[a]
            d = dx[b] - s * dx[a]
            wx, wy = cx + s * (xs - cx) + d, cy + s * (ys - cy)
            inside = (wx >= BORDER) & (wx <= w - 1 - BORDER) & (wy >= BORDER) & (wy <= h - 1 - BORDER)
            warped = ndimage.map_coordinates(y[b], [wy, wx], order=1, mode="nearest")
            okw = ndimage.map_coordinates(ok[b], [wy, wx], order=0, mode="nearest")
            m = inner & inside & ok[a] & okw
            if m.sum() < 50:
                continue
            total += float(np.abs(warped - y[a])[m].mean())
            count += 1
        out[kind] = total / count if count else float("inf")
    return out


def _r2(t: np.ndarray, v: np.ndarray) -> float:
    if len(t) < 3 or np.ptp(v) < 1e-9:
        return 0.0
    c = np.polyfit(t, v, 1)
    res = v - np.polyval(c, t)
    return float(1 - res.var() / v.var())


def _classify(
    dx: np.ndarray,
    dy: np.ndarray,
    scale: np.ndarray,
    costs: dict[str, float],
    center: tuple[float, float],
    h: int,
    fps: float,
) -> CameraMotion:
    t = np.arange(len(dx)) / fps
    pan_rate = float(np.polyfit(t, dx / h, 1)[0]) if len(dx) >= 2 else 0.0
    zoom_total = float(scale[-1])
    kind = min(costs, key=lambda k: costs[k])  # ties (a blank clip) go to "static", listed first
    steady = 1.0
    if kind in ("zoom_in", "zoom_out"):
        steady = _r2(t, np.log(scale))
    elif kind in ("pan_left", "pan_right"):
        steady = _r2(t, dx)
    if kind != "static" and steady < STEADY_MIN_R2:
        kind = "erratic"
    cdx, cdy, cs = canonical_path(kind, len(dx), fps, h)
    if kind == "erratic":
        cdx, cdy, cs = dx, dy, scale
    return CameraMotion(cdx, cdy, cs, center, h, fps, kind, pan_rate, zoom_total, steady, dx, scale, costs)


def canonical_path(kind: str, n: int, fps: float, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backlot camera's path for `kind` as (dx, dy, scale) from frame 0 (see backlot.motion)."""
    t = np.arange(n) / fps
    p = t / max(n / fps, 1e-6)
    dx, dy, scale = np.zeros(n), np.zeros(n), np.ones(n)
    if kind == "pan_left":
        dx = PAN_SPEED * t * h
    elif kind == "pan_right":
        dx = -PAN_SPEED * t * h
    elif kind == "zoom_in":
        scale = 1 + (ZOOM_RANGE - 1) * p
    elif kind == "zoom_out":
        scale = (ZOOM_RANGE - (ZOOM_RANGE - 1) * p) / ZOOM_RANGE
    return dx, dy, scale
