"""Plot training curves from docs/training-logs/*.json into docs/images/training-curves.png:
VAE PSNR, DiT loss, and (where scripts/grade_snapshots.py has graded snapshots) oracle accuracy
on held-out prompts against training steps.

    .venv/bin/python scripts/plot_training.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "docs" / "training-logs"


def main() -> None:
    oracle = json.loads((LOGS / "dit-oracle.json").read_text()) if (LOGS / "dit-oracle.json").exists() else []
    fig, axes = plt.subplots(1, 3 if oracle else 2, figsize=(15 if oracle else 10, 3.6))
    vae = json.loads((LOGS / "vae-gpu-run1.json").read_text())
    axes[0].plot([h["step"] for h in vae], [h["psnr"] for h in vae], marker="o")
    axes[0].axhline(32, ls="--", c="gray", label="target 32 dB")
    axes[0].set(title="VAE: training-batch PSNR (H100)", xlabel="step", ylabel="dB")
    axes[0].legend()
    for name in sorted(LOGS.glob("dit-*run*.json")):
        dit = json.loads(name.read_text())
        axes[1].plot([h["step"] for h in dit], [h["loss"] for h in dit], marker="o", label=name.stem)
    axes[1].set(title="DiT: velocity loss", xlabel="step", ylabel="MSE")
    axes[1].legend()
    if oracle:
        for k in ("color", "shape", "motion"):
            axes[2].plot([r["step"] for r in oracle], [r[k] for r in oracle], marker="o", label=k)
        axes[2].axhline(0.9, ls="--", c="gray", label="target 0.90")
        axes[2].set(title=f"DiT: oracle accuracy, held-out ({oracle[-1]['prompts']} prompts)",
                    xlabel="step (CPU steps after the 422 H100 steps)", ylabel="accuracy", ylim=(0, 1))
        axes[2].legend()
    fig.tight_layout()
    out = ROOT / "docs" / "images" / "training-curves.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
