"""Find the backlot's objects in pixels: palette colour per pixel, connected blobs, shape descriptors.

The world paints objects in seven named colours (`vocab.COLORS`) whose hues are far apart, over
backgrounds chosen to contrast with them. So a pixel is an object pixel when it is close to one
palette colour in CIELAB, with lightness down-weighted (the renderer shades each object a little
and darkens it at night; generated video drifts more in lightness than in hue). White is the one
neutral colour, and bright skies and clouds are nearly neutral too, so white is matched by low
chroma and high lightness instead. Blobs are 8-connected components of one colour with holes
filled; their shape is read from bounding-box fill ratio and convex-hull solidity, which separate
the four shapes with wide margins (star: convex-hull solidity ~0.65; triangle: a third of its
area in the top half; ball 0.785 bounding-box fill, box ~1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from cinegen.backlot.render import PILLAR_RGB
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
CHROMA_SIGMA = 0.8  # px, smoothing of the colour channels before matching (see frame_blobs)
MIN_AREA_FRAC = 0.0008  # blobs smaller than this fraction of the frame (13 px at 128x128) are noise
MIN_AREA_PX = 8

# ---- shape descriptors: thresholds between the four shapes' values (measured on encoded clips)
STAR_MAX_SOLIDITY = 0.8  # star ~0.65, every other shape > 0.8
TRIANGLE_MAX_BALANCE = 0.68  # top-half / bottom-half area: triangle 0.32..0.55, ball/box >= 0.84
STAR_MAX_FILL = 0.64  # a convex-looking blob below this fill is a blurred star (ball >= 0.69)
BALL_MAX_FILL = 0.885  # ball ~0.785, box ~0.95+
SHAPE_MIN_AREA_PX = 30  # smaller blobs are too few pixels to name a shape

# ---- background rejection: an object stands out from what surrounds it; a patch of background
# that happens to sit near a palette colour (a grass field, a studio floor, a bright cloud) fades
# smoothly into similar pixels. The ring 2..5 px outside a blob (beyond the dark outline) decides.
RING_INNER, RING_OUTER = 2, 5
MIN_CONTRAST = 15.0  # see blob_contrast; measured: background patches <= 12.3, objects >= 28
MIN_CONTRAST_WHITE = 8.0  # in chroma units; studio floor <= 2.3, white over grass/sky >= 12.8
PAINT_MARGIN_PX, PAINT_MARGIN_FRAC = 3, 0.25  # margin around blobs that camera fitting ignores
MAX_ASPECT = 3.0
PILLAR_MAX_DIST = 12.0  # ΔE from the pillar's shaded brown
PILLAR_MIN_ROWS = 0.9  # fraction of a column's rows that must show the pillar
PILLAR_TOUCH_PX = 2  # a blob this close to the pillar is cut by it
NEIGHBOUR_PX = 3  # a blob whose box comes this close to another blob's may be hidden by it
# (objects are compact; thin strips along a horizon or gradient are background)


_v = np.arange(256, dtype=np.float64) / 255.0
_SRGB_TO_LINEAR = np.where(_v > 0.04045, ((_v + 0.055) / 1.055) ** 2.4, _v / 12.92).astype(np.float32)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) to CIELAB (D65) float32 (..., 3)."""
    c = _SRGB_TO_LINEAR[rgb]
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32)
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return lab.astype(np.float32)


PALETTE_LAB = srgb_to_lab(np.asarray([COLORS[c] for c in COLOR_NAMES], np.uint8))  # (7, 3)


def palette_distance(lab: np.ndarray) -> np.ndarray:
    """Weighted ΔE from each pixel to each palette colour: (..., 3) -> (..., 7)."""
    out = np.empty(lab.shape[:-1] + (len(PALETTE_LAB),), np.float32)
    for k, (pl, pa, pb) in enumerate(PALETTE_LAB):
        out[..., k] = np.sqrt(
            (LIGHTNESS_WEIGHT * (lab[..., 0] - pl)) ** 2 + (lab[..., 1] - pa) ** 2 + (lab[..., 2] - pb) ** 2
        )
    return out


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
    cut: bool  # touches the frame border or the pillar: its outline is not all its own
    fill: float  # area / bbox area
    solidity: float  # area / convex hull area
    lab: tuple[float, float, float]  # mean CIELAB of its pixels
    contrast: float  # see blob_contrast
    balance: float = 1.0  # area in the top half of its box / area in the bottom half
    crowded: bool = False  # close to another object's blob, which may hide part of it

    @property
    def shape(self) -> str | None:
        if self.cut:
            return None
        return classify_shape(self.fill, self.solidity, self.area, self.balance)

    @property
    def size(self) -> float:
        """A shape-independent linear size in pixels: sqrt(area)."""
        return float(np.sqrt(self.area))


