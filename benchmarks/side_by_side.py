"""Whole `cinegen generate` processes of two checkouts, side by side: runs alternate between the trees
(so a busy or slow spell hits both), each tree warms its own data directory (traces) first, and the
medians print with every run's time. Shows what a code change does to the whole command.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/side_by_side.py /tmp/before . --reps 5 -- --quality fast
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        .venv/bin/python benchmarks/side_by_side.py /tmp/before . --reps 5 -- --quality fast

Each tree runs `python -m cinegen` from its own root with this interpreter, so its own code and
weights are what run. Arguments after `--` go to every `cinegen generate`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a red ball bouncing on a grass field"


def run(tree: Path, data: Path, out: Path, extra: list[str]) -> float:
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "cinegen", "generate", PROMPT, "-o", str(out), "--data-dir", str(data)]
    cmd += extra
    subprocess.run(cmd, cwd=tree, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs=2, type=Path, help="two checkouts: before, after")
    ap.add_argument("--reps", type=int, default=5)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    a.extra = argv[cut + 1 :]  # flags for cinegen generate
    trees = [t.resolve() for t in a.trees]
    for t in trees:
        if not (t / "cinegen" / "__main__.py").exists():
            raise SystemExit(f"{t} is not a cinegen checkout (no cinegen/__main__.py)")
    times: dict[Path, list[float]] = {t: [] for t in trees}
    with tempfile.TemporaryDirectory() as d:
        for i, t in enumerate(trees):  # warm-up: traces into each tree's own data directory
            run(t, Path(d) / f"data{i}", Path(d) / f"warm{i}.mp4", a.extra)
        for _ in range(a.reps):
            for i, t in enumerate(trees):
                times[t].append(run(t, Path(d) / f"data{i}", Path(d) / f"x{i}.mp4", a.extra))
    for t, v in times.items():
        print(f"{str(t):40s} median {statistics.median(v):.3f} s  runs {' '.join(f'{x:.2f}' for x in v)}")
    before, after = (statistics.median(times[t]) for t in trees)
    print(f"after / before: {after / before:.3f}")


if __name__ == "__main__":
    main()
