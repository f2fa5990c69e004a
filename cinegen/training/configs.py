"""The trainers' configs: frozen dataclasses, one `--flag` each on `cinegen train`.

They live apart from the trainers so the command line can list their flags without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

TRAIN_PARTS = ("all", "decoder")


@dataclass(frozen=True)
class RunSettings:
    """Where and how a run executes, and how it stops and resumes: every trainer's config extends this."""

    workers: int = 0  # processes rendering backlot clips
    device: str = "cpu"
    bf16: bool = True
    seed: int = 0
    resume: bool = False  # continue from the out directory's checkpoint.pt
    max_minutes: float = 0.0  # stop (and save) after this wall time; 0 = no limit


@dataclass(frozen=True)
class VAETrainConfig(RunSettings):
    out: str = "runs/vae"
    preset: str = "base"
    init_from: str = ""  # a saved VideoVAE directory to start from (its config replaces the preset)
    train_part: str = "all"  # "all", or "decoder": the encoder and latent statistics stay frozen, so a
    # transformer trained on this VAE's latents stays valid while the decoder sharpens
    steps: int = 4000
    batch: int = 16  # clips per step
    lr: float = 1e-3
    warmup: int = 200
    kl_weight: float = 1e-6
    l1_weight: float = 0.2
    # loss weight 1 + this on pixels within OBJECT_MARGIN of an object (0 = uniform): objects are a few
    # percent of a frame, so a uniform loss rounds a small star's points into a ball
    object_weight: float = 0.0
    # adds this x the squared error of the frame-to-frame change (0 = off): jitter between the frames a
    # latent frame unfolds into, which a per-frame loss does not see
    temporal_weight: float = 0.0
    # the temporal term weighted towards objects as the reconstruction is (object_weight), or uniform:
    # a textured background (grass, sky) redrawn sharper in some of a latent's 4 frames than in others
    # moves the frame's median luma, which the oracle reads as flicker
    temporal_object_weighted: bool = True
    # adds this x the squared frame-to-frame change of each frame's mean luma error on the background
    # (0 = off): whole-frame brightness jitter of a tenth of a level, flicker to the oracle, is far
    # below a per-pixel loss's noise, so it needs a weight in the thousands
    level_weight: float = 0.0
    # this share of clips puts the first object on a drawn path (zig-zag, circle, diagonal, S-curve) at
    # up to 2.5 frame widths/s, 15x the world's sideways motions: what `--path` asks the decoder to draw
    path_share: float = 0.0
    frames: tuple[int, ...] = (1, 9, 17)
    size: tuple[int, int] = (128, 128)
    log_every: int = 50
    ckpt_every: int = 500
    stats_batches: int = 8


SIZES = ((128, 128), (176, 96), (96, 176))  # 1:1, ~16:9 and ~9:16 at about the same token count


@dataclass(frozen=True)
class BankedRun(RunSettings):
    """What the DiT and distillation trainers share: batches of latents drawn from banks of rendered
    backlot clips, an EMA of the weights, checkpoints and snapshots. Defaults are the one-thread CPU
    recipe every shipped transformer was trained with (docs/training.md has the GPU flags)."""

    max_batch: int = 32
    warmup: int = 50
    ema: float = 0.999
    # share of samples trained without their plan, so text-only generation keeps working
    plan_dropout: float = 0.2
    # loss weight 1 + this on latent pixels the clip's objects cover (needs plan; 0 = uniform)
    object_weight: float = 0.0
    # loss weight 1 + this on the background of clips whose camera moves (needs plan and the layout's
    # camera channels; 0 = off): the background's motion is all that shows a pan or a zoom
    camera_weight: float = 0.0
    # adds this x the squared frame-to-frame change of the clean-clip error on the background of
    # moving-camera clips (needs plan; 0 = off): the background's slide, not its colour, is the camera
    motion_weight: float = 0.0
    # token positions follow the plan's camera (models/world_rope.py; needs plan): a pan keeps each
    # background point at its position, so the still-camera prior draws the camera's move
    world_positions: bool = False
    # the layout's sub-frame timing channels as inputs too (planning/raster.py 18..21; needs world
    # positions): where the object is in each pixel frame of a latent frame, not only their mean
    sub_frames: bool = False
    frames: tuple[int, ...] = (1, 17, 33)
    frame_weights: tuple[float, ...] = (0.05, 0.35, 0.6)
    aspect_weights: tuple[float, ...] = (0.8, 0.1, 0.1)
    # "WxH", one per aspect weight (tiny runs: "64x64")
    sizes: tuple[str, ...] = tuple(f"{w}x{h}" for w, h in SIZES)
    bank_size: int = 1024  # clips kept per bucket
    fill_seconds: float = 30.0  # render before the first step
    # new clips taken into the banks per step (64 kept an H100 83% idle on ingestion)
    refresh_per_step: int = 2
    log_every: int = 25
    ckpt_every: int = 200
    # also save the EMA weights as snapshots/step-N every N steps (0 = off), for grading
    snapshot_every: int = 0
    # directory of all-MiniLM-L6-v2; empty = the installed package (a GPU machine without the package
    # gets a copy: docs/training.md)
    text_encoder: str = ""


@dataclass(frozen=True)
class DiTTrainConfig(BankedRun):
    out: str = "runs/dit"
    vae: str = "weights/backlot-v1/vae"
    preset: str = "small"
    init_from: str = ""  # a saved transformer directory to start from (weights only)
    steps: int = 20000
    tokens_per_batch: int = 2400
    lr: float = 2e-4
    text_dropout: float = 0.1
    # condition on the clip's exact layout (plan-then-render); False trains a text-only model
    plan: bool = True
    # shift training sigmas by the sampler's token-count shift (both see the same noise levels)
    timestep_shift: bool = True
    # of those, the share drawn with the shift; the rest are unshifted, where shapes' edges are
    # drawn (docs/decisions.md: boxes lose their corners at middle and low noise)
    shift_share: float = 1.0


@dataclass(frozen=True)
class DistillConfig(BankedRun):
    """Distil a teacher pipeline's guided sampler into a few-step student (`cinegen train distill`)."""

    out: str = "runs/distill"
    teacher: str = "weights/backlot-v1"  # a model directory: model_index.json, vae/, transformer/
    init_from: str = ""  # the student's starting weights (a transformer directory); empty = the teacher's
    # the step counts the student learns (Euler, one call each); sampled per training step
    student_steps: tuple[int, ...] = (2, 3, 4)
    teacher_substeps: int = 2  # Heun steps of the guided teacher between two student steps
    guidance: float = 0.0  # the guidance folded in; 0 = the teacher's default_guidance
    # share of samples that start an interval where the student's own earlier steps land (its EMA run
    # from noise, no gradient) instead of at noised data: what it meets when sampling (0 = off)
    rollout: float = 0.0
    steps: int = 4000
    tokens_per_batch: int = 1200
    lr: float = 5e-5
