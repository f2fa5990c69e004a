"""Find the backlot's objects in pixels: palette colour per pixel, connected blobs, shape descriptors.

The world paints objects in seven named colours (`vocab.COLORS`) whose hues are far apart, over
backgrounds chosen to contrast with them. So a pixel is an object pixel when it is close to one
palette colour in CIELAB, with lightness down-weighted (the renderer shades each object a little
and darkens it at night; generated video drifts more in lightness than in hue). White is the one
neutral colour, and bright skies and clouds are nearly neutral too, so white is matched by low
chroma and high lightness instead. Blobs are 8-connected components of one colour with holes
filled; their shape is read from bounding-box fill ratio and convex-hull solidity, which separate
the four shapes with wide margins (ball 0.785 fill, box ~1, triangle ~0.5, star solidity ~0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from cinegen.backlot.vocab import COLORS, SHAPES

COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
WHITE = COLOR_NAMES.index("white")

# ---- colour matching (CIELAB units)
LIGHTNESS_WEIGHT = 0.5  # ΔL counts half: shade and night darkening move lightness, not hue
COLOR_MAX_DIST = 24.0  # a chromatic pixel within this weighted ΔE of a palette colour is that colour
# (measured: rendered object interiors after H.264 stay within ~15; the nearest background of a
# setting that random scenes pair with that colour stays beyond ~31: red over a sunset)
WHITE_MAX_CHROMA = 9.0  # white: nearly neutral ...
WHITE_MIN_L = 62.0  # ... and bright (night dims white to L~80; bright sky/cloud has chroma >= 12)

# ---- blobs
MIN_AREA_FRAC = 0.0008  # blobs smaller than this fraction of the frame (13 px at 128x128) are noise
MIN_AREA_PX = 8

# ---- shape descriptors: thresholds between the four shapes' values
STAR_MAX_SOLIDITY = 0.8  # star ~0.55, every other shape > 0.9
TRIANGLE_MAX_FILL = 0.64  # triangle ~0.5, ball ~0.785
BALL_MAX_FILL = 0.885  # ball ~0.785, box ~0.95+
SHAPE_MIN_AREA_PX = 30  # smaller blobs are too few pixels to name a shape

# ---- background rejection: an object stands out from what surrounds it; a patch of background
# that happens to sit near a palette colour (a grass field, a studio floor, a bright cloud) fades
# smoothly into similar pixels. The ring 2..5 px outside a blob (beyond the dark outline) decides.
RING_INNER, RING_OUTER = 2, 5
RING_NEAR_DIST = 1.6 * COLOR_MAX_DIST  # a ring pixel this close to the blob's colour is "similar"
RING_MAX_SIMILAR = 0.5  # blobs whose ring is mostly similar are background


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) to CIELAB (D65) float32 (..., 3)."""
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32)
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return lab.astype(np.float32)


PALETTE_LAB = srgb_to_lab(np.asarray([COLORS[c] for c in COLOR_NAMES], np.uint8))  # (7, 3)


def palette_distance(lab: np.ndarray) -> np.ndarray:
    """Weighted ΔE from each pixel to each palette colour: (..., 3) -> (..., 7)."""
    d = lab[..., None, :] - PALETTE_LAB
    d[..., 0] *= LIGHTNESS_WEIGHT
    return np.sqrt((d * d).sum(-1))


def label_lab(lab: np.ndarray) -> np.ndarray:
    """Palette index of every pixel, or -1 for background: CIELAB (H, W, 3) -> (H, W) int8."""
    d = palette_distance(lab)
    d[..., WHITE] = np.inf
    best = d.argmin(-1)
    near = np.take_along_axis(d, best[..., None], -1)[..., 0] <= COLOR_MAX_DIST
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    white = (chroma <= WHITE_MAX_CHROMA) & (lab[..., 0] >= WHITE_MIN_L)
    return np.where(white, WHITE, np.where(near, best, -1)).astype(np.int8)


def label_pixels(frames: np.ndarray) -> np.ndarray:
    """Palette index of every pixel, or -1: (T, H, W, 3) uint8 -> (T, H, W) int8."""
    return np.stack([label_lab(srgb_to_lab(f)) for f in frames])


@dataclass(frozen=True)
class Blob:
    """One connected region of one palette colour in one frame (pixel coordinates)."""

    color: int  # index into COLOR_NAMES
    area: float  # pixels, holes filled
    cx: float
    cy: float
    bbox: tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive)
    touches_border: bool
    fill: float  # area / bbox area
    solidity: float  # area / convex hull area
    lab: tuple[float, float, float]  # mean CIELAB of its pixels

    @property
    def shape(self) -> str | None:
        return classify_shape(self.fill, self.solidity, self.area)

    @property
    def size(self) -> float:
        """A shape-independent linear size in pixels: sqrt(area)."""
        return float(np.sqrt(self.area))


