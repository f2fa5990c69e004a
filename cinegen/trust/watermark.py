"""An invisible video watermark in luma that survives H.264, downscaling, cropping and trimming.

Why not `invisible-watermark`: it embeds in chroma, which yuv420p halves, and scores at chance
after an ordinary H.264 encode (see docs/trust.md). This one is spread-spectrum in luma:

* **Payload.** 32 bits (16 from the model id, 16 from the job id) plus a CRC-8: 40 coded bits.
* **Pattern.** A 128x128-pixel tile of 32x32 chips (4 px each). Each coded bit owns 25-26 chips
  scattered over the tile, each times a keyed random sign (repetition coding); a separate keyed
  *sync* template over all chips carries no payload (40% of the energy). Both are band-limited to
  2/128..16/128 cycles per pixel: low enough to survive H.264 at CRF 28 and a 2x downscale, high
  enough to be told apart from smooth content. The tile repeats across the frame and is the same
  in every frame, so a crop is a cyclic shift of the tile and every frame adds evidence.
* **Embedding.** `frame + pattern` on R, G and B alike, i.e. on luma only (chroma unchanged),
  before encoding, at an RMS of `strength` levels (PSNR about 40.8 dB). Informed embedding: the
  embedder runs the detector on the host frames and moves energy from bits the content already
  supports to bits it opposes (same total energy, so the same PSNR).
* **Detection from pixels alone.** Luma averaged over chunks of frames, minus a 5x5 median
  (removes content), clipped (tames edges), averaged; for each scale in a geometric grid
  (0.4x..1.25x, 2% steps, then refined; frames below 0.7x are read 2x-upsampled) the residual is
  resampled back to the tile's scale and folded into one 128x128 tile. The sync template is
  located by FFT cross-correlation over all cyclic shifts on the spectrally whitened tile; its
  peak z-score is the detection score, thresholded at a value set from the measured
  false-positive rate on unwatermarked clips (benchmarks/watermark_robustness.py). The bits are
  the signs of each bit's template correlation at that scale and shift.

Shapes: frames are (T, H, W, 3) uint8 RGB throughout.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

PAYLOAD_BITS = 32
CRC_BITS = 8
CODED_BITS = PAYLOAD_BITS + CRC_BITS
SMALL_SCALE = 0.7  # detection reads a 2x-upsampled residual for frames smaller than this


class WatermarkError(ValueError):
    """Frames or a payload the watermark cannot handle."""


@dataclass(frozen=True)
class WatermarkConfig:
    tile: int = 128  # tile period in pixels at the resolution it is embedded at
    chip: int = 4  # chip size in pixels: the pattern is band-limited to 1 / (2 * chip) cycles/px
    low_cut: int = 2  # lowest spatial frequency kept, in cycles per tile
    strength: float = 2.3  # RMS luma change in 8-bit levels (PSNR about 40.6 dB)
    informed: bool = True  # embedding: compensate for how the content correlates with the pattern
    sync_share: float = 0.4  # share of the pattern's energy in the payload-independent sync template
    key: int = 0xC1E6E1  # seeds the chip layout and signs: detection needs the same key
    residual: str = "median"  # detection: content removed by subtracting a "median" or "gauss" filter
    chunk: int = 4  # detection: frames averaged before the content filter
    whiten: float = 0.75  # detection: folded tile's spectrum divided by |F|^whiten (0 = plain correlation)
    blur_sigma: float = 3.0  # detection: sigma of the "gauss" filter (the median is 5x5)
    min_scale: float = 0.4  # detection: smallest size (vs. the original) searched
    max_scale: float = 1.25  # detection: largest size searched
    scale_step: float = 0.02  # detection: relative step of the coarse scale grid
    threshold: float = 6.0  # detection: sync z-score; null max 5.78 over 1,000 clean clips (docs/trust.md)

    def __post_init__(self) -> None:
        if self.tile % self.chip or self.tile // self.chip < 8:
            raise WatermarkError(f"tile {self.tile} must be a multiple of chip {self.chip} with >= 8 chips")
        if not 0 < self.strength <= 16:
            raise WatermarkError(f"strength must be in (0, 16] luma levels, got {self.strength}")
        if self.residual not in ("median", "gauss"):
            raise WatermarkError(f"residual must be 'median' or 'gauss', got {self.residual!r}")
        if not 0 < self.min_scale < 1 < self.max_scale:
            raise WatermarkError(f"scale range must bracket 1, got {self.min_scale}..{self.max_scale}")


@dataclass(frozen=True)
class WatermarkResult:
    detected: bool
    score: float  # detection statistic; compare with `threshold`
    threshold: float
    payload: int | None  # decoded 32-bit payload (None when not detected)
    crc_ok: bool  # the decoded CRC-8 matches the decoded payload
    bits: tuple[int, ...]  # decoded 40 coded bits (payload then CRC), empty when not detected
    scale: float  # frame size relative to the embedded size (0.5 = downscaled by half)
    bit_accuracy: float | None = None  # against an expected payload, when one was given

    def to_dict(self) -> dict[str, object]:
        return {
            "detected": self.detected,
            "score": round(self.score, 2),
            "threshold": self.threshold,
            "payload": None if self.payload is None else f"{self.payload:08x}",
            "crc_ok": self.crc_ok,
            "scale": round(self.scale, 4),
            "bit_accuracy": self.bit_accuracy,
        }


# ----------------------------------------------------------------------------- payload
def payload_for(model_id: str, job_id: str) -> int:
    """32 bits: the high 16 from the model id, the low 16 from the job id (SHA-256 of each)."""
    m = int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:2], "big")
    j = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:2], "big")
    return (m << 16) | j


def crc8(value: int, nbits: int = PAYLOAD_BITS) -> int:
    """CRC-8 (polynomial 0x07) of the `nbits`-bit big-endian integer `value`."""
    crc = 0
    for i in range(nbits - 1, -1, -1):
        bit = (value >> i) & 1
        top = (crc >> 7) & 1
        crc = (crc << 1) & 0xFF
        if top ^ bit:
            crc ^= 0x07
    return crc


def encode_bits(payload: int) -> np.ndarray:
    """The 40 coded bits (payload MSB first, then CRC-8) as a (40,) int array of 0/1."""
    if not 0 <= payload < 2**PAYLOAD_BITS:
        raise WatermarkError(f"payload must be a {PAYLOAD_BITS}-bit unsigned integer, got {payload}")
    word = (payload << CRC_BITS) | crc8(payload)
    return np.array([(word >> (CODED_BITS - 1 - i)) & 1 for i in range(CODED_BITS)], dtype=np.int64)


def _bits_to_int(bits: np.ndarray) -> int:
    return int("".join(str(int(b)) for b in bits), 2)


# ----------------------------------------------------------------------------- pattern
@functools.lru_cache(maxsize=8)
def _templates(cfg: WatermarkConfig) -> tuple[np.ndarray, np.ndarray]:
    """Band-limited unit-RMS templates: sync (L, L) and per bit (K, L, L), float64."""
    n = cfg.tile // cfg.chip  # chips per side
    rng = np.random.default_rng(cfg.key)
    owner = rng.permutation(n * n) % CODED_BITS  # chip -> coded bit, 6-7 chips per bit
    sign = rng.choice([-1.0, 1.0], size=n * n)
    f = np.fft.fftfreq(cfg.tile) * cfg.tile  # cycles per tile
    radius = np.hypot(f[:, None], f[None, :])
    band = (radius >= cfg.low_cut) & (np.abs(f[:, None]) <= n // 2) & (np.abs(f[None, :]) <= n // 2)
    templates = np.zeros((CODED_BITS, cfg.tile, cfg.tile))
    for k in range(CODED_BITS):
        grid = np.where(owner == k, sign, 0.0).reshape(n, n)  # (n, n) chips of bit k
        up = np.kron(grid, np.ones((cfg.chip, cfg.chip)))  # (L, L) blocky
        templates[k] = np.fft.ifft2(np.fft.fft2(up) * band).real  # band-limited
    templates /= np.sqrt(np.mean(templates.sum(axis=0) ** 2))  # a full message has unit RMS
    sync_chips = rng.choice([-1.0, 1.0], size=(n, n))
    sync = np.fft.ifft2(np.fft.fft2(np.kron(sync_chips, np.ones((cfg.chip, cfg.chip)))) * band).real
    return sync / np.sqrt(np.mean(sync**2)), templates


def watermark_pattern(payload: int, cfg: WatermarkConfig = WatermarkConfig()) -> np.ndarray:
    """The (L, L) tile for `payload`: sync plus message, scaled to unit RMS."""
    sync, templates = _templates(cfg)
    signs = 2.0 * encode_bits(payload) - 1.0  # (K,)
    message = np.tensordot(signs, templates, axes=1)  # (L, L)
    message /= np.sqrt(np.mean(message**2))
    tile = np.sqrt(cfg.sync_share) * sync + np.sqrt(1.0 - cfg.sync_share) * message
    return tile / np.sqrt(np.mean(tile**2))


def embed(frames: np.ndarray, payload: int, cfg: WatermarkConfig = WatermarkConfig()) -> np.ndarray:
    """Add the payload's pattern to every frame's luma. (T, H, W, 3) uint8 -> same shape uint8.

    With `cfg.informed` the embedder knows the host frames (informed spread spectrum): it measures
    how the content itself correlates with each template, as the detector will see it, and moves
    energy from bits the content already supports to bits it opposes, keeping the total energy
    (and so the PSNR) fixed.
    """
    _check_frames(frames)
    sync, templates = _templates(cfg)
    signs = 2.0 * encode_bits(payload) - 1.0  # (K,)
    a_sync = np.sqrt(cfg.sync_share)
    a_bits = np.full(CODED_BITS, np.sqrt(1.0 - cfg.sync_share))
    if cfg.informed:
        a_sync, a_bits = _informed_amplitudes(frames, signs, a_sync, a_bits, cfg)
    tile = a_sync * sync + np.tensordot(a_bits * signs, templates, axes=1)  # (L, L)
    return _add_tile(frames, tile * (cfg.strength / np.sqrt(np.mean(tile**2))), cfg.tile)


def _add_tile(frames: np.ndarray, tile: np.ndarray, period: int) -> np.ndarray:
    t, h, w, _ = frames.shape
    delta = np.tile(tile, (-(-h // period), -(-w // period)))[:h, :w]  # (H, W), same in every frame
    out = np.empty_like(frames)
    for i in range(t):  # equal on R, G, B = luma only; frame by frame keeps memory flat
        out[i] = np.clip(np.rint(frames[i] + delta[:, :, None]), 0, 255).astype(np.uint8)
    return out


def _informed_amplitudes(
    frames: np.ndarray, signs: np.ndarray, a_sync: float, a_bits: np.ndarray, cfg: WatermarkConfig
) -> tuple[float, np.ndarray]:
    sync, templates = _templates(cfg)
    basis = np.concatenate([sync[None], templates])  # (K+1, L, L)
    energy = np.sum(basis**2, axis=(1, 2))  # (K+1,)
    amps = np.concatenate([[a_sync], a_bits])
    sgn = np.concatenate([[1.0], signs])

    def correlations(x: np.ndarray) -> np.ndarray:
        return np.tensordot(basis, _fold(luma_residual(x, cfg), 1.0, cfg.tile), axes=([1, 2], [0, 1]))

    tile = np.tensordot(amps * sgn, basis, axes=1)
    scale = cfg.strength / np.sqrt(np.mean(tile**2))
    host = correlations(frames)  # (K+1,) what the content alone contributes
    marked = correlations(_add_tile(frames, tile * scale, cfg.tile))
    gain = np.clip((marked - host) * sgn / (amps * scale * energy), 0.05, None)  # detector gain per template
    host_amp = host * sgn / (gain * energy * scale)  # the content's support, in amplitude units
    budget = np.sum((amps**2) * energy)
    floor = 0.35 * amps

    def spend(m: float) -> np.ndarray:
        return np.maximum(np.concatenate([[amps[0]], np.full(CODED_BITS, m)]) - host_amp, floor)

    lo, hi = 0.0, 10.0 * float(amps.max())
    for _ in range(40):  # bisection: the largest common margin that fits the energy budget
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.sum(spend(mid) ** 2 * energy) <= budget else (lo, mid)
    new = spend(lo)
    new *= np.sqrt(budget / np.sum(new**2 * energy))
    return float(new[0]), new[1:]


# ----------------------------------------------------------------------------- detection
def luma_residual(frames: np.ndarray, cfg: WatermarkConfig = WatermarkConfig(),
                  upsample: int = 1) -> np.ndarray:
    """Temporal mean of each frame's high-passed, clipped luma. (T, H, W, 3) -> (H*u, W*u) float.

    `upsample` > 1 enlarges the luma first (bilinear), so a downscaled pattern meets the content
    filter at the size it was embedded at.
    """
    _check_frames(frames)
    acc = np.zeros((frames.shape[1] * upsample, frames.shape[2] * upsample))
    chunks = range(0, len(frames), cfg.chunk)
    for c in chunks:  # average luma over short chunks first: same static pattern, 1/chunk the filtering
        f = frames[c : c + cfg.chunk].astype(np.float64).mean(axis=0)  # (H, W, 3)
        y = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114  # (H, W)
        if upsample > 1:
            from scipy import ndimage

            y = ndimage.zoom(y, upsample, order=1, mode="nearest", grid_mode=True)  # (H*u, W*u)
        if cfg.residual == "median":
            r = y - median5(y)
        else:
            from scipy import ndimage

            r = y - ndimage.gaussian_filter(y, cfg.blur_sigma, mode="reflect")
        lim = 3.0 * (np.std(r) + 1e-6)
        acc += np.clip(r, -lim, lim)
    return acc / len(chunks)


# Devillard's 99-comparator selection network for the median of 25 ("Fast median search", 1998; the
# network behind many C median filters): compare-exchanges (i, j) leave the 13th smallest in slot 12.
# Checked once exhaustively by the 0-1 principle (all 2**25 binary inputs; session 14, docs/decisions.md)
# and in tests against scipy and numpy.
_MEDIAN25 = (
    (0, 1), (3, 4), (2, 4), (2, 3), (6, 7), (5, 7), (5, 6), (9, 10), (8, 10), (8, 9), (12, 13), (11, 13),
    (11, 12), (15, 16), (14, 16), (14, 15), (18, 19), (17, 19), (17, 18), (21, 22), (20, 22), (20, 21),
    (23, 24), (2, 5), (3, 6), (0, 6), (0, 3), (4, 7), (1, 7), (1, 4), (11, 14), (8, 14), (8, 11), (12, 15),
    (9, 15), (9, 12), (13, 16), (10, 16), (10, 13), (20, 23), (17, 23), (17, 20), (21, 24), (18, 24),
    (18, 21), (19, 22), (8, 17), (9, 18), (0, 18), (0, 9), (10, 19), (1, 19), (1, 10), (11, 20), (2, 20),
    (2, 11), (12, 21), (3, 21), (3, 12), (13, 22), (4, 22), (4, 13), (14, 23), (5, 23), (5, 14), (15, 24),
    (6, 24), (6, 15), (7, 16), (7, 19), (13, 21), (15, 23), (7, 13), (7, 15), (1, 9), (3, 11), (5, 17),
    (11, 17), (9, 17), (4, 10), (6, 12), (7, 14), (4, 6), (4, 7), (12, 14), (10, 14), (6, 7), (10, 12),
    (6, 10), (6, 17), (12, 17), (7, 17), (7, 10), (12, 18), (7, 12), (10, 18), (12, 20), (10, 20), (10, 12),
)


def _live_exchanges(pairs: tuple[tuple[int, int], ...], keep: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """Each exchange with whether its min and its max are read later (a dead side is not computed)."""
    live, out = {keep}, []
    for a, b in reversed(pairs):
        out.append((a, b, a in live, b in live))
        if a in live or b in live:
            live |= {a, b}
    return tuple(reversed(out))


_MEDIAN25_LIVE = _live_exchanges(_MEDIAN25, 12)


def median5(y: np.ndarray, band: int = 0) -> np.ndarray:
    """5x5 median filter, edges mirrored half a sample out: exactly scipy.ndimage.median_filter(y,
    size=5, mode="reflect") (tested), in numpy, so embedding a watermark does not import scipy
    (0.2-0.3 s of every `cinegen generate`). The 25 shifted copies of a band of rows go through a
    selection network, whole arrays per exchange: 4x faster than a partial sort at 128x128 (one
    thread; docs/benchmarks.md). Bands of about 16k samples keep the copies in cache; `band` sets
    the rows per band instead. (H, W) -> (H, W)."""
    h, w = y.shape
    band = band or max(8, 16384 // max(w, 1))
    padded = np.pad(y, 2, mode="symmetric")  # numpy's "symmetric" is scipy's "reflect"
    out = np.empty_like(y)
    for r in range(0, h, band):
        rows = min(band, h - r)
        v = [padded[r + i : r + i + rows, j : j + w].copy() for i in range(5) for j in range(5)]
        spare = np.empty_like(v[0])  # (rows, W)
        for a, b, low, high in _MEDIAN25_LIVE:
            if low and high:
                np.minimum(v[a], v[b], out=spare)
                np.maximum(v[a], v[b], out=v[b])
                v[a], spare = spare, v[a]
            elif low:
                np.minimum(v[a], v[b], out=v[a])
            elif high:
                np.maximum(v[a], v[b], out=v[b])
        out[r : r + rows] = v[12]
    return out


def _fold(residual: np.ndarray, scale: float, tile: int) -> np.ndarray:
    """Resample `residual` by 1/scale (back to the embedded size) and fold it into one (L, L) tile."""
    h, w = residual.shape
    ho, wo = int(h / scale), int(w / scale)
    if scale == 1.0:
        img = residual
    else:
        yy = (np.arange(ho) + 0.5) * scale - 0.5
        xx = (np.arange(wo) + 0.5) * scale - 0.5
        from scipy import ndimage

        img = ndimage.map_coordinates(residual, np.meshgrid(yy, xx, indexing="ij"), order=1, mode="nearest")
    ph, pw = -(-ho // tile) * tile, -(-wo // tile) * tile
    acc = np.zeros((ph, pw))
    cnt = np.zeros((ph, pw))
    acc[:ho, :wo] = img
    cnt[:ho, :wo] = 1.0
    # (ph, pw) -> (ph/L, L, pw/L, L) -> sum over tiles
    acc_t = acc.reshape(ph // tile, tile, pw // tile, tile).sum(axis=(0, 2))
    cnt_t = cnt.reshape(ph // tile, tile, pw // tile, tile).sum(axis=(0, 2))
    folded = np.where(cnt_t > 0, acc_t / np.maximum(cnt_t, 1.0), 0.0)
    return folded - folded.mean()


def _whiten(folded: np.ndarray, power: float) -> np.ndarray:
    """Flatten the folded tile's spectrum (|F|^-power): content noise is strongly coloured, the
    pattern is not, so this sharpens the correlation peak (partial phase-only correlation)."""
    if power == 0:
        return folded
    f = np.fft.fft2(folded)
    mag = np.abs(f)
    return np.fft.ifft2(f / (mag**power + 1e-6 * (mag.max() + 1e-12) ** power)).real


def _sync_peak(folded: np.ndarray, sync_conj: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Best cyclic shift of the sync template in one whitened folded tile: (z-score, (dy, dx))."""
    corr = np.fft.ifft2(np.fft.fft2(folded) * sync_conj).real  # (L, L) over all shifts
    z = corr / (np.sqrt(np.mean(corr**2)) + 1e-12)
    idx = int(np.argmax(z))
    dy, dx = divmod(idx, corr.shape[1])
    return float(z.flat[idx]), (dy, dx)


