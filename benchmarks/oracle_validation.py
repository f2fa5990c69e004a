"""Validate the oracle on rendered ground truth and on deliberately wrong clips.

    .venv/bin/python benchmarks/oracle_validation.py --clips 300 --seed 0 --out oracle_validation.json

Renders `--clips` random backlot scenes (2-4 s, 128x128, 16 fps), encodes each to H.264 (CRF 18)
and decodes it, grades it against its own scene (per-attribute accuracy, target >= 99%), then
grades every `--corrupt-every`-th clip under each corruption (rejection rate: how often the clip
fails). Prints both tables as markdown (docs/eval.md quotes them) and writes the full JSON,
including every failing true clip and every corruption that slipped through.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cinegen.eval.validate import CORRUPTIONS, robustness, validate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corrupt-every", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write the full results as JSON here")
    ap.add_argument("--robustness", type=int, default=0, metavar="N",
                    help="instead: per-attribute accuracy of N true clips under blur, noise, tint, CRF 35")
    args = ap.parse_args()
    if args.robustness:
        return _robustness(args.robustness)
    t0 = time.time()
    res = validate(
        args.clips,
        args.seed,
        args.corrupt_every,
        tuple(CORRUPTIONS),
        progress=lambda k: print(f"\r{k}/{args.clips} clips", end="", file=sys.stderr),
    )
    print(file=sys.stderr)
    d = res.to_dict()
    print(f"## True clips ({res.clips} clips, {res.passed} pass every check; {time.time() - t0:.0f} s)\n")
    print("| attribute | accuracy | checks |")
    print("|---|---|---|")
    for name, a in d["attributes"].items():  # type: ignore[union-attr]
        print(f"| {name} | {100 * a['rate']:.2f}% | {a['passed']}/{a['total']} |")
    print("\n## Corrupted clips\n")
    print("| corruption | rejected | applicable clips |")
    print("|---|---|---|")
    for name, c in d["corruptions"].items():  # type: ignore[union-attr]
        print(f"| {name} | {100 * c['rate']:.1f}% | {c['rejected']}/{c['applicable']} |")
    if res.failures:
        print("\nTrue clips that failed:")
        for f in res.failures:
            sc = f["scene"]
            objs = [(o["color"], o["shape"], o["motion"], o["then"]) for o in sc["objects"]]  # type: ignore[index]
            print(f"- {sc['setting']} {sc['camera']} {objs}: {f['failed']}")  # type: ignore[index]
    if res.missed:
        print("\nCorruptions that passed:")
        for m in res.missed:
            sc = m["scene"]
            objs = [(o["color"], o["shape"], o["motion"], o["then"]) for o in sc["objects"]]  # type: ignore[index]
            print(f"- {m['corruption']}: {sc['setting']} {sc['camera']} {objs}")  # type: ignore[index]
    if args.out is not None:
        args.out.write_text(json.dumps(d, indent=1) + "\n")
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


def _robustness(n: int) -> int:
    res = robustness(n)
    attrs = ["color", "shape", "motion", "then", "relation", "camera", "physics", "permanence"]
    print(f"| degradation ({n} clips, 2 s) | clips passing | " + " | ".join(attrs) + " |")
    print("|---|---|" + "---|" * len(attrs))
    for name, v in res.items():
        cells = []
        for a in attrs:
            p, t = v.attributes.get(a, [0, 0])
            cells.append(f"{p}/{t}" if t else "–")
        print(f"| {name} | {v.passed}/{v.clips} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