def classify_shape(fill: float, solidity: float, area: float) -> str | None:
    """Name a blob's shape from its descriptors; None when it is too small to tell."""
    if area < SHAPE_MIN_AREA_PX:
        return None
    if solidity < STAR_MAX_SOLIDITY:
        return "star"
    if fill < TRIANGLE_MAX_FILL:
        return "triangle"
    if fill < BALL_MAX_FILL:
        return "ball"
    return "box"


assert set(SHAPES) == {"ball", "box", "triangle", "star"}  # the descriptors above know these four


def _solidity(mask: np.ndarray, area: float) -> float:
    ys, xs = np.nonzero(mask)
    # pixel corners, so a one-pixel-wide blob still has a hull
    pts = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)]).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):
        return 1.0
    return float(min(area / max(hull.volume, 1e-9), 1.0))


def _ring_similarity(lab: np.ndarray, mask: np.ndarray, sl: tuple[slice, slice], color: int) -> float:
    """Fraction of the ring around a blob whose colour is close to the blob's palette colour."""
    h, w = lab.shape[:2]
    pad = RING_OUTER + 1
    y0, y1 = max(sl[0].start - pad, 0), min(sl[0].stop + pad, h)
    x0, x1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, w)
    big = np.zeros((y1 - y0, x1 - x0), bool)
    big[sl[0].start - y0 : sl[0].stop - y0, sl[1].start - x0 : sl[1].stop - x0] = mask
    outer = ndimage.binary_dilation(big, iterations=RING_OUTER)
    inner = ndimage.binary_dilation(big, iterations=RING_INNER)
    ring = outer & ~inner
    if not ring.any():
        return 0.0
    px = lab[y0:y1, x0:x1][ring]
    if color == WHITE:
        near = (np.hypot(px[:, 1], px[:, 2]) <= 2 * WHITE_MAX_CHROMA) & (px[:, 0] >= WHITE_MIN_L - 10)
    else:
        near = palette_distance(px)[:, color] <= RING_NEAR_DIST
    return float(near.mean())


def find_blobs(labels: np.ndarray, lab: np.ndarray) -> list[Blob]:
    """Object blobs of one frame: palette labels (H, W) int8 and the frame's CIELAB (H, W, 3)."""
    h, w = labels.shape
    min_area = max(MIN_AREA_PX, MIN_AREA_FRAC * h * w)
    blobs: list[Blob] = []
    structure = np.ones((3, 3), bool)
    for c in np.unique(labels):
        if c < 0:
            continue
        comp, n = ndimage.label(labels == c, structure=structure)
        if n == 0:
            continue
        for i, sl in enumerate(ndimage.find_objects(comp), start=1):
            if sl is None:
                continue
            raw = comp[sl] == i
            if raw.sum() < min_area:
                continue
            mask = ndimage.binary_fill_holes(raw)
            if _ring_similarity(lab, mask, sl, int(c)) > RING_MAX_SIMILAR:
                continue
            area = float(mask.sum())
            ys, xs = np.nonzero(mask)
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            cy, cx = float(ys.mean() + y0 + 0.5), float(xs.mean() + x0 + 0.5)
            m = lab[sl][raw].mean(0)
            blobs.append(
                Blob(
                    color=int(c),
                    area=area,
                    cx=cx,
                    cy=cy,
                    bbox=(y0, x0, y1, x1),
                    touches_border=y0 <= 0 or x0 <= 0 or y1 >= h or x1 >= w,
                    fill=area / float((y1 - y0) * (x1 - x0)),
                    solidity=_solidity(mask, area),
                    lab=(float(m[0]), float(m[1]), float(m[2])),
                )
            )
    return blobs


def frame_blobs(frames: np.ndarray) -> tuple[list[list[Blob]], np.ndarray]:
    """Blobs of every frame, and the (T, H, W) palette labels they came from (frame by frame, so
    the float colour planes of a minute-long clip never sit in memory at once)."""
    labels = np.empty(frames.shape[:-1], np.int8)
    out = []
    for t in range(frames.shape[0]):
        lab = srgb_to_lab(frames[t])
        labels[t] = label_lab(lab)
        out.append(find_blobs(labels[t], lab))
    return out, labels