def classify_shape(fill: float, solidity: float, area: float, balance: float = 1.0) -> str | None:
    """Name a blob's shape from its descriptors; None when it is too small to tell.

    Stars are the only non-convex shape; the triangle (pointing up, as the world draws it) is the
    only one with most of its area in the bottom half, which survives blur and 4:2:0 chroma far
    better than its fill ratio does; a ball fills pi/4 of its box and a box all of it.
    """
    if area < SHAPE_MIN_AREA_PX:
        return None
    if solidity < STAR_MAX_SOLIDITY:
        return "star"
    if balance < TRIANGLE_MAX_BALANCE:
        return "triangle"
    if fill < STAR_MAX_FILL:  # not bottom-heavy, yet far from filling its box: a blurred star
        return "star"
    if fill < BALL_MAX_FILL:
        return "ball"
    return "box"


assert set(SHAPES) == {"ball", "box", "triangle", "star"}  # the descriptors above know these four


def _balance(mask: np.ndarray) -> float:
    rows = mask.sum(1).astype(np.float64)
    n = len(rows)
    top = rows[: n // 2].sum() + (rows[n // 2] / 2 if n % 2 else 0.0)
    bottom = rows[(n + 1) // 2 :].sum() + (rows[n // 2] / 2 if n % 2 else 0.0)
    return float(top / max(bottom, 1.0))


def _solidity(mask: np.ndarray, area: float) -> float:
    ys, xs = np.nonzero(mask)
    # pixel corners, so a one-pixel-wide blob still has a hull
    corners = [np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)]
    pts = np.concatenate(corners).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):
        return 1.0
    return float(min(area / max(hull.volume, 1e-9), 1.0))


def _color_distance(lab: np.ndarray, color: int) -> np.ndarray:
    """How far pixels (N, 3) are from one palette colour: weighted ΔE, or chroma for white."""
    if color == WHITE:
        return np.hypot(lab[:, 1], lab[:, 2]) + 0.5 * np.maximum(WHITE_MIN_L - lab[:, 0], 0.0)
    return palette_distance(lab)[:, color]


def blob_contrast(
    lab: np.ndarray, mask: np.ndarray, sl: tuple[slice, slice], color: int, labels: np.ndarray | None = None
) -> float:
    """How much further from the blob's colour its surroundings are than the blob itself.

    The lower quartile of the ring 2..5 px outside the blob (beyond the dark outline; background
    pixels only, where `labels` are given) against the blob's mean: an object over a contrasting background
    scores high all round; a patch of
    background that crossed the colour threshold has similar pixels on at least one side.
    """
    h, w = lab.shape[:2]
    pad = RING_OUTER + 1
    y0, y1 = max(sl[0].start - pad, 0), min(sl[0].stop + pad, h)
    x0, x1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, w)
    big = np.zeros((y1 - y0, x1 - x0), bool)
    big[sl[0].start - y0 : sl[0].stop - y0, sl[1].start - x0 : sl[1].stop - x0] = mask
    ring = ndimage.binary_dilation(big, iterations=RING_OUTER) & ~ndimage.binary_dilation(big,
                                                                                          iterations=RING_INNER)
    if labels is not None:  # only background counts: a neighbouring object is no evidence either way
        ring &= labels[y0:y1, x0:x1] < 0
    if not ring.any():
        return float("inf")
    sub = lab[y0:y1, x0:x1]
    outside = float(np.percentile(_color_distance(sub[ring], color), 25))
    inside = float(_color_distance(sub[big], color).mean())
    return outside - inside


def _paint_margin(paint: np.ndarray, mask: np.ndarray, sl: tuple[slice, slice], area: float) -> None:
    h, w = paint.shape
    m = PAINT_MARGIN_PX + int(round(PAINT_MARGIN_FRAC * np.sqrt(area)))
    y0, y1 = max(sl[0].start - m, 0), min(sl[0].stop + m, h)
    x0, x1 = max(sl[1].start - m, 0), min(sl[1].stop + m, w)
    big = np.zeros((y1 - y0, x1 - x0), bool)
    big[sl[0].start - y0 : sl[0].stop - y0, sl[1].start - x0 : sl[1].stop - x0] = mask
    paint[y0:y1, x0:x1] |= ndimage.binary_dilation(big, iterations=m)