def detect(
    frames: np.ndarray,
    cfg: WatermarkConfig = WatermarkConfig(),
    *,
    expected_payload: int | None = None,
) -> WatermarkResult:
    """Look for the watermark in decoded frames (T, H, W, 3) uint8, from the pixels alone."""
    residual = luma_residual(frames, cfg)
    small = luma_residual(frames, cfg, upsample=2) if cfg.min_scale < SMALL_SCALE else residual
    sync, templates = _templates(cfg)

    def fold(s: float) -> np.ndarray:  # scales below SMALL_SCALE read the 2x-upsampled residual
        return _fold(small, 2.0 * s, cfg.tile) if s < SMALL_SCALE else _fold(residual, s, cfg.tile)

    sync_conj = np.conj(np.fft.fft2(sync))
    n = int(np.ceil(np.log(cfg.max_scale / cfg.min_scale) / np.log1p(cfg.scale_step)))
    grid = sorted(set(np.round(np.geomspace(cfg.min_scale, cfg.max_scale, n + 1), 5).tolist()) | {1.0, 0.5})
    best: tuple[float, float, tuple[int, int]] = (-np.inf, 1.0, (0, 0))
    for s in grid:
        z, shift = _sync_peak(_whiten(fold(s), cfg.whiten), sync_conj)
        if z > best[0]:
            best = (z, s, shift)
    s0 = best[1]  # refine around the best coarse scale
    for s in s0 * np.exp(np.linspace(-1.0, 1.0, 9) * np.log1p(cfg.scale_step)):
        z, shift = _sync_peak(_whiten(fold(float(s)), cfg.whiten), sync_conj)
        if z > best[0]:
            best = (z, float(s), shift)
    score, scale, (dy, dx) = best
    folded = np.roll(fold(scale), (-dy, -dx), axis=(0, 1))  # back into register
    corr = np.tensordot(templates, folded, axes=([1, 2], [0, 1]))  # (K,)
    detected = score >= cfg.threshold
    bits = (corr > 0).astype(np.int64)
    payload = _bits_to_int(bits[:PAYLOAD_BITS])
    crc_ok = crc8(payload) == _bits_to_int(bits[PAYLOAD_BITS:])
    acc = None
    if expected_payload is not None:
        acc = float(np.mean(bits[:PAYLOAD_BITS] == encode_bits(expected_payload)[:PAYLOAD_BITS]))
    return WatermarkResult(
        detected=bool(detected),
        score=score,
        threshold=cfg.threshold,
        payload=payload if detected else None,
        crc_ok=bool(crc_ok and detected),
        bits=tuple(int(b) for b in bits) if detected else (),
        scale=scale,
        bit_accuracy=acc,
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of the same shape."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _check_frames(frames: np.ndarray) -> None:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise WatermarkError(f"frames must be (T, H, W, 3) uint8 with T >= 1, got {frames.shape} "
                             f"{frames.dtype}")
