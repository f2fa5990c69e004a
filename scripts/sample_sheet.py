"""A sample sheet of the shipped model: each row a prompt, its generated frames beside the
ground-truth backlot render of the same prompt. Writes docs/images/sample-sheet.png.

    .venv/bin/python scripts/sample_sheet.py [--model weights/backlot-v1] [--quality full] [--steps 12]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cinegen.backlot.parse import parse_prompt
from cinegen.backlot.render import render_scene
from cinegen.pipeline import CinegenPipeline

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = (
    "a red ball bouncing on a grass field",
    "a blue box falling against a blue sky",
    "a yellow star moving left at sunset",
    "a green triangle moving up at night",
    "a white ball growing in a studio",
    "a purple box left of an orange star on a plain black background",
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / "weights" / "backlot-v1")
    ap.add_argument("--quality", default=None, help="full, or a student the model ships (default: its own)")
    ap.add_argument("--steps", type=int, default=None, help="default: the quality's")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "sample-sheet.png")
    a = ap.parse_args()
    pipe = CinegenPipeline.from_pretrained(a.model)
    cols, size, label_h = 6, 128, 18
    rows = []
    for i, prompt in enumerate(PROMPTS):
        gen = pipe(prompt, seconds=2.0, steps=a.steps, seed=i, quality=a.quality).frames
        truth = render_scene(parse_prompt(prompt, seconds=2.0, seed=i))
        pick = np.linspace(0, len(gen) - 1, cols).round().astype(int)
        strip_gen = np.concatenate([gen[k] for k in pick], axis=1)
        strip_true = np.concatenate([truth[min(k, len(truth) - 1)] for k in pick], axis=1)
        canvas = Image.new("RGB", (cols * size * 2 + 8, size + label_h), (255, 255, 255))
        canvas.paste(Image.fromarray(strip_gen), (0, label_h))
        canvas.paste(Image.fromarray(strip_true), (cols * size + 8, label_h))
        d = ImageDraw.Draw(canvas)
        d.text((4, 3), f"generated: {prompt!r} (seed {i})", fill=(0, 0, 0))
        d.text((cols * size + 12, 3), "backlot ground truth of the same prompt", fill=(90, 90, 90))
        rows.append(np.asarray(canvas))
    Image.fromarray(np.concatenate(rows, axis=0)).save(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
