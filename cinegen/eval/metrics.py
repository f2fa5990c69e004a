"""Reusable video metrics: flicker, colour drift, seams, PSNR and SSIM.

All take uint8 RGB frames `(T, H, W, 3)` (or images `(H, W, 3)` for psnr/ssim) and return plain
floats, so the model, sampling and modes work can use them without the oracle's object model
(identity consistency needs that model: it is `oracle.identity_consistency`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cinegen.eval.segment import srgb_to_lab

DRIFT_SAMPLE_FRAMES = 16  # frames per window that color_drift averages
FLICKER_TREND_FRAMES = 5  # window of the moving mean that is the "trend" of background luma


def _check_video(frames: np.ndarray, name: str = "frames") -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"{name} must be a (T, H, W, 3) array, got shape {shape}")
    if frames.shape[0] < 1:
        raise ValueError(f"{name} holds no frames")


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def flicker(frames: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean |per-frame background luma - its moving-mean trend|, in luma levels (0..255).

    The background luma of a frame is the median over pixels (objects are a minority), or over
    `mask` (T, H, W) bool where given. Steady lighting, slow fades and camera moves follow the
    trend and score ~0; brightness that alternates by ±A from frame to frame scores about A.
    """
    _check_video(frames)
    y = _luma(frames)
    if mask is None:
        level = np.median(y.reshape(len(y), -1), axis=1)
    else:
        level = np.array([np.median(f[m]) if m.any() else np.median(f) for f, m in zip(y, mask, strict=True)])
    if len(level) < 3:
        return 0.0
    trend = ndimage.uniform_filter1d(level, size=FLICKER_TREND_FRAMES, mode="nearest")
    return float(np.mean(np.abs(level - trend)))


def color_drift(frames: np.ndarray, fps: float, seconds: float = 5.0) -> float:
    """CIELAB ΔE between the mean colour of the first and of the last `seconds` of a clip.

    For clips shorter than two windows each window is half the clip. A stable scene scores a few
    units at most (objects move about); a clip whose palette slides (the classic long-video
    failure) scores its drift.
    """
    _check_video(frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    n = len(frames)
    k = max(1, min(int(round(seconds * fps)), n // 2 if n >= 2 else 1))
    step = max(1, k // DRIFT_SAMPLE_FRAMES)  # a sample of frames and pixels is plenty for a mean
    head = srgb_to_lab(frames[:k:step, ::2, ::2].reshape(-1, 3)).mean(0)
    tail = srgb_to_lab(frames[n - k :: step, ::2, ::2].reshape(-1, 3)).mean(0)
    return float(np.linalg.norm(head - tail))


def seam_score(frames: np.ndarray, joint_index: int) -> float:
    """Change across a joint relative to the typical change inside the clip.

    Mean |frame[j] - frame[j-1]| over pixels, divided by the median of the same quantity over all
    other consecutive pairs. ~1 for a seamless join (a continuation or an extension), >> 1 for a
    visible cut or jump. `joint_index` is the first frame after the joint (1..T-1).
    """
    _check_video(frames)
    n = len(frames)
    if not 1 <= joint_index < n:
        raise ValueError(f"joint_index must be in 1..{n - 1}, got {joint_index}")
    f = frames.astype(np.float32)
    diffs = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))  # (T-1,)
    inside = np.delete(diffs, joint_index - 1)
    base = float(np.median(inside)) if len(inside) else 0.0
    return float(diffs[joint_index - 1] / max(base, 0.5))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two same-shaped uint8 arrays (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"psnr needs equal shapes, got {a.shape} and {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004) on luma, Gaussian window `sigma`.

    Takes images (H, W, 3) or videos (T, H, W, 3) of uint8; for videos the mean over frames.
    """
    if a.shape != b.shape:
        raise ValueError(f"ssim needs equal shapes, got {a.shape} and {b.shape}")
    if a.ndim not in (3, 4) or a.shape[-1] != 3:
        raise ValueError(f"ssim takes (H, W, 3) or (T, H, W, 3) arrays, got {a.shape}")
    x = _luma(a).astype(np.float64)
    y = _luma(b).astype(np.float64)
    sig = (0, sigma, sigma) if x.ndim == 3 else (sigma, sigma)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = ndimage.gaussian_filter(x, sig), ndimage.gaussian_filter(y, sig)
    sxx = ndimage.gaussian_filter(x * x, sig) - mx * mx
    syy = ndimage.gaussian_filter(y * y, sig) - my * my
    sxy = ndimage.gaussian_filter(x * y, sig) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())
