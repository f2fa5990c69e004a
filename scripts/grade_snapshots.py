"""Oracle accuracy against training steps: grade transformer snapshots on held-out prompts.

Each snapshot (a saved transformer directory, e.g. runs/dit/snapshots/step-004000 written by
`cinegen train dit --snapshot-every N`) is put into a copy of the shipped pipeline in place of its
transformer and graded by benchmarks/model_adherence.py on the held-out single-object set (the
same prompts and seeds for every snapshot). Results are appended to docs/training-logs/dit-oracle.json,
which scripts/plot_training.py draws.

    .venv/bin/python scripts/grade_snapshots.py STEP=DIR [STEP=DIR ...] [--per-set 40]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "weights" / "backlot-v1"
OUT = ROOT / "docs" / "training-logs" / "dit-oracle.json"


def grade(step: int, transformer: Path, per_set: int, steps: int, sampler: str) -> dict:
    if not (transformer / "config.json").exists():
        raise SystemExit(f"{transformer} is not a saved transformer (config.json is missing)")
    with tempfile.TemporaryDirectory() as tmp:
        pipe_dir = Path(tmp) / "pipeline"
        pipe_dir.mkdir()
        shutil.copy(SHIPPED / "model_index.json", pipe_dir)
        (pipe_dir / "vae").symlink_to(SHIPPED / "vae")
        (pipe_dir / "transformer").symlink_to(transformer.resolve())
        (pipe_dir / "student").symlink_to(SHIPPED / "student")  # the index declares it; the teacher is graded
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "model_adherence.py"), "--model", str(pipe_dir),
               "--sets", "heldout_single",
               "--per-set", str(per_set), "--quality", "full", "--steps", str(steps), "--sampler", sampler,
               "--dtype", "auto",
               "--json", str(report)]
        subprocess.run(cmd, check=True)
        res = json.loads(report.read_text())
    held = res["heldout_single"]
    return {"step": step, "transformer": str(transformer), "prompts": per_set,
            **{k: held[k]["accuracy"] for k in ("color", "shape", "motion") if k in held},
            "fall_gravity_ratio_median": res["physics"]["fall_gravity_ratio_median"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("snapshots", nargs="+", help="STEP=DIR pairs")
    ap.add_argument("--per-set", type=int, default=40)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--sampler", default="euler",
                    help="euler (every row so far) or unipc; rows compare only at one sampler")
    a = ap.parse_args()
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    for item in a.snapshots:
        step, sep, d = item.partition("=")
        if not sep or not step.isdigit():
            raise SystemExit(f"expected STEP=DIR, got {item!r}")
        row = grade(int(step), Path(d), a.per_set, a.steps, a.sampler)
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if r["step"] != row["step"]] + [row]
        OUT.write_text(json.dumps(sorted(rows, key=lambda r: r["step"]), indent=2))


if __name__ == "__main__":
    main()
