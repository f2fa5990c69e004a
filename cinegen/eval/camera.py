"""Camera motion from the background: a global pan + zoom fitted by Lucas-Kanade on luma.

The backlot's camera pans horizontally and zooms about the frame centre, so between two frames the
background moves by x' = c + s (x - c) + d. We fit (dx, dy, log s) by Gauss-Newton on smoothed luma,
coarse to fine, with object pixels masked out and robust (Tukey) weights so anything else that
moves does not pull the fit. Each frame is fitted against an anchor frame a fraction of a second
earlier and the transforms are chained, so minute-long pans that leave the first frame far behind
still track. The result maps frame-0 pixel coordinates into every frame, which is what object
tracks need to be compensated for camera motion.
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

# Classification, in the world's units (frame heights, and zoom factors over the whole clip)
PAN_MIN_RATE = PAN_SPEED / 3  # frame heights per second of background travel that is a pan
ZOOM_MIN_LOG = np.log(ZOOM_RANGE) / 3  # total log zoom that is a zoom
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
        }


def luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H, W) float32 Rec.601 luma."""
    return (frames[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


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
    """Fit the camera path of (T, H, W, 3) uint8 frames; `ignore` (T, H, W) bool masks objects."""
    t_count, h, w = frames.shape[:3]
    y = luma(frames).astype(np.float64) / vignette(h, w)
    if SMOOTH_SIGMA > 0:
        y = ndimage.gaussian_filter(y, sigma=(0, SMOOTH_SIGMA, SMOOTH_SIGMA))
    ok = np.ones((t_count, h, w), bool) if ignore is None else ~ignore
    dx, dy, ls = np.zeros(t_count), np.zeros(t_count), np.zeros(t_count)
    stride = max(1, int(round(fps / ANCHORS_PER_SECOND)))
    anchor = 0
    vel = np.zeros(3)  # camera motion per frame, from the last fit
    for t in range(1, t_count):
        # with a velocity to start from, the fine level alone converges; the first pair goes coarse-to-fine
        levels = (0.5, 1.0) if t == 1 else (1.0,)
        p = _fit_pair(y[anchor], y[t], ok[anchor], ok[t], vel * (t - anchor), levels)
        # compose: frame0 -> anchor (a) then anchor -> t (p)
        s_a, s_p = np.exp(ls[anchor]), np.exp(p[2])
        dx[t] = s_p * dx[anchor] + p[0]
        dy[t] = s_p * dy[anchor] + p[1]
        ls[t] = ls[anchor] + p[2]
        del s_a
        vel = p / (t - anchor)
        if t - anchor >= stride:
            anchor = t
    return _classify(dx, dy, np.exp(ls), (float(w) / 2, float(h) / 2), h, fps)


def _r2(t: np.ndarray, v: np.ndarray) -> float:
    if len(t) < 3 or np.ptp(v) < 1e-9:
        return 0.0
    c = np.polyfit(t, v, 1)
    res = v - np.polyval(c, t)
    return float(1 - res.var() / v.var())


def _classify(
    dx: np.ndarray, dy: np.ndarray, scale: np.ndarray, center: tuple[float, float], h: int, fps: float
) -> CameraMotion:
    t = np.arange(len(dx)) / fps
    seconds = max(len(dx) / fps, 1e-6)
    pan_rate = float(np.polyfit(t, dx / h, 1)[0]) if len(dx) >= 2 else 0.0
    zoom_total = float(scale[-1])
    log_zoom = np.log(zoom_total)
    if abs(log_zoom) >= ZOOM_MIN_LOG:
        kind = "zoom_in" if log_zoom > 0 else "zoom_out"
        steady = _r2(t, np.log(scale))
    elif abs(pan_rate) >= PAN_MIN_RATE and abs(dx[-1] / h) >= PAN_MIN_RATE * seconds / 2:
        kind = "pan_left" if pan_rate > 0 else "pan_right"
        steady = _r2(t, dx)
    else:
        kind = "static"
        steady = 1.0
    if kind != "static" and steady < STEADY_MIN_R2:
        kind = "erratic"
    cdx, cdy, cs = canonical_path(kind, len(dx), fps, h)
    if kind == "erratic":
        cdx, cdy, cs = dx, dy, scale
    return CameraMotion(cdx, cdy, cs, center, h, fps, kind, pan_rate, zoom_total, steady, dx, scale)


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
