"""Average two transformers of one architecture, weight by weight (WiSE-FT, Wortsman et al. 2022).

Usage: python scripts/average_weights.py BASE TUNED ALPHA OUT_DIR

OUT_DIR gets (1 - ALPHA) x BASE + ALPHA x TUNED in TUNED's storage dtype, TUNED's config, and
`cinegen.json` with both sources and ALPHA recorded (`blend`). The training-data ledger is TUNED's,
which counts BASE's samples already when TUNED was trained from BASE (the only case this is for:
a fine-tune and the weights it started from; docs/decisions.md, session 13).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file


def average(base: Path, tuned: Path, alpha: float, out: Path) -> Path:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"ALPHA must be in [0, 1], got {alpha}")
    files = sorted(tuned.glob("*.safetensors"))
    if not files or sorted(f.name for f in base.glob("*.safetensors")) != [f.name for f in files]:
        raise ValueError(f"{base} and {tuned} must hold the same weight files")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(tuned, out, ignore=shutil.ignore_patterns("history.json"))
    for f in files:
        b, t = load_file(str(base / f.name)), load_file(str(tuned / f.name))
        if b.keys() != t.keys() or any(b[k].shape != t[k].shape for k in t):
            raise ValueError(f"{f.name}: the two transformers differ in architecture")
        mixed = {k: ((1 - alpha) * b[k].float() + alpha * v.float()).to(v.dtype)
                 if v.is_floating_point() else v for k, v in t.items()}
        save_file(mixed, str(out / f.name), metadata={"format": "pt"})
    meta_path = out / "cinegen.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta["blend"] = {"base": str(base), "tuned": str(tuned), "alpha_tuned": alpha,
                     "base_steps": json.loads((base / "cinegen.json").read_text()).get("steps")
                     if (base / "cinegen.json").exists() else None}
    meta_path.write_text(json.dumps(meta, indent=2))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    print("wrote", average(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])))
