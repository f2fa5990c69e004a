"""Train the video VAE on backlot clips: a linear `main(cfg)`, resumable.

Phases: 1 setup (device, model, optimiser, resume)  2 data stream  3 train loop (log loss,
PSNR and throughput; checkpoint)  4 latent statistics (per-channel mean/std for diffusion)
5 save the pretrained VAE with those statistics in its config.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cinegen.backlot.motion import Track
from cinegen.backlot.scene import SceneSpec
from cinegen.models.vae import VAE_PRESETS, VideoVAE, frames_to_tensor
from cinegen.training.checkpoint import resume_checkpoint, save_checkpoint
from cinegen.training.configs import TRAIN_PARTS, VAETrainConfig
from cinegen.training.data import Bucket, Clip, clip_stream
from cinegen.training.schedule import cosine_lr

log = logging.getLogger("cinegen.train.vae")

OBJECT_MARGIN = 2.0  # pixels around an object's silhouette that its loss weight covers


def _lr(cfg: VAETrainConfig, step: int, elapsed_s: float) -> float:
    return cosine_lr(cfg.lr, step, cfg.warmup, cfg.steps, elapsed_s, cfg.max_minutes)


def object_weights(
    scenes: list[SceneSpec], num_frames: int, weight: float,
    tracks: Sequence[Sequence[Track] | None] | None = None,
) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, T, H, W): 1 + `weight` within OBJECT_MARGIN pixels of an object,
    from each scene's exact plan (the renderer's own tracks, or `tracks[b]` where a drawn path replaced
    them), 1 elsewhere."""
    from cinegen.planning.planner import plan_from_scene
    from cinegen.planning.raster import object_masks

    per_clip = tracks if tracks is not None else [None] * len(scenes)
    masks = [object_masks(plan_from_scene(sc, tracks=tr), num_frames, sc.width, sc.height, OBJECT_MARGIN)
             for sc, tr in zip(scenes, per_clip, strict=True)]  # B of (T, H, W)
    m = torch.from_numpy(np.stack(masks)).unsqueeze(1)  # (B, 1, T, H, W) bool
    return 1.0 + weight * m.float()


