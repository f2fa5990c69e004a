"""Train the diffusion transformer on VAE latents of backlot clips: a linear `main(cfg)`, resumable.

Phases: 1 setup (frozen VAE and text encoder, DiT, EMA, optimiser, resume)  2 data: a latent
bank per bucket (duration x aspect), filled by background renderers and refreshed while training
3 train: rectified-flow velocity loss on the frames that are not conditioning, with random
conditioning masks (none / first / prefix / last / suffix / both ends / keyframes), text dropout
for classifier-free guidance, bf16 autocast, EMA  4 save the EMA transformer (diffusers format).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import random
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from cinegen.models.text import TextEncoder
from cinegen.models.transformer import (
    DIT_PRESETS,
    DiTConfig,
    VelocityModel,
    add_layout_channels,
    build_transformer,
    layout_channels_of,
    load_transformer,
)
from cinegen.models.vae import VideoVAE
from cinegen.planning.raster import LAYOUT_CHANNELS, OBJECT_CHANNELS, TIMING_CHANNELS
from cinegen.sampling import shift_for_tokens, shift_sigmas
from cinegen.training.checkpoint import resume_checkpoint, save_checkpoint
from cinegen.training.configs import DiTTrainConfig
from cinegen.training.latents import LatentBanks
from cinegen.training.schedule import cosine_lr
from cinegen.trust.licences import LicenceError, TrainingDataLedger, load_ledger

log = logging.getLogger("cinegen.train.dit")

def object_weighted_error(diff: torch.Tensor, layout: torch.Tensor | None, weight: float,
                          camera_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error per frame, each latent pixel weighted 1 + `weight` x its object occupancy,
    and, in clips whose camera moves, 1 + `camera_weight` on the background.

    diff: (B, C, N, h, w); layout: (B, Cl, N, h, w) uint8 with occupancy in channel 0 and the camera's
    world stripes in channels OBJECT_CHANNELS.. (planning/raster.py). Objects cover a few percent of a
    backlot frame, so a uniform loss is mostly background: the weight spends the gradient on the
    objects' shapes. But the background's slow slide or spread is all that shows a camera move, and it
    is a sliver of the loss: `camera_weight` spends more there. Weights 0 are exactly the uniform mean.
    Returns (B, N).
    """
    err = diff.pow(2).mean(dim=1)  # (B, N, h, w)
    if (weight == 0.0 and camera_weight == 0.0) or layout is None:
        return err.mean(dim=(2, 3))
    occ = layout[:, 0].to(err.device, torch.float32).div(255.0)  # (B, N, h, w)
    w = 1.0 + weight * occ
    if camera_weight and layout.shape[1] > OBJECT_CHANNELS and layout.shape[2] > 1:
        w = w + camera_weight * camera_moves(layout).to(err.device)[:, None, None, None] * (1.0 - occ)
    return (err * w).sum(dim=(2, 3)) / w.sum(dim=(2, 3))


def camera_moves(layout: torch.Tensor) -> torch.Tensor:
    """1.0 for clips whose camera moves (their world stripes change between latent frames), else 0.0.
    layout: (B, Cl, N, h, w) with the stripes in channels OBJECT_CHANNELS..LAYOUT_CHANNELS. Returns (B,)."""
    stripes = layout[:, OBJECT_CHANNELS:LAYOUT_CHANNELS].to(torch.float32)  # (B, 2, N, h, w)
    return (stripes.diff(dim=2).abs().amax(dim=(1, 2, 3, 4)) > 0).float()


def camera_motion_error(diff: torch.Tensor, layout: torch.Tensor | None, frame_sigma: torch.Tensor) -> torch.Tensor:
    """Squared frame-to-frame change of the clean-clip error on the background of moving-camera clips.

    With x_t = (1 - s) x0 + s noise and the velocity target noise - x0, the model's clean-clip estimate
    errs by -s x diff. Its change from one latent frame to the next is the error in how the picture
    moves; on a moving camera's background that is the pan or zoom, which the per-frame loss sees only
    as a sliver of colour error. diff: (B, C, N, h, w); layout: (B, Cl, N, h, w) uint8 as in
    `object_weighted_error`; frame_sigma: (B, N). Returns (B, N - 1): zero for still cameras, one frame
    or no camera channels.
    """
    bs, n = diff.shape[0], diff.shape[2]
    if layout is None or layout.shape[1] <= OBJECT_CHANNELS or n < 2:
        return diff.new_zeros(bs, max(n - 1, 0))
    x0_err = diff * frame_sigma[:, None, :, None, None].to(diff.dtype)  # (B, C, N, h, w)
    change = x0_err.diff(dim=2).pow(2).mean(dim=1)  # (B, N-1, h, w)
    occ = layout[:, 0].to(diff.device, torch.float32).div(255.0)  # (B, N, h, w)
    background = 1.0 - torch.maximum(occ[:, 1:], occ[:, :-1])  # (B, N-1, h, w)
    moving = camera_moves(layout).to(diff.device)  # (B,)
    per_pair = (change * background).sum(dim=(2, 3)) / background.sum(dim=(2, 3)).clamp_min(1.0)
    return per_pair * moving[:, None]


