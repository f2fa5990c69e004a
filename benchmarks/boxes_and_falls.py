"""A quick check of the two weakest held-out measures: are boxes drawn as boxes, do falls fall?

Takes the held-out prompts among the first N of `model_adherence.py`'s 200 (same prompts, seeds and
sizes) whose object is a box or falls, renders each with the planner (or a quality's model), and
grades it with the backlot oracle. Prints boxes drawn as boxes, falls read as falls and the median
fall gravity ratio. Used to follow a training run's snapshots in minutes; the figures a model ships
with come from `model_adherence.py`.

    .venv/bin/python benchmarks/boxes_and_falls.py --model DIR [--first 120] [--quality fast]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from model_adherence import prompt_sets  # noqa: E402

from cinegen.eval.oracle import grade  # noqa: E402
from cinegen.pipeline import CinegenPipeline  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--first", type=int, default=120, help="of the 200 held-out prompts")
    ap.add_argument("--quality", default=None)
    args = ap.parse_args()
    pipe = CinegenPipeline.from_pretrained(args.model, dtype="auto")
    held = prompt_sets(50, 2.0, 0, heldout=200)["heldout_single"][: args.first]
    boxes: list[bool] = []
    falls: list[bool] = []
    gravity: list[float] = []
    for i, (prompt, scene) in enumerate(held):
        obj = scene.objects[0]
        if obj.shape != "box" and obj.motion != "fall":
            continue
        out = pipe(prompt, seconds=2.0, seed=i, width=scene.width, height=scene.height, quality=args.quality)
        graded = grade(out.frames, scene.fps, scene)
        results = graded.attribute_results()
        if obj.shape == "box":
            boxes.append(bool(results["shape"][0]))
        if obj.motion == "fall":
            falls.append(bool(results["motion"][0]))
            gravity += [p.gravity_ratio for p in graded.objects[0].physics
                        if p.motion == "fall" and p.gravity_ratio is not None]
    median = f"{statistics.median(gravity):.2f}" if gravity else "n/a"
    print(f"{args.model}: boxes drawn as boxes {sum(boxes)}/{len(boxes)}, falls read as falls "
          f"{sum(falls)}/{len(falls)}, fall gravity ratio median {median}")


if __name__ == "__main__":
    main()
