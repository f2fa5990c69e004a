"""Pixel helpers of the pipeline: tensors <-> uint8 frames, the documented fitting rules for
inputs of another size or frame rate, and the seam fade that hides a window's joint."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from cinegen.pipeline.types import PipelineError

SEAM_FADE_FRAMES = 8  # frames after a joint over which the context's decode error fades out


def frames_to_video(frames: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (1, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return (x.permute(3, 0, 1, 2)[None].to(dtype) / 127.5 - 1.0)


def video_to_frames(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    x = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


def carry_residual(new: np.ndarray, given: np.ndarray, decoded: np.ndarray, *,
                   at_end: bool = False) -> np.ndarray:
    """Hide a joint: fade the difference between a pinned frame and its VAE reconstruction into the new
    frames.

    `new` (T, H, W, 3) uint8 follows the pinned frame `given` (H, W, 3) (or, with at_end, precedes
    it); `decoded` is the window's reconstruction of that same frame. The VAE redraws pinned frames
    (31.5 dB), so without this every joint shows a jump in texture and sharpness; the difference is
    added at full weight next to the joint and fades to zero over SEAM_FADE_FRAMES frames.
    """
    k = min(SEAM_FADE_FRAMES, len(new))
    if k == 0:
        return new
    w = 1.0 - np.arange(1, k + 1, dtype=np.float32) / (SEAM_FADE_FRAMES + 1)  # (k,) near 1 at the joint
    if at_end:
        w = w[::-1]
    residual = given.astype(np.float32) - decoded.astype(np.float32)  # (H, W, 3)
    out = new.copy()
    part = out[-k:] if at_end else out[:k]
    faded = part.astype(np.float32) + w[:, None, None, None] * residual
    part[...] = np.clip(faded, 0, 255).round().astype(np.uint8)
    return out


def pin_frames(frames: np.ndarray, pinned: dict[int, np.ndarray]) -> np.ndarray:
    """Give back pinned images exactly: each frame `i` in `pinned` becomes its image, decode error faded out.

    The VAE redraws a pinned image (a plain grey came back brightened, 20 dB); the user's image
    must come back as given. Each difference is added at full weight at its pinned frame and fades
    to zero over SEAM_FADE_FRAMES frames on both sides, as joints do (`carry_residual`).
    """
    if not pinned:
        return frames
    acc = frames.astype(np.float32)
    t = np.arange(len(frames), dtype=np.float32)
    for i, given in pinned.items():
        residual = given.astype(np.float32) - frames[i].astype(np.float32)  # (H, W, 3)
        w = np.clip(1.0 - np.abs(t - i) / (SEAM_FADE_FRAMES + 1), 0.0, 1.0)  # (T,) 1 at the pinned frame
        acc += w[:, None, None, None] * residual
    out = np.clip(acc, 0, 255).round().astype(np.uint8)
    for i, given in pinned.items():
        out[i] = given
    return out


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize-and-centre-crop an image to (height, width): scale so it covers the frame, crop the rest.

    This is the documented rule for image inputs of any size: aspect is kept, nothing is stretched.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PipelineError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = max(width / w, height / h)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    t = torch.tensor(image).permute(2, 0, 1)[None].float()  # a copy: decoded images may be read-only
    t = F.interpolate(t, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    t = t[:, :, y0 : y0 + height, x0 : x0 + width]
    return t[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def fit_video(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Apply `fit_image` to every frame (the rule for source videos of another size)."""
    return np.stack([fit_image(f, width, height) for f in frames])


def retime(frames: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Nearest-frame retiming from src_fps to dst_fps, keeping the duration."""
    if abs(src_fps - dst_fps) < 1e-6:
        return frames
    n_out = max(1, round(len(frames) * dst_fps / src_fps))
    idx = np.minimum((np.arange(n_out) * src_fps / dst_fps).round().astype(int), len(frames) - 1)
    return frames[idx]


def latents_for_frames(num_frames: int) -> int:
    """Smallest latent count N whose 1 + 4(N - 1) frames cover num_frames."""
    return 1 + max(0, math.ceil((num_frames - 1) / 4))
