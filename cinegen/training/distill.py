"""Distil a teacher's guided sampler into a few-step student: a linear `main(cfg)`, resumable.

What the student learns (flow-map distillation with the guidance folded in; in the family of
progressive distillation, Salimans & Ho 2022, and guidance distillation, Meng et al. 2023): for a
student schedule of K Euler steps (K drawn from `student_steps`, sigmas shifted for the clip's
token count exactly as the pipeline does), a training step picks one of its intervals
[sigma_a, sigma_b], noises a backlot latent to sigma_a, lets the frozen teacher integrate its
*classifier-free-guided* flow from sigma_a to sigma_b (`teacher_substeps` Heun steps, two passes
each for guidance), and regresses the student's single velocity onto the jump:

    v* = (x_teacher(sigma_b) - x(sigma_a)) / (sigma_b - sigma_a),   loss = |v_student(x(sigma_a)) - v*|^2

so one Euler step of the student lands where the teacher's guided sampler would, with one model call
and no unconditional pass. Conditioning frames (image, extension, keyframes) are pinned as in
training, and plans are dropped for a share of samples, so every mode and the text-only path
distil together. Phases: 1 setup (teacher, student from the teacher, EMA, optimiser, resume)
2 data (the same latent banks as `dit`)  3 distil  4 save the EMA student with `student.json`, the
sampling it was trained for (`scripts/install_student.py` adds it to a model directory).

Choosing this over consistency distillation, DMD or reflow: it needs no extra network (DMD's fake
score), no pre-generated pairs (reflow renders whole teacher trajectories first: hours on this CPU)
and targets the exact schedule the pipeline runs, so its cost is only the teacher's substeps.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import torch

from cinegen.models.text import TextEncoder
from cinegen.models.transformer import (
    DiTConfig,
    VelocityModel,
    add_layout_channels,
    layout_channels_of,
    load_transformer,
)
from cinegen.models.vae import VideoVAE
from cinegen.models.world_rope import install
from cinegen.sampling import Conditioning, guided, make_sigmas, sample_euler, sample_heun, shift_for_tokens
from cinegen.training.checkpoint import resume_checkpoint
from cinegen.training.configs import DistillConfig
from cinegen.training.dit import (
    _save_checkpoint,
    camera_motion_loss,
    object_weighted_error,
    random_condition_mask,
)
from cinegen.training.latents import LatentBanks
from cinegen.training.schedule import cosine_lr
from cinegen.trust.licences import LicenceError, TrainingDataLedger, load_ledger

log = logging.getLogger("cinegen.train.distill")


def check_config(cfg: DistillConfig) -> None:
    if not cfg.student_steps or min(cfg.student_steps) < 1:
        raise ValueError(f"student_steps must be step counts >= 1, got {cfg.student_steps}")
    if cfg.teacher_substeps < 1:
        raise ValueError(f"teacher_substeps must be >= 1, got {cfg.teacher_substeps}")
    if not 0.0 <= cfg.rollout <= 1.0:
        raise ValueError(f"rollout is a share of samples in [0, 1], got {cfg.rollout}")
    if cfg.guidance < 0 or cfg.object_weight < 0:
        raise ValueError(f"guidance and object_weight must be >= 0, got {cfg.guidance}, {cfg.object_weight}")
    if cfg.world_positions or cfg.sub_frames:  # shared run settings that only the DiT trainer reads
        raise ValueError("world_positions and sub_frames follow the teacher: the distiller gives the student "
                         "the teacher's, so leave them unset")
    if cfg.camera_weight < 0 or cfg.motion_weight < 0:
        raise ValueError(f"camera_weight and motion_weight must be >= 0, got {cfg.camera_weight}, "
                         f"{cfg.motion_weight}")
    if not (Path(cfg.teacher) / "model_index.json").exists():
        raise FileNotFoundError(f"no teacher model at {cfg.teacher} (model_index.json is missing)")


def student_sigmas(steps: int, tokens: int) -> torch.Tensor:
    """The student's noise levels (steps + 1,): the pipeline's schedule for this many steps and tokens."""
    return make_sigmas(steps, shift=shift_for_tokens(tokens))


@torch.no_grad()
def student_rollout(
    student: VelocityModel, noise: torch.Tensor, sigmas: torch.Tensor, cond: Conditioning | None,
    text: torch.Tensor, layout: torch.Tensor | None, autocast: Any,
) -> torch.Tensor:
    """The student's Euler steps from noise over `sigmas` (ending at the interval's start), pinned frames
    held: (B, C, N, h, w). Regressing from here, not from noised data, trains on the inputs the
    student meets when it samples (its earlier steps' errors included)."""
    with autocast:
        return sample_euler(lambda x, s: student(x, s, text, layout), noise, sigmas, cond=cond).float()


@torch.no_grad()
def teacher_jump(
    teacher: VelocityModel, x_a: torch.Tensor, sigma_a: float, sigma_b: float, cond: Conditioning | None,
    text: torch.Tensor, uncond: torch.Tensor, guidance: float, layout: torch.Tensor | None,
    uncond_layout: torch.Tensor | None, substeps: int,
) -> torch.Tensor:
    """The velocity of the teacher's guided jump from sigma_a to sigma_b, (B, C, N, h, w):
    (x_teacher(sigma_b) - x_a) / (sigma_b - sigma_a), with pinned frames held by `cond`."""
    velocity = guided(teacher, text, uncond, guidance, layout=layout, uncond_layout=uncond_layout)
    sigmas = torch.linspace(sigma_a, sigma_b, substeps + 1)
    x_b = sample_heun(velocity, x_a, sigmas, cond=cond)  # x_a stands in for "noise": it is where we start
    return (x_b.float() - x_a.float()) / (sigma_b - sigma_a)


def main(cfg: DistillConfig) -> Path:
    # 1. setup ---------------------------------------------------------------------------------------
    check_config(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    rng, gen = random.Random(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    teacher_dir = Path(cfg.teacher)
    meta = json.loads((teacher_dir / "model_index.json").read_text())
    guidance = cfg.guidance or float(meta.get("default_guidance", 5.0))
    plan_guidance = bool(meta.get("plan_guidance", False))
    vae = VideoVAE.from_pretrained(teacher_dir / "vae").to(device).eval().requires_grad_(False)
    text = TextEncoder(path=cfg.text_encoder or None)
    text.to(device)
    teacher = VelocityModel(load_transformer(teacher_dir / "transformer")).to(device).eval()
    teacher.requires_grad_(False)
    student_tr: Any = load_transformer(cfg.init_from) if cfg.init_from else copy.deepcopy(teacher.transformer)
    missing = layout_channels_of(teacher.transformer) - layout_channels_of(student_tr)
    if missing > 0:  # a student from an older teacher gains the new plan inputs, zero-initialised
        student_tr = add_layout_channels(student_tr, missing)
    if teacher.world_positions:  # and the teacher's world positions (models/world_rope.py)
        install(student_tr)
    model = VelocityModel(student_tr).to(device).train().requires_grad_(True)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    layout_channels = teacher.layout_channels  # with world positions, the view's change too
    if (cfg.camera_weight or cfg.motion_weight) and not layout_channels:
        raise ValueError(f"camera_weight and motion_weight read the plan's camera channels; the teacher at "
                         f"{cfg.teacher} takes no plan")
    ledger = _teacher_ledger(teacher_dir)
    step = 0
    ckpt = out / "checkpoint.pt"
    if cfg.resume and (state := resume_checkpoint(ckpt, {"model": model, "ema": ema, "opt": opt}, device)):
        step, ledger = state["step"], TrainingDataLedger.from_dict(state.get("ledger", {}))
    (out / "distill_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    uncond_emb, _ = text.encode_uncached([""])  # (1, L, D): the teacher's default negative prompt

    # 2. data -------------------------------------------------------------------------------------------
    data = LatentBanks(vae, frames=cfg.frames, frame_weights=cfg.frame_weights, sizes=cfg.sizes,
                       aspect_weights=cfg.aspect_weights, bank_size=cfg.bank_size,
                       layout_channels=layout_channels, seed=cfg.seed * 7919 + step, workers=cfg.workers,
                       ledger=ledger, device=device, bf16=cfg.bf16)
    data.fill(cfg.fill_seconds, cfg.bank_size)

    # 3. distil ----------------------------------------------------------------------------------------
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    started, t0, run_loss, run_n = time.time(), time.time(), 0.0, 0
    history: list[dict[str, float]] = []
    while step < cfg.steps:
        data.refresh(cfg.refresh_per_step)
        _, tokens, x0, lay, caps = data.draw(rng, gen, cfg.tokens_per_batch, cfg.max_batch)  # (B, C, N, h, w)
        bs, n = x0.shape[0], x0.shape[2]
        layout = uncond_layout = None
        if layout_channels:  # (B, Cl, N, h, w) in [0, 1]; a dropped plan is zeros for both passes
            keep = (torch.rand(bs, generator=gen) >= cfg.plan_dropout).to(device)
            layout = lay.float().div(255.0) * keep[:, None, None, None, None]
            uncond_layout = torch.zeros_like(layout) if plan_guidance else layout
        emb, _ = text.encode_uncached([rng.choice(c) for c in caps])  # (B, L, D): no text dropout
        mask = random_condition_mask(n, rng)  # (N,): one conditioning pattern per batch
        k = rng.choice(cfg.student_steps)
        sig = student_sigmas(k, tokens)
        i = rng.randrange(k)
        s_a, s_b = float(sig[i]), float(sig[i + 1])
        noise = torch.randn(x0.shape, generator=gen).to(device)
        cond = Conditioning(x0, mask) if mask.any() else None
        x_a = (1 - s_a) * x0 + s_a * noise
        x_a = cond.apply(x_a, noise) if cond is not None else x_a
        if i > 0 and rng.random() < cfg.rollout:  # where the student's own first i steps land
            x_a = student_rollout(ema, noise, sig[: i + 1], cond, emb, layout, autocast)
        with autocast:
            target = teacher_jump(teacher, x_a, s_a, s_b, cond, emb, uncond_emb.expand(bs, -1, -1), guidance,
                                  layout, uncond_layout, cfg.teacher_substeps)
        frame_sigma = (cond.frame_sigmas(s_a, bs, n, device) if cond is not None
                       else torch.full((bs, n), s_a, device=device))  # (B, N)
        for g in opt.param_groups:
            g["lr"] = cosine_lr(cfg.lr, step, cfg.warmup, cfg.steps, time.time() - started, cfg.max_minutes)
        with autocast:
            v = model(x_a, frame_sigma, emb, layout)
        diff = v.float() - target  # (B, C, N, h, w)
        err = object_weighted_error(diff, lay if layout_channels else None, cfg.object_weight,
                                    cfg.camera_weight)  # (B, N)
        free = (~mask).float().to(device)[None].expand(bs, n)  # (B, N): pinned frames carry no loss
        loss = (err * free).sum() / free.sum().clamp_min(1.0)
        if cfg.motion_weight:  # the pan's slide, as the DiT trainer weighs it
            loss = loss + cfg.motion_weight * camera_motion_loss(diff, lay, frame_sigma, free)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        _ema_update(ema, model, cfg.ema, step)
        step += 1
        run_loss, run_n = run_loss + loss.item(), run_n + 1
        if step % cfg.log_every == 0 or step == 1:
            dt = time.time() - t0
            log.info("step %d loss %.4f lr %.2e | %.1f s/step | banks %d", step, run_loss / run_n,
                     opt.param_groups[0]["lr"], dt / run_n, data.count())
            history.append({"step": step, "loss": run_loss / run_n, "minutes": (time.time() - started) / 60})
            t0, run_loss, run_n = time.time(), 0.0, 0
        if step % cfg.ckpt_every == 0:
            _save_checkpoint(ckpt, model, ema, opt, step, ledger)
        if cfg.snapshot_every and step % cfg.snapshot_every == 0:
            save_student(ema, cfg, guidance, step, ledger, out / "snapshots" / f"step-{step:06d}")
        if cfg.max_minutes and time.time() - started > cfg.max_minutes * 60:
            log.info("time limit reached at step %d", step)
            break
    data.close()
    _save_checkpoint(ckpt, model, ema, opt, step, ledger)
    hist = out / "history.json"
    prev = json.loads(hist.read_text()) if cfg.resume and hist.exists() else []
    hist.write_text(json.dumps(prev + history))

    # 4. save the EMA student ----------------------------------------------------------------------------
    final = out / "pretrained"
    save_student(ema, cfg, guidance, step, ledger, final)
    log.info("saved the EMA student to %s after %d steps", final, step)
    return final


def _teacher_ledger(teacher_dir: Path) -> TrainingDataLedger:
    """The student learns from the teacher (and from backlot clips): it inherits the teacher's ledger."""
    try:
        return load_ledger(teacher_dir / "transformer")
    except LicenceError:
        log.warning("%s has no training-data ledger; counting from zero", teacher_dir)
        return TrainingDataLedger()


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    d = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm, 1 - d)


def save_student(ema: torch.nn.Module, cfg: DistillConfig, guidance: float, step: int,
                 ledger: TrainingDataLedger, where: Path) -> None:
    """The EMA student in diffusers format, with `cinegen.json` (config, steps, ledger) like any
    transformer, and `student.json`: how it must be sampled (Euler, its step counts, guidance folded)."""
    transformer: Any = ema.transformer
    transformer.save_pretrained(where, max_shard_size="15MB", safe_serialization=True)
    teacher_json = Path(cfg.teacher) / "transformer" / "cinegen.json"
    teacher_meta = json.loads(teacher_json.read_text()) if teacher_json.exists() else {}
    dit = teacher_meta.get("dit") or dataclasses.asdict(DiTConfig())
    record = {"dit": dit, "steps": step, "training_data": ledger.to_dict()}
    (where / "cinegen.json").write_text(json.dumps(record, indent=2))
    (where / "student.json").write_text(json.dumps({
        "sampler": "euler", "steps": max(cfg.student_steps), "min_steps": min(cfg.student_steps),
        "max_steps": max(cfg.student_steps), "guidance_folded": guidance, "distill_steps": step,
        "teacher": str(cfg.teacher), "teacher_substeps": cfg.teacher_substeps,
    }, indent=2))


def install_student(student: Path, model_dir: Path, *, name: str = "fast", subfolder: str = "student",
                    make_default: bool = False) -> dict[str, Any]:
    """Copy a saved student (`save_student`'s directory) into `model_dir/subfolder` and declare it in
    model_index.json as quality `name` (the default quality with `make_default`). Returns the entry."""
    import shutil

    from cinegen.pipeline.quality import FULL, Quality

    info = json.loads((student / "student.json").read_text())
    index = model_dir / "model_index.json"
    meta = json.loads(index.read_text())
    if name == FULL:
        raise ValueError(f"quality {FULL!r} is the model's own transformer; name the student otherwise")
    keys = ("steps", "min_steps", "max_steps", "sampler", "guidance_folded")
    entry = Quality.declared(name, {"transformer": subfolder, **{k: info[k] for k in keys}}).to_dict()
    target = model_dir / subfolder
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(student, target)
    _store_half(target)
    meta.setdefault("qualities", {})[name] = entry
    if make_default:
        meta["default_quality"] = name
    index.write_text(json.dumps(meta, indent=2))
    return entry


def _store_half(directory: Path) -> None:
    """Rewrite every safetensors file under `directory` with its float tensors in float16: the shipped
    transformer's storage format (half the bytes in git history; the loader computes in fp32 or bf16)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    for f in sorted(directory.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as src:
            meta = src.metadata()
            tensors = {k: src.get_tensor(k) for k in src.keys()}  # noqa: SIM118 (safe_open is not a dict)
        half = {k: t.to(torch.float16) if t.is_floating_point() else t for k, t in tensors.items()}
        save_file(half, str(f), metadata=meta)


if __name__ == "__main__":  # python -m cinegen.training.distill --steps 100 ...
    from cinegen.training.schedule import config_from_argv

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(config_from_argv(DistillConfig))