def temporal_change_loss(recon: torch.Tensor, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error of the frame-to-frame change, (recon[t+1] - recon[t]) - (x[t+1] - x[t]), each
    pixel weighted by the larger of its two frames' weights where w (B, 1, T, H, W) is given. It is zero
    for a decode whose error is constant in time, so it penalises jitter (flicker, a shape redrawn
    differently from one frame to the next), not a steady colour error. recon, x: (B, 3, T, H, W), T > 1."""
    d = (recon - x).diff(dim=2)  # (B, 3, T-1, H, W)
    if w is None:
        return d.pow(2).mean()
    wt = torch.maximum(w[:, :, 1:], w[:, :, :-1])  # (B, 1, T-1, H, W)
    return (d.pow(2) * wt).sum() / (wt.sum() * d.shape[1])


LUMA = (0.299, 0.587, 0.114)


def level_change_loss(recon: torch.Tensor, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Mean squared frame-to-frame change of each frame's mean luma error over its background (where w
    is 1, all pixels without w): a decode that brightens and darkens the whole frame from one frame to
    the next, which the oracle reads as flicker, at a size (a tenth of a level) a per-pixel loss cannot
    see under its noise. recon, x: (B, 3, T, H, W), T > 1; w: (B, 1, T, H, W) or None."""
    luma = torch.tensor(LUMA, device=x.device, dtype=recon.dtype).view(1, 3, 1, 1, 1)
    err = ((recon - x) * luma).sum(dim=1, keepdim=True)  # (B, 1, T, H, W)
    bg = torch.ones_like(err) if w is None else (w <= 1.0).to(err.dtype)
    level = (err * bg).sum(dim=(1, 3, 4)) / bg.sum(dim=(1, 3, 4)).clamp_min(1.0)  # (B, T)
    return level.diff(dim=1).pow(2).mean()


def weighted_recon_loss(recon: torch.Tensor, x: torch.Tensor, w: torch.Tensor | None,
                        l1_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, plain mse): MSE + l1_weight x L1, each pixel weighted by w (B, 1, T, H, W) where given and
    divided by the weights' sum, so weights all 1 (object_weight 0) are exactly the uniform loss.
    recon, x: (B, 3, T, H, W)."""
    mse = F.mse_loss(recon, x)
    if w is None:
        return mse + l1_weight * (recon - x).abs().mean(), mse
    d = recon - x  # (B, 3, T, H, W)
    total = w.sum() * d.shape[1]  # the weights over every value of d
    wmse = (d.pow(2) * w).sum() / total
    wl1 = (d.abs() * w).sum() / total
    return wmse + l1_weight * wl1, mse


def main(cfg: VAETrainConfig) -> Path:
    # 1. setup -----------------------------------------------------------------------------------
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    if cfg.train_part not in TRAIN_PARTS:
        raise ValueError(f"train_part must be one of {TRAIN_PARTS}, got {cfg.train_part!r}")
    if cfg.object_weight < 0:
        raise ValueError(f"object_weight must be >= 0, got {cfg.object_weight}")
    if cfg.level_weight < 0:
        raise ValueError(f"level_weight must be >= 0, got {cfg.level_weight}")
    if not 0.0 <= cfg.path_share <= 1.0:
        raise ValueError(f"path_share must be in [0, 1], got {cfg.path_share}")
    if cfg.temporal_weight < 0:
        raise ValueError(f"temporal_weight must be >= 0, got {cfg.temporal_weight}")
    if cfg.train_part == "decoder" and not cfg.init_from:
        raise ValueError("train_part 'decoder' needs init_from: a trained VAE whose encoder stays frozen")
    model = VideoVAE.from_pretrained(cfg.init_from) if cfg.init_from else VideoVAE(VAE_PRESETS[cfg.preset])
    model = model.to(device)
    decoder_only = cfg.train_part == "decoder"
    for name, p in model.named_parameters():
        p.requires_grad_(not decoder_only or name.startswith("dec"))
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))
    step = 0
    ckpt = out / "checkpoint.pt"
    if cfg.resume and (state := resume_checkpoint(ckpt, {"model": model, "opt": opt}, device)):
        step = state["step"]
    (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    n_params = sum(p.numel() for p in model.parameters())
    log.info("VAE %s: %.2fM parameters (%.2fM trained) on %s", cfg.init_from or cfg.preset, n_params / 1e6,
             sum(p.numel() for p in trained) / 1e6, device)

    # 2. data --------------------------------------------------------------------------------------
    buckets = [Bucket(f, cfg.size[0], cfg.size[1]) for f in cfg.frames]
    weights = [0.15 if f == 1 else 1.0 for f in cfg.frames]
    stream = clip_stream(buckets, weights, seed=cfg.seed + step, workers=cfg.workers, with_captions=False,
                         path_share=cfg.path_share)
    pending: dict[Bucket, list[Clip]] = {b: [] for b in buckets}

    def next_batch() -> tuple[torch.Tensor, torch.Tensor | None]:
        """(video (B, 3, T, H, W), loss weights (B, 1, T, H, W) or None when object_weight is 0)."""
        while True:
            clip = next(stream)
            pending[clip.bucket].append(clip)
            if len(pending[clip.bucket]) >= cfg.batch:
                clips, pending[clip.bucket] = pending[clip.bucket], []
                frames = np.stack([c.frames for c in clips])
                w = (object_weights([c.scene for c in clips], frames.shape[1], cfg.object_weight,
                                    [c.tracks for c in clips]).to(device)
                     if cfg.object_weight else None)
                return frames_to_tensor(torch.from_numpy(frames)).to(device, non_blocking=True), w

    # 3. train -----------------------------------------------------------------------------------------
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    t0, seen, started = time.time(), 0, time.time()
    history = []
    model.train()
    while step < cfg.steps:
        x, w = next_batch()  # (B, 3, T, H, W), (B, 1, T, H, W) or None
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step, time.time() - started)
        with autocast:  # decoder only: the frozen encoder's means, the latents the transformer sees
            recon, mean, logvar = model(x, sample=not decoder_only)
        recon = recon.float()
        rec, mse = weighted_recon_loss(recon, x, w, cfg.l1_weight)
        kl = 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).mean()
        loss = rec + cfg.kl_weight * kl
        if cfg.temporal_weight and x.shape[2] > 1:
            wt = w if cfg.temporal_object_weighted else None
            loss = loss + cfg.temporal_weight * temporal_change_loss(recon, x, wt)
        if cfg.level_weight and x.shape[2] > 1:
            loss = loss + cfg.level_weight * level_change_loss(recon, x, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        step += 1
        seen += x.shape[0] * x.shape[2]
        if step % cfg.log_every == 0 or step == 1:
            psnr = 10 * math.log10(4.0 / max(mse.item(), 1e-10))  # range [-1, 1] -> peak 2
            dt = time.time() - t0
            log.info("step %d loss %.5f mse %.5f psnr %.2f dB kl %.3f | %.0f frames/s", step, loss.item(),
                     mse.item(), psnr, kl.item(), seen / dt)
            history.append({"step": step, "loss": loss.item(), "psnr": psnr, "frames_per_s": seen / dt})
            t0, seen = time.time(), 0
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            _save_checkpoint(ckpt, model, opt, step)
        if cfg.max_minutes and time.time() - started > cfg.max_minutes * 60:
            log.info("time limit reached at step %d", step)
            _save_checkpoint(ckpt, model, opt, step)
            break
    (out / "history.json").write_text(json.dumps(history))

    # 4. latent statistics (kept as they are when the encoder was frozen) ------------------------------
    model.eval()
    if decoder_only:
        model.save_pretrained(out / "pretrained")
        log.info("saved VAE (decoder trained, encoder and latent statistics unchanged) to %s",
                 out / "pretrained")
        return out / "pretrained"
    cz = model.config.latent_channels
    sums, sq, count = torch.zeros(cz, device=device), torch.zeros(cz, device=device), 0
    with torch.no_grad(), autocast:
        for _ in range(cfg.stats_batches):
            mean, _ = model.encode_moments(next_batch()[0])
            m = mean.float()
            sums = sums + m.sum(dim=(0, 2, 3, 4))
            sq = sq + m.pow(2).sum(dim=(0, 2, 3, 4))
            count += m.numel() // m.shape[1]
    mu = sums / count
    std = (sq / count - mu.pow(2)).clamp_min(1e-8).sqrt()

    # 5. save ----------------------------------------------------------------------------------------------
    final_cfg = dataclasses.replace(
        model.config, latent_mean=tuple(round(float(v), 5) for v in mu),
        latent_std=tuple(round(float(v), 5) for v in std)
    )
    final = VideoVAE(final_cfg)
    final.load_state_dict(model.state_dict())
    final.save_pretrained(out / "pretrained")
    log.info("saved VAE to %s (latent std %s)", out / "pretrained", [round(float(v), 3) for v in std])
    return out / "pretrained"


def _save_checkpoint(path: Path, model: VideoVAE, opt: torch.optim.Optimizer, step: int) -> None:
    save_checkpoint(path, {"model": model, "opt": opt}, step=step)


if __name__ == "__main__":  # python -m cinegen.training.vae --steps 100 ...
    from cinegen.training.schedule import config_from_argv

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(config_from_argv(VAETrainConfig))