def find_pillar(lab: np.ndarray) -> tuple[int, int] | None:
    """Columns [x0, x1) of the world's occluding pillar in one frame (CIELAB (H, W, 3)), or None.

    The pillar is a full-height band of one brown (`render.PILLAR_RGB`, shaded 1.1 at the top to
    0.85 at the bottom) drawn in front of everything, so every row of its columns shows it.
    """
    h, w = lab.shape[:2]
    shade = np.linspace(1.1, 0.85, h)[:, None]
    shaded = np.clip(np.asarray(PILLAR_RGB, np.float64)[None, :] * shade + 0.5, 0, 255)
    ref = srgb_to_lab(shaded.astype(np.uint8))
    d = np.sqrt(((lab - ref[:, None, :]) ** 2).sum(-1))  # (H, W)
    cols = (d <= PILLAR_MAX_DIST).mean(0) >= PILLAR_MIN_ROWS
    if not cols.any():
        return None
    comp, n = ndimage.label(cols)
    sizes = ndimage.sum(cols, comp, range(1, n + 1))
    k = int(np.argmax(sizes)) + 1
    xs = np.nonzero(comp == k)[0]
    return int(xs[0]), int(xs[-1]) + 1


def _near(pillar: tuple[int, int] | None, x0: int, x1: int) -> bool:
    return pillar is not None and x0 <= pillar[1] + PILLAR_TOUCH_PX and x1 >= pillar[0] - PILLAR_TOUCH_PX


def _merge_across(blobs: list[Blob], pillar: tuple[int, int]) -> list[Blob]:
    """One object seen on both sides of the pillar is one blob (its parts, area-weighted)."""
    out: list[Blob] = []
    for c in {b.color for b in blobs}:
        same = [b for b in blobs if b.color == c]
        left = [b for b in same if b.cut and abs(b.bbox[3] - pillar[0]) <= PILLAR_TOUCH_PX + 1]
        right = [b for b in same if b.cut and abs(b.bbox[1] - pillar[1]) <= PILLAR_TOUCH_PX + 1]
        used: set[int] = set()
        for a in left:
            for b in right:
                if id(b) in used or id(a) in used:
                    continue
                if min(a.bbox[2], b.bbox[2]) <= max(a.bbox[0], b.bbox[0]):
                    continue  # no rows in common
                area = a.area + b.area
                wa = a.area / area
                out.append(
                    Blob(
                        color=c,
                        area=area,
                        cx=wa * a.cx + (1 - wa) * b.cx,
                        cy=wa * a.cy + (1 - wa) * b.cy,
                        bbox=(min(a.bbox[0], b.bbox[0]), a.bbox[1], max(a.bbox[2], b.bbox[2]), b.bbox[3]),
                        touches_border=a.touches_border or b.touches_border,
                        cut=True,
                        fill=float("nan"),
                        solidity=float("nan"),
                        lab=tuple(float(wa * p + (1 - wa) * q)  # type: ignore[arg-type]
                                  for p, q in zip(a.lab, b.lab, strict=True)),
                        contrast=min(a.contrast, b.contrast),
                    )
                )
                used.update((id(a), id(b)))
        out.extend(b for b in same if id(b) not in used)
    return out


def find_blobs(labels: np.ndarray, lab: np.ndarray, paint: np.ndarray | None = None) -> list[Blob]:
    """Object blobs of one frame: palette labels (H, W) int8 and the frame's CIELAB (H, W, 3).

    `paint` (H, W) bool, when given, is set True under every accepted blob and a margin around it
    (its outline, a star's thin tips, codec ringing): the pixels camera estimation must not use.
    """
    h, w = labels.shape
    pillar = find_pillar(lab)
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
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            bh, bw = y1 - y0, x1 - x0
            if max(bh, bw) > MAX_ASPECT * min(bh, bw):
                continue
            contrast = blob_contrast(lab, mask, sl, int(c), labels)
            if contrast < (MIN_CONTRAST_WHITE if c == WHITE else MIN_CONTRAST):
                continue
            area = float(mask.sum())
            if paint is not None:
                _paint_margin(paint, mask, sl, area)
            ys, xs = np.nonzero(mask)
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
                    cut=y0 <= 0 or x0 <= 0 or y1 >= h or x1 >= w or _near(pillar, x0, x1),
                    fill=area / float((y1 - y0) * (x1 - x0)),
                    balance=_balance(mask),
                    solidity=_solidity(mask, area),
                    lab=(float(m[0]), float(m[1]), float(m[2])),
                    contrast=contrast,
                )
            )
    if pillar is not None:
        blobs = _merge_across(blobs, pillar)
    return _merge_split(_mark_overlaps(blobs))


