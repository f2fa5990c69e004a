"""Export a VAE training checkpoint as a VideoVAE directory, with the latent statistics of a reference VAE.

For decoder-only runs (`cinegen train vae --train-part decoder --init-from REF`) stopped before
they save: the encoder and the latent statistics are REF's, so a transformer trained on REF's
latents stays valid. Refuses a checkpoint whose encoder differs from REF's.

Usage: python scripts/export_vae_checkpoint.py RUN_DIR REF_VAE_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from cinegen.models.vae import VideoVAE


def main(run: Path, ref: Path, out: Path) -> None:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    vae = VideoVAE.from_pretrained(ref)
    before = vae.state_dict()
    changed = [k for k,
               v in state["model"].items() if not k.startswith("dec") and not torch.equal(v.half().float(),
                                                                                          before[k])]
    if changed:
        raise SystemExit(f"the checkpoint's encoder differs from {ref}'s ({changed[:3]}...): not a "
                         "decoder-only run of it")
    vae.load_state_dict(state["model"])
    vae.save_pretrained(out)
    print(f"exported step {state['step']} to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
