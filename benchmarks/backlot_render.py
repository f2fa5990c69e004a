"""Backlot render speed: frames per second for a 4 s 128x128 clip (median of 5 runs).

    .venv/bin/python benchmarks/backlot_render.py

Prints one line per scene kind and the figure docs/benchmarks.md quotes (the typical scene).
"""

from __future__ import annotations

import statistics
import time

from cinegen.backlot.parse import parse_prompt
from cinegen.backlot.render import render_scene

SCENES = {
    "typical (1 object, static camera)": "a red ball moving left, then falling, on a grass field",
    "moving camera": "a blue star bouncing against a blue sky, the camera pans left",
    "worst case (3 objects, night, pan)": (
        "a red ball moving left, a white box falling, and a yellow star growing, at night, camera pans right"
    ),
}


def frames_per_second(prompt: str, runs: int = 5) -> float:
    scene = parse_prompt(prompt, seconds=4.0, fps=16, width=128, height=128)
    render_scene(scene)  # warm up
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        frames = render_scene(scene)
        rates.append(len(frames) / (time.perf_counter() - t))
    return statistics.median(rates)


def main() -> None:
    for name, prompt in SCENES.items():
        print(f"backlot render, 4 s 128x128 @ 16 fps, {name}: {frames_per_second(prompt):.0f} frames/s")


if __name__ == "__main__":
    main()
