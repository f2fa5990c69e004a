"""Export the EMA weights of a DiT training checkpoint as a diffusers-format transformer directory.

Usage: python scripts/export_dit_checkpoint.py RUN_DIR OUT_DIR

Weights are stored in float16 (the shipped model's format: half the bytes in git history; the
loader computes in float32 or bf16).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cinegen.models.transformer import DiTConfig, VelocityModel, build_transformer


def main(run: Path, out: Path) -> None:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    cfg = DiTConfig.from_dict(json.loads((run / "dit_config.json").read_text()))
    model = VelocityModel(build_transformer(cfg))
    model.load_state_dict(state["ema"])
    model.transformer.to(torch.float16).save_pretrained(out, max_shard_size="15MB")
    meta = {"dit": json.loads((run / "dit_config.json").read_text()), "steps": state["step"],
            "training_data": state["ledger"]}
    (out / "cinegen.json").write_text(json.dumps(meta, indent=2))
    print(f"exported step {state['step']} to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
