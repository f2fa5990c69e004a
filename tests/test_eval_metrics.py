"""Each metric and building block on synthetic inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import ObjectSpec, SceneSpec
from cinegen.backlot.vocab import GRAVITY
from cinegen.eval import metrics, oracle
from cinegen.eval.camera import estimate_camera
from cinegen.eval.kinematics import Segment, classify_motion
from cinegen.eval.segment import classify_shape, find_blobs, label_lab, srgb_to_lab


def _video(t: int = 12, h: int = 32, w: int = 32, value: int = 100) -> np.ndarray:
    return np.full((t, h, w, 3), value, np.uint8)


def test_flicker_known_amplitude() -> None:
    v = _video(20)
    assert metrics.flicker(v) == pytest.approx(0.0)
    v[1::2] += 6  # alternate 100 / 106: ±3 about the trend
    assert metrics.flicker(v) == pytest.approx(3.0, abs=0.6)
    ramp = np.stack([np.full((16, 16, 3), 50 + 2 * i, np.uint8) for i in range(20)])
    assert metrics.flicker(ramp) < 0.3  # a slow fade follows the trend


def test_color_drift() -> None:
    v = _video(32)
    assert metrics.color_drift(v, fps=16) == pytest.approx(0.0, abs=1e-4)
    v[16:] = (100, 100, 160)  # the second half turns blue
    assert metrics.color_drift(v, fps=16, seconds=1.0) > 20
    with pytest.raises(ValueError, match="fps"):
        metrics.color_drift(v, fps=0)


def test_seam_score() -> None:
    ramp = np.stack([np.full((8, 8, 3), 10 + 3 * i, np.uint8) for i in range(12)])
    assert metrics.seam_score(ramp, 6) == pytest.approx(1.0)
    cut = ramp.copy()
    cut[6:] += 60
    assert metrics.seam_score(cut, 6) > 10
    with pytest.raises(ValueError, match="joint_index"):
        metrics.seam_score(ramp, 0)


def test_psnr_and_ssim() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert metrics.psnr(a, a) == float("inf")
    b = a.astype(np.int16)
    b[..., :] += np.where(b < 250, 5, -5)  # |error| = 5 everywhere: MSE 25
    assert metrics.psnr(a, b.astype(np.uint8)) == pytest.approx(10 * np.log10(255**2 / 25), abs=1e-6)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    smooth = ndimage.gaussian_filter(a.astype(float), (3, 3, 0)).astype(np.uint8)
    assert metrics.ssim(smooth,
                        np.clip(smooth.astype(int) + rng.integers(-40, 40, smooth.shape), 0,
                                255).astype(np.uint8)) < 0.6
    assert metrics.ssim(np.stack([a, a]), np.stack([a, a])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.psnr(a, a[:16])


def test_identity_consistency_of_a_clean_clip() -> None:
    scene = SceneSpec(objects=(ObjectSpec("star", "yellow", "right", x=0.3),), setting="night", seconds=1.0)
    assert oracle.identity_consistency(render_scene(scene), 16.0) > 0.95


def _disk_image(shape: str, r: float = 12.0) -> np.ndarray:
    scene = SceneSpec(objects=(ObjectSpec(shape, "red", size=r / 64),), setting="black", seconds=0.0625,
                      width=64, height=64)
    return render_scene(scene)[0]


@pytest.mark.parametrize("shape", ["ball", "box", "triangle", "star"])
def test_shape_descriptors(shape: str) -> None:
    lab = srgb_to_lab(_disk_image(shape))
    (blob,) = find_blobs(label_lab(lab), lab)
    assert blob.shape == shape
    assert classify_shape(blob.fill, blob.solidity, 5) is None  # too few pixels to say


def test_palette_labels() -> None:
    img = np.zeros((4, 3, 3), np.uint8)
    img[:, 0] = (215, 38, 38)  # red
    img[:, 1] = (242, 242, 242)  # white
    img[:, 2] = (120, 120, 120)  # grey: background
    lbl = label_lab(srgb_to_lab(img))
    assert list(lbl[0]) == [0, 6, -1]


def _segment(t: np.ndarray, x: np.ndarray, y: np.ndarray, size: np.ndarray | None = None) -> Segment:
    s = np.full_like(t, 0.1) if size is None else size
    return Segment(t, x, y, s, np.ones(len(t), bool), 16.0)


def test_motion_classes_from_trajectories() -> None:
    t = np.arange(48) / 16.0
    flat = np.full_like(t, 0.5)
    assert classify_motion(_segment(t, 0.5 - 0.12 * t, flat)).motion == "left"
    assert classify_motion(_segment(t, flat, 0.6 - 0.12 * t)).motion == "up"
    assert classify_motion(_segment(t, flat, flat)).motion == "still"
    assert classify_motion(_segment(t, flat, flat, 0.1 * (1 + 0.8 * t / 3))).motion == "grow"
    fall = np.minimum(0.2 + 0.5 * GRAVITY * t**2, 0.75)
    fall = np.where(fall >= 0.75, 0.75 - 0.05 * np.sin(np.clip(t - 0.83, 0, None) * 4), fall)
    fit = classify_motion(_segment(t, flat, fall))
    assert fit.motion == "fall" and fit.accel == pytest.approx(GRAVITY, rel=0.1)
    # a wrap-around (leaving left, coming back at the right) is not motion to the right
    x = 0.2 - 0.12 * t
    x[x < -0.05] += 1.4
    assert classify_motion(_segment(t, x, flat)).motion == "left"


def test_camera_pan_on_a_textured_backdrop() -> None:
    rng = np.random.default_rng(0)
    world = ndimage.gaussian_filter(rng.uniform(0, 255, (48, 200)), 2.5)
    world = (world - world.min()) / np.ptp(world) * 200 + 20
    shift = [round(0.09 * 48 * i / 16) for i in range(32)]
    frames = np.stack([np.repeat(world[:, 60 - d : 108 - d, None], 3, 2) for d in shift])
    cam = estimate_camera(frames.astype(np.uint8), 16.0)
    assert cam.kind == "pan_left"  # the view moves left: the world slides right
    assert estimate_camera(np.repeat(frames[:1], 32, 0).astype(np.uint8), 16.0).kind == "static"
