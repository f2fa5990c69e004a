"""The luma watermark: payload coding, invisibility, detection after H.264/crop/scale, no false alarm."""

from __future__ import annotations

import io
import random

import av
import numpy as np
import pytest

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import random_scene
from cinegen.trust import watermark as wm


def _clip(seed: int, seconds: float = 1.0, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    return render_scene(random_scene(random.Random(seed), seconds=seconds, width=size[0], height=size[1]))


def _h264(frames: np.ndarray, crf: int) -> np.ndarray:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as c:
        s = c.add_stream("libx264", rate=16)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": str(crf)}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    buf.seek(0)
    with av.open(buf, mode="r") as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_payload_coding_round_trip() -> None:
    p = wm.payload_for("cinegen-small@0.1.0", "job-1")
    assert 0 <= p < 2**32
    assert p >> 16 == wm.payload_for("cinegen-small@0.1.0", "other") >> 16  # same model, same high half
    bits = wm.encode_bits(p)
    assert bits.shape == (wm.CODED_BITS,)
    assert int("".join(map(str, bits[:32])), 2) == p
    assert int("".join(map(str, bits[32:])), 2) == wm.crc8(p)
    with pytest.raises(wm.WatermarkError):
        wm.encode_bits(2**32)


def test_embed_is_invisible_and_luma_only() -> None:
    frames = _clip(1)
    marked = wm.embed(frames, 0xDEADBEEF)
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert wm.psnr(frames, marked) >= 40.0
    d = marked.astype(int) - frames.astype(int)
    unclipped = (frames > 8).all(-1) & (frames < 247).all(-1)
    assert np.array_equal(d[..., 0][unclipped], d[..., 1][unclipped])  # same change on R, G, B: chroma kept
    assert np.array_equal(wm.embed(frames, 0xDEADBEEF), marked)  # deterministic


@pytest.mark.parametrize("attack", ["crf28", "crop10", "half"])
def test_detects_payload_after_attacks(attack: str) -> None:
    frames = _clip(7, seconds=1.0)
    payload = 0x1234ABCD
    marked = wm.embed(frames, payload)
    if attack == "crf28":
        seen = _h264(marked, 28)
    elif attack == "crop10":
        seen = _h264(marked[:, 12:-12, 12:-12], 23)
    else:
        seen = _h264(marked[:, ::2, ::2].copy(), 23)  # nearest-neighbour half size
    r = wm.detect(seen, expected_payload=payload)
    assert r.detected, r
    assert r.bit_accuracy is not None and r.bit_accuracy >= 0.9
    if attack == "half":
        assert abs(r.scale - 0.5) < 0.02


def test_no_false_alarm_on_unmarked_clips() -> None:
    for seed in (11, 12, 13):
        r = wm.detect(_h264(_clip(seed, size=(192, 112)), 23))
        assert not r.detected and r.payload is None and r.score < wm.WatermarkConfig().threshold


def test_bad_frames_raise() -> None:
    with pytest.raises(wm.WatermarkError, match="uint8"):
        wm.embed(np.zeros((2, 16, 16, 3), np.float32), 1)
    with pytest.raises(wm.WatermarkError):
        wm.detect(np.zeros((0, 16, 16, 3), np.uint8))
    with pytest.raises(wm.WatermarkError, match="strength"):
        wm.WatermarkConfig(strength=0)


@pytest.mark.parametrize("shape", [(128, 128), (96, 176), (5, 7), (2, 1), (300, 7), (1, 9)])
def test_median5_is_scipys_reflect_median(shape: tuple[int, int]) -> None:
    """The embedder's numpy median equals scipy's exactly, ties (integer luma) and tiny frames too."""
    from scipy import ndimage

    from cinegen.trust.watermark import median5

    rng = np.random.default_rng(sum(shape))
    for y in (rng.normal(size=shape) * 40 + 100, rng.integers(0, 6, size=shape).astype(np.float64)):
        want = ndimage.median_filter(y, size=5, mode="reflect")
        np.testing.assert_array_equal(median5(y, band=64), want)
        np.testing.assert_array_equal(median5(y), want)  # the default bands
        np.testing.assert_array_equal(median5(y, band=3), want)  # bands that do not divide the height


def test_median_network_selects_the_13th_of_25() -> None:
    """The selection network behind median5, on 40,000 random columns of 25 (half with many ties), against
    numpy's median; a wrong or missing exchange shows up in a few hundred."""
    from cinegen.trust.watermark import _MEDIAN25_LIVE

    rng = np.random.default_rng(25)
    ties = rng.integers(0, 3, size=(25, 20000)).astype(float)
    cols = np.concatenate([rng.normal(size=(25, 20000)), ties], axis=1)  # (25, 40000)
    v = list(cols.copy())
    for a, b, low, high in _MEDIAN25_LIVE:
        lo, hi = np.minimum(v[a], v[b]), np.maximum(v[a], v[b])
        v[a], v[b] = (lo if low else v[a]), (hi if high else v[b])
    np.testing.assert_array_equal(v[12], np.median(cols, axis=0))


def test_marking_a_clip_does_not_import_scipy() -> None:
    """scipy costs 0.2-0.3 s of every generate; only detection's resampling paths need it."""
    import subprocess
    import sys

    probe = ("import sys, numpy as np\nfrom cinegen.trust.watermark import embed\n"
             "embed(np.full((8, 64, 64, 3), 128, np.uint8), 7)\nprint('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip() == "False"
