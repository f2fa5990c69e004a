"""Equal to another implementation's output up to float rounding: what "equal to diffusers' own call"
can mean across CPUs (docs/decisions.md, session 14: on an AMD EPYC with AVX-512, cinegen's LTX-2 call
and diffusers' differ in 1 of 27,648 uint8 values by one level, the waveform by 5e-8)."""

from __future__ import annotations

import numpy as np

MAX_LEVELS = 1  # uint8 frames: no value more than one level apart
MAX_SHARE = 1e-3  # ... and at most this share of values differing at all
AUDIO_ATOL = 1e-6  # waveform samples in [-1, 1]


def assert_frames_match(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.uint8, (got.shape, want.shape)
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    share = float((diff > 0).mean())
    assert diff.max() <= MAX_LEVELS and share <= MAX_SHARE, (int(diff.max()), share)


def assert_audio_matches(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=0, atol=AUDIO_ATOL)