def camera_motion_loss(diff: torch.Tensor, layout: torch.Tensor | None, frame_sigma: torch.Tensor,
                       keep: torch.Tensor) -> torch.Tensor:
    """`camera_motion_error` averaged over the frame pairs whose both frames are generated (`keep`
    (B, N) 1.0 for generated frames, 0.0 for pinned ones): the motion term both trainers add."""
    pairs = keep[:, 1:] * keep[:, :-1]  # (B, N-1)
    moved = camera_motion_error(diff, layout, frame_sigma)  # (B, N-1)
    return (moved * pairs).sum() / pairs.sum().clamp_min(1.0)


# ----------------------------------------------------------------------------- conditioning masks
def random_condition_mask(n: int, rng: random.Random) -> torch.Tensor:
    """Which latent frames are given clean: the unified-conditioning curriculum. (n,) bool."""
    m = torch.zeros(n, dtype=torch.bool)
    if n == 1:
        return m
    r = rng.random()
    if r < 0.35:
        pass  # text-to-video
    elif r < 0.55:
        m[0] = True  # image-to-video
    elif r < 0.67:
        m[: rng.randint(1, max(1, n // 2))] = True  # extend forward
    elif r < 0.75:
        m[-1] = True  # arrive at a frame
    elif r < 0.83:
        m[-rng.randint(1, max(1, n // 2)) :] = True  # extend backward
    elif r < 0.95:
        m[0] = m[-1] = True  # connect / loop
    else:
        k = rng.randint(1, max(1, n // 3))
        m[torch.tensor(rng.sample(range(n), k))] = True  # keyframes
    return m


def training_sigmas(batch: int, shift: float, gen: torch.Generator, shift_share: float = 1.0) -> torch.Tensor:
    """Noise levels for a batch (B,): logit-normal (SD3), time-shifted like the sampler's steps, 10% uniform.

    The shift moves training towards high noise, where the sampler spends its steps and where a
    clip's layout and motion are decided; `shift_share` of the samples take it, the rest stay
    unshifted, where edges and corners are drawn; the uniform tenth keeps every level trained.
    """
    if not 0.0 <= shift_share <= 1.0:
        raise ValueError(f"shift_share must be in [0, 1], got {shift_share}")
    base = torch.sigmoid(torch.randn(batch, generator=gen))
    shifted = torch.ones(batch, dtype=torch.bool)  # (B,); no extra draw: the default keeps its stream
    if shift_share < 1.0:
        shifted = torch.rand(batch, generator=gen) < shift_share
    sigma = torch.where(shifted, shift_sigmas(base, shift), base)
    uniform = torch.rand(batch, generator=gen)
    return torch.where(torch.rand(batch, generator=gen) < 0.1, uniform, sigma)


def main(cfg: DiTTrainConfig) -> Path:
    # 1. setup -------------------------------------------------------------------------------------------
    if cfg.object_weight < 0 or (cfg.object_weight and not cfg.plan):
        raise ValueError(f"object_weight must be >= 0 and needs plan=true (it reads the layout), got {cfg.object_weight}")
    if cfg.camera_weight < 0 or (cfg.camera_weight and not cfg.plan):
        raise ValueError(f"camera_weight must be >= 0 and needs plan=true (it reads the layout), got {cfg.camera_weight}")
    if cfg.world_positions and not cfg.plan:
        raise ValueError("world_positions reads the plan's camera: it needs plan=true")
    if cfg.sub_frames and not cfg.world_positions:
        raise ValueError("sub_frames inputs follow the position channels: they need world_positions=true")
    if cfg.motion_weight < 0 or (cfg.motion_weight and not cfg.plan):
        raise ValueError(f"motion_weight must be >= 0 and needs plan=true (it reads the layout), got {cfg.motion_weight}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    rank, world = _distributed_setup(device)  # torchrun sets WORLD_SIZE/RANK; 1 process otherwise
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    main_rank = rank == 0
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    rng = random.Random(cfg.seed + 1000 * rank)  # different data, masks and noise per rank
    gen = torch.Generator().manual_seed(cfg.seed + 1000 * rank)
    vae = VideoVAE.from_pretrained(cfg.vae).to(device).eval().requires_grad_(False)
    text = TextEncoder(path=cfg.text_encoder or None)
    text.to(device)
    dit_cfg: DiTConfig = DIT_PRESETS[cfg.preset]
    if dit_cfg.in_channels != vae.config.latent_channels:
        dit_cfg = dataclasses.replace(dit_cfg, in_channels=vae.config.latent_channels)
    inputs = (LAYOUT_CHANNELS + (TIMING_CHANNELS if cfg.sub_frames else 0)) if cfg.plan else 0
    dit_cfg = dataclasses.replace(dit_cfg, layout_channels=inputs, world_positions=cfg.world_positions)
    transformer = build_transformer(dit_cfg)
    if cfg.init_from:
        init = load_transformer(cfg.init_from)
        have = layout_channels_of(init)
        if cfg.plan and have < inputs:  # zero-initialised plan inputs for the channels it lacks
            init = add_layout_channels(init, inputs - have)
        transformer.load_state_dict(init.state_dict())
        log.info("initialised weights from %s", cfg.init_from)
    model = VelocityModel(transformer).to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.01)
    ledger = TrainingDataLedger()
    if cfg.init_from:  # the weights we start from carry what they learned from: keep counting it
        try:
            ledger = load_ledger(cfg.init_from)
        except LicenceError:
            log.warning("%s has no training-data ledger; counting from zero", cfg.init_from)
    step = 0
    ckpt = out / "checkpoint.pt"
    if cfg.resume and (state := resume_checkpoint(ckpt, {"model": model, "ema": ema, "opt": opt}, device)):
        step, ledger = state["step"], TrainingDataLedger.from_dict(state.get("ledger", {}))
    if main_rank:
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
        (out / "dit_config.json").write_text(json.dumps(dataclasses.asdict(dit_cfg), indent=2))
        log.info("DiT %s: %.2fM parameters on %s, world size %d", cfg.preset, sum(p.numel() for p in model.parameters()) / 1e6, device, world)
    # DDP averages gradients across ranks; EMA, checkpoints and logs use the unwrapped model
    train_model: torch.nn.Module = DistributedDataParallel(model) if world > 1 else model

    # 2. data: latent banks per bucket -----------------------------------------------------------------
    data = LatentBanks(vae, frames=cfg.frames, frame_weights=cfg.frame_weights, sizes=cfg.sizes,
                       aspect_weights=cfg.aspect_weights, bank_size=cfg.bank_size,
                       layout_channels=model.layout_channels, seed=cfg.seed * 7919 + step + 104729 * rank,
                       workers=cfg.workers, ledger=ledger, device=device, bf16=cfg.bf16)
    data.fill(cfg.fill_seconds, cfg.bank_size)

    # 3. train ------------------------------------------------------------------------------------------
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    started, t0, n_tok, t_data = time.time(), time.time(), 0, 0.0
    loss_hist: list[dict[str, float]] = []
    run_loss, run_n = 0.0, 0
    while step < cfg.steps:
        td = time.time()
        data.refresh(cfg.refresh_per_step)
        t_data += time.time() - td
        _, tokens, x0, lay, caps = data.draw(rng, gen, cfg.tokens_per_batch, cfg.max_batch)  # x0 (B, C, N, h, w)
        bs, n = x0.shape[0], x0.shape[2]
        layout = None
        if cfg.plan:  # (B, Cl, N, h, w) in [0, 1]; dropped plans are all zeros ("no plan")
            keep_plan = (torch.rand(bs, generator=gen) >= cfg.plan_dropout).to(device)
            layout = lay.float().div(255.0) * keep_plan[:, None, None, None, None]
        prompts = ["" if rng.random() < cfg.text_dropout else rng.choice(c) for c in caps]
        emb, _ = text.encode_uncached(prompts)  # (B, L, 384)
        mask = torch.stack([random_condition_mask(n, rng) for _ in range(bs)]).to(device)  # (B, N)
        shift = shift_for_tokens(tokens) if cfg.timestep_shift else 1.0
        sigma = training_sigmas(bs, shift, gen, cfg.shift_share).to(device)  # (B,)
        cond_sigma = torch.where(torch.rand(bs, generator=gen) < 0.5, 0.0, torch.rand(bs, generator=gen) * 0.1).to(device)
        frame_sigma = torch.where(mask, cond_sigma[:, None], sigma[:, None].expand(bs, n))  # (B, N)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        s = frame_sigma[:, None, :, None, None]
        xt = (1 - s) * x0 + s * noise
        target = noise - x0
        for g in opt.param_groups:
            g["lr"] = cosine_lr(cfg.lr, step, cfg.warmup, cfg.steps, time.time() - started, cfg.max_minutes)
        with autocast:
            v = train_model(xt, frame_sigma, emb, layout)
        err = object_weighted_error(v.float() - target, lay, cfg.object_weight if cfg.plan else 0.0,
                                    cfg.camera_weight if cfg.plan else 0.0)  # (B, N)
        keep = (~mask).float()
        loss = (err * keep).sum() / keep.sum().clamp_min(1.0)
        if cfg.motion_weight:  # both frames of a pair generated, not given
            loss = loss + cfg.motion_weight * camera_motion_loss(v.float() - target, lay, frame_sigma, keep)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(cfg.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - d)
        step += 1
        n_tok += bs * tokens
        run_loss, run_n = run_loss + loss.item(), run_n + 1
        if main_rank and (step % cfg.log_every == 0 or step == 1):
            dt = time.time() - t0
            log.info(
                "step %d loss %.4f lr %.2e | %.0f tokens/s, data %.0f%% | banks %s",
                step, run_loss / run_n, opt.param_groups[0]["lr"], n_tok / dt, 100 * t_data / dt,
                data.count(),
            )
            loss_hist.append({"step": step, "loss": run_loss / run_n, "minutes": (time.time() - started) / 60})
            t0, n_tok, t_data, run_loss, run_n = time.time(), 0, 0.0, 0.0, 0
        if step % cfg.ckpt_every == 0:
            total = _global_ledger(ledger, world)  # collective: every rank takes part
            if main_rank:
                _save_checkpoint(ckpt, model, ema, opt, step, total)
        if main_rank and cfg.snapshot_every and step % cfg.snapshot_every == 0:
            _save_pretrained(ema, dit_cfg, step, ledger, out / "snapshots" / f"step-{step:06d}")
        stop = bool(cfg.max_minutes) and time.time() - started > cfg.max_minutes * 60
        if world > 1:  # every rank stops at the same step, or the others would wait forever
            flag = torch.tensor([float(stop)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item() > 0)
        if stop:
            if main_rank:
                log.info("time limit reached at step %d", step)
            break
    data.close()
    checksum = sum(float(p.detach().double().sum()) for p in model.parameters())
    log.info("rank %d finished at step %d, samples %d, parameter checksum %.8e", rank, step, ledger.total_samples, checksum)
    ledger = _global_ledger(ledger, world)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if not main_rank:
        return out / "pretrained"
    _save_checkpoint(ckpt, model, ema, opt, step, ledger)
    prev = json.loads((out / "history.json").read_text()) if (cfg.resume and (out / "history.json").exists()) else []
    (out / "history.json").write_text(json.dumps(prev + loss_hist))

    # 4. save the EMA transformer ----------------------------------------------------------------------------
    final = out / "pretrained"
    _save_pretrained(ema, dit_cfg, step, ledger, final)
    log.info("saved EMA transformer to %s after %d steps", final, step)
    return final


def _distributed_setup(device: torch.device) -> tuple[int, int]:
    """Join the process group torchrun describes (gloo on CPU, NCCL on GPU). Returns (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world


def _global_ledger(ledger: TrainingDataLedger, world: int) -> TrainingDataLedger:
    """The ledger summed over all ranks (each rank counts the samples it drew)."""
    if world <= 1:
        return ledger
    parts: list[dict | None] = [None] * world
    dist.all_gather_object(parts, ledger.to_dict())
    total = TrainingDataLedger()
    for p in parts:
        assert p is not None
        total.merge(TrainingDataLedger.from_dict(p))
    return total


def _save_pretrained(ema: torch.nn.Module, dit_cfg: DiTConfig, step: int, ledger: TrainingDataLedger, where: Path) -> None:
    """The EMA transformer in diffusers format, with its config, step count and training-data ledger."""
    ema.transformer.save_pretrained(where, max_shard_size="15MB", safe_serialization=True)  # type: ignore[union-attr,operator]
    (where / "cinegen.json").write_text(
        json.dumps({"dit": dataclasses.asdict(dit_cfg), "steps": step, "training_data": ledger.to_dict()}, indent=2)
    )


def _save_checkpoint(path: Path, model: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer, step: int, ledger: TrainingDataLedger) -> None:
    save_checkpoint(path, {"model": model, "ema": ema, "opt": opt}, step=step, ledger=ledger.to_dict())


if __name__ == "__main__":  # python -m cinegen.training.dit --steps 100 ...
    from cinegen.training.schedule import config_from_argv

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(config_from_argv(DiTTrainConfig))
