"""Write docs/images/backlot-grid.png: every backlot vocabulary item, rendered and labelled.

Sections: shapes x colours; each motion (and a mid-clip change) as first | middle | last frames;
each setting; each camera move as first | middle | last; each relation; the occluding pillar.

    .venv/bin/python scripts/make_backlot_grid.py [--out docs/images/backlot-grid.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cinegen.backlot.parse import parse_prompt
from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import ObjectSpec, SceneSpec
from cinegen.backlot.vocab import COLORS, SHAPES

CELL = 72  # pixels per rendered frame
GAP = 6
LABEL_H = 14
TITLE_H = 20
STRIP = 3 * CELL + 2 + GAP + 4  # pitch of a first | middle | last strip
WIDTH = 4 * STRIP + GAP
BG = (250, 250, 250)
INK = (20, 20, 20)

MOTIONS = [
    ("moving left", "a red ball moving left"),
    ("moving right", "an orange box moving right"),
    ("moving up", "a yellow triangle moving up"),
    ("moving down", "a green star moving down"),
    ("falling (bounces, loses energy)", "a blue ball falling"),
    ("bouncing", "a purple box bouncing"),
    ("staying still", "a white triangle staying still"),
    ("growing", "a red star growing"),
    ("shrinking", "a green ball shrinking"),
    ("change: moving right, then falling", "a yellow box moving right, then falling"),
]
SETTINGS = [
    ("plain black", "a white star on a plain black background"),
    ("studio grey", "a red ball in a grey studio"),
    ("blue sky", "a yellow triangle against a blue sky"),
    ("grass field", "a purple box on a grass field under the sky"),
    ("night", "a white ball at night"),
    ("sunset", "a blue star at sunset"),
]
CAMERAS = [
    ("static", "a red ball staying still on a grass field, static camera"),
    ("pan left", "a red ball staying still on a grass field, the camera pans left"),
    ("pan right", "a red ball staying still on a grass field, the camera pans right"),
    ("zoom in", "a red ball staying still on a grass field, the camera zooms in"),
    ("zoom out", "a red ball staying still on a grass field, the camera zooms out"),
]
RELATIONS = [
    ("red ball left of blue box", "a red ball to the left of a blue box, in the sky"),
    ("red ball right of blue box", "a red ball to the right of a blue box, in the sky"),
    ("red ball above blue box", "a red ball above a blue box, in the sky"),
    ("red ball below blue box", "a red ball below a blue box, in the sky"),
]
OCCLUDER = ("passing behind a pillar", "an orange star moving right, passing behind a pillar, at sunset")
THREE = ("three objects", "a red ball moving left, a white box falling, and a yellow star growing, at night")


def _clip(prompt: str, seconds: float = 2.0) -> np.ndarray:
    """(T, CELL, CELL, 3) uint8 frames of a prompt."""
    return render_scene(parse_prompt(prompt, seconds=seconds, fps=8, width=CELL, height=CELL, seed=1))


def _strip(frames: np.ndarray) -> np.ndarray:
    """First | middle | last frame side by side: (CELL, 3 * CELL + 2, 3)."""
    picks = [frames[0], frames[len(frames) // 2], frames[-1]]
    sep = np.full((CELL, 1, 3), 255, np.uint8)
    return np.concatenate([picks[0], sep, picks[1], sep, picks[2]], axis=1)


class Sheet:
    def __init__(self) -> None:
        self.img = Image.new("RGB", (WIDTH, 4000), BG)
        self.draw = ImageDraw.Draw(self.img)
        self.font = ImageFont.load_default()
        self.y = GAP

    def title(self, text: str) -> None:
        self.y += 4
        self.draw.text((GAP, self.y + 3), text, fill=INK, font=self.font)
        self.draw.line((GAP, self.y + TITLE_H - 3, WIDTH - GAP, self.y + TITLE_H - 3), fill=(160, 160, 160))
        self.y += TITLE_H

    def row(self, items: list[tuple[str, np.ndarray]], pitch: int) -> None:
        """Paste labelled images left to right, wrapping every WIDTH."""
        x = GAP
        h = 0
        for label, arr in items:
            if x + arr.shape[1] > WIDTH:
                x, self.y = GAP, self.y + h + LABEL_H + GAP
            self.img.paste(Image.fromarray(arr), (x, self.y))
            self.draw.text((x, self.y + arr.shape[0] + 1), label, fill=INK, font=self.font)
            h = max(h, arr.shape[0])
            x += pitch
        self.y += h + LABEL_H + GAP

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.img.crop((0, 0, WIDTH, self.y)).save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/backlot-grid.png"))
    args = ap.parse_args()
    sheet = Sheet()

    sheet.title(
        "Shapes x colours (ball/circle, box/square, triangle, star; 7 colours with slight shade variation)"
    )
    pitch = (WIDTH - GAP) // len(COLORS)
    size = pitch - GAP
    for shape in SHAPES:
        items = []
        for k, color in enumerate(COLORS):
            obj = ObjectSpec(shape, color, size=0.28, shade=round(np.sin(k * 2.3), 2))
            scene = SceneSpec(
                objects=(obj,), setting="studio", seconds=0.125, fps=8, width=size, height=size, seed=k
            )
            items.append((f"{color} {shape}", render_scene(scene)[0]))
        sheet.row(items, pitch)

    sheet.title("Motions: first | middle | last frame of a 2 s clip")
    sheet.row([(label, _strip(_clip(p))) for label, p in MOTIONS], STRIP)

    sheet.title("Settings")
    sheet.row([(label, _clip(p, 0.125)[0]) for label, p in SETTINGS], CELL + 52)

    sheet.title("Camera: first | middle | last frame")
    sheet.row([(label, _strip(_clip(p))) for label, p in CAMERAS], STRIP)

    sheet.title("Relations (at the clip start), occlusion, and three objects")
    sheet.row([(label, _clip(p, 0.125)[0]) for label, p in RELATIONS], CELL + 108)
    sheet.row([(label, _strip(_clip(p))) for label, p in (OCCLUDER, THREE)], 3 * CELL + 2 + GAP + 110)

    sheet.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