def _splits(a: Blob, b: Blob, o: Blob) -> bool:
    """Does `o` (another colour) sit in the gap between `a` and `b`, side by side or one above the
    other, so that a and b may be two visible parts of one object behind it?"""
    for lo, hi in ((1, 3), (0, 2)):  # columns (side by side), then rows (stacked)
        olo, ohi = (0, 2) if lo == 1 else (1, 3)  # the other axis
        if min(a.bbox[ohi], b.bbox[ohi]) <= max(a.bbox[olo], b.bbox[olo]):
            continue  # no overlap across the other axis: not side by side along this one
        g0, g1 = min(a.bbox[hi], b.bbox[hi]), max(a.bbox[lo], b.bbox[lo])  # the gap along this axis
        if g1 - g0 < -NEIGHBOUR_PX or g1 - g0 > (o.bbox[hi] - o.bbox[lo]) + 2 * NEIGHBOUR_PX:
            continue
        if o.bbox[lo] <= g0 + NEIGHBOUR_PX and o.bbox[hi] >= g1 - NEIGHBOUR_PX:
            return True
    return False


def _merge_split(blobs: list[Blob]) -> list[Blob]:
    """One object cut in two by another passing in front of it is one (cut) blob."""
    out = list(blobs)
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(out):
            for j, b in enumerate(out):
                if j <= i or a.color != b.color or not (a.crowded and b.crowded):
                    continue
                if not any(o.color != a.color and _splits(a, b, o) for o in out):
                    continue
                area = a.area + b.area
                wa = a.area / area
                merged = dataclasses.replace(
                    a,
                    area=area,
                    cx=wa * a.cx + (1 - wa) * b.cx,
                    cy=wa * a.cy + (1 - wa) * b.cy,
                    bbox=(min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1]), max(a.bbox[2], b.bbox[2]),
                          max(a.bbox[3], b.bbox[3])),
                    touches_border=a.touches_border or b.touches_border,
                    cut=True,
                    fill=float("nan"),
                    solidity=float("nan"),
                )
                out = [o for k, o in enumerate(out) if k not in (i, j)] + [merged]
                changed = True
                break
            if changed:
                break
    return out


def _mark_overlaps(blobs: list[Blob]) -> list[Blob]:
    """A blob touching another object's blob may be partly hidden by it: mark it crowded."""
    out = []
    m = NEIGHBOUR_PX
    for a in blobs:
        near = any(
            b is not a
            and a.bbox[0] - m < b.bbox[2]
            and b.bbox[0] < a.bbox[2] + m
            and a.bbox[1] - m < b.bbox[3]
            and b.bbox[1] < a.bbox[3] + m
            for b in blobs
        )
        out.append(dataclasses.replace(a, crowded=True) if near else a)
    return out


def frame_blobs(frames: np.ndarray) -> tuple[list[list[Blob]], np.ndarray]:
    """Blobs of every frame, and a (T, H, W) bool mask of the pixels they cover.

    Frame by frame, so the float colour planes of a minute-long clip never sit in memory at once.
    """
    covered = np.zeros(frames.shape[:-1], bool)
    out = []
    for t in range(frames.shape[0]):
        lab = srgb_to_lab(frames[t])
        if CHROMA_SIGMA > 0:
            # 4:2:0 video carries colour at half resolution; the decoder's blocky 2x2 chroma makes
            # small blobs square. A little smoothing of a*, b* rounds them again.
            for c in (1, 2):
                lab[..., c] = ndimage.gaussian_filter(lab[..., c], CHROMA_SIGMA)
        out.append(find_blobs(label_lab(lab), lab, covered[t]))
    return out, covered
