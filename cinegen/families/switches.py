"""Memory and speed switches for a diffusers pipeline, each diffusers' or torch's own feature.

`Switches` is what a request (a CLI flag set, a service setting) asks for; `apply_switches` turns
it on for a loaded pipeline or raises a FamilyError naming what is missing (a library, a device,
a model feature), before anything is generated. What each costs and saves: README "Open model
families"; docs/benchmarks.md for measured figures.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cinegen.families.context_parallel import check_kind
from cinegen.families.context_parallel import enable as enable_context_parallel
from cinegen.families.family import FamilyError
from cinegen.families.lora import Lora, check_exists, load_loras
from cinegen.families.quantize import TRANSFORMERS, enable_fp8_storage
from cinegen.families.switch_flags import CACHES, OFFLOADS, QUANTIZES

MAG_RATIOS_FILE = "mag_ratios.json"  # a checkpoint's calibrated MagCache ratios, beside model_index.json


@dataclass(frozen=True)
class Switches:
    """offload: None | model | group | sequential; cache: None | first-block | mag | taylorseer | faster;
    quantize: None | int8 | float8; context_parallel: None | ulysses (`cinegen generate` under torchrun
    only: context_parallel.py)."""

    offload: str | None = None
    vae_tiling: bool = False
    vae_slicing: bool = False
    cache: str | None = None
    compile: bool = False
    loras: tuple[Lora, ...] = ()
    quantize: str | None = None
    fp8_storage: bool = False
    context_parallel: str | None = None

    def __post_init__(self) -> None:
        if self.offload is not None and self.offload not in OFFLOADS:
            raise FamilyError("invalid_switch",
                              f"offload must be one of {', '.join(OFFLOADS)}, got {self.offload!r}")
        if self.cache is not None and self.cache not in CACHES:
            raise FamilyError("invalid_switch",
                              f"cache must be one of {', '.join(CACHES)}, got {self.cache!r}")
        if self.quantize is not None and self.quantize not in QUANTIZES:
            raise FamilyError("invalid_switch",
                              f"quantize must be one of {', '.join(QUANTIZES)}, got {self.quantize!r}")
        if self.quantize is not None and self.fp8_storage:
            raise FamilyError("invalid_switch", "quantize and fp8 storage each store the transformer's "
                                                "weights in fewer bits; give one")
        if self.context_parallel is not None:
            self._check_context_parallel(self.context_parallel)

    def _check_context_parallel(self, kind: str) -> None:
        """Refuse ring (context_parallel.py says why) and the switches not checked beside it: each rank
        would decide a cache skip on its own share of the tokens, and offload and compile are untried."""
        check_kind(kind)
        if others := [name for name, on in (("offload", self.offload), ("cache", self.cache),
                                            ("compile", self.compile)) if on]:
            raise FamilyError("invalid_switch", f"context parallelism has not been checked beside "
                                                f"{', '.join(others)}; give it alone")

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> Switches:
        """Switches from string settings (a service setting, `--backend-option KEY=VALUE` pairs):
        offload, vae_tiling, vae_slicing, cache, compile, quantize, fp8_storage, and lora as
        comma-separated PATH[:SCALE]; booleans are true/false/1/0; an unknown key or value raises
        naming it."""
        known = {"offload", "vae_tiling", "vae_slicing", "cache", "compile", "quantize", "fp8_storage",
                 "lora"}
        if unknown := sorted(set(options) - known):
            raise FamilyError("invalid_switch", f"unknown switch setting(s) {', '.join(unknown)}; known: "
                                                f"{', '.join(sorted(known))}")

        def flag(key: str) -> bool:
            value = options.get(key, "false").strip().lower()
            if value not in ("true", "false", "1", "0"):
                raise FamilyError("invalid_switch", f"{key} must be true or false, got {options[key]!r}")
            return value in ("true", "1")

        loras = tuple(Lora.parse(t.strip()) for t in options.get("lora", "").split(",") if t.strip())
        return cls(offload=options.get("offload") or None, vae_tiling=flag("vae_tiling"),
                   vae_slicing=flag("vae_slicing"), cache=options.get("cache") or None,
                   compile=flag("compile"), loras=loras, quantize=options.get("quantize") or None,
                   fp8_storage=flag("fp8_storage"))

    @classmethod
    def from_flags(cls, args: Any) -> Switches | None:
        """The `switch_flags` flags of a parsed command line; None when none is on."""
        switches = cls(offload=args.offload, vae_tiling=args.vae_tiling, vae_slicing=args.vae_slicing,
                       cache=args.cache, compile=args.compile, loras=tuple(Lora.parse(t) for t in args.lora),
                       quantize=args.quantize, fp8_storage=args.fp8_storage,
                       context_parallel=getattr(args, "context_parallel", None))  # `generate` only
        return switches if switches.describe() else None

    def describe(self) -> dict[str, Any]:
        """The switches that are on, for the manifest's settings."""
        on: dict[str, Any] = {"offload": self.offload, "vae_tiling": self.vae_tiling or None,
                              "vae_slicing": self.vae_slicing or None, "cache": self.cache,
                              "compile": self.compile or None, "quantize": self.quantize,
                              "fp8_storage": self.fp8_storage or None,
                              "context_parallel": self.context_parallel,
                              "loras": [lo.label for lo in self.loras] or None}
        return {k: v for k, v in on.items() if v is not None}


def check_before_load(switches: Switches, device: str) -> None:
    """What can be refused before the weights load: the device and the libraries."""
    if switches.offload is not None:
        if not device.startswith(("cuda", "xpu")):  # docs/decisions.md: tried on a CPU, saves nothing there
            raise FamilyError("invalid_switch",
                              f"offload {switches.offload!r} moves weights between the CPU and an "
                              f"accelerator, and needs one (--device cuda or xpu); this run's device is "
                              f"{device!r}, where the weights are in CPU memory already")
        if switches.offload in ("model", "sequential") and importlib.util.find_spec("accelerate") is None:
            raise FamilyError("invalid_switch",
                              f"offload {switches.offload!r} needs the 'accelerate' package, "
                                                "which is not installed")
    if switches.loras and importlib.util.find_spec("peft") is None:
        raise FamilyError("invalid_switch",
                          "--lora needs the 'peft' package (diffusers loads LoRAs through it), "
                                            "which is not installed")
    check_exists(switches.loras)
    if switches.quantize is not None:
        for package in ("torchao", "accelerate"):  # diffusers quantises while it loads, through accelerate
            if importlib.util.find_spec(package) is None:
                raise FamilyError("invalid_switch", f"--quantize {switches.quantize!r} needs the {package!r} "
                                                    "package, which is not installed (the 'quantize' extra: "
                                                    "pip install -e '.[quantize]' in a checkout)")


def apply_switches(pipe: Any, switches: Switches, device: str, model_dir: Path) -> None:
    """Turn the switches on for a loaded pipeline (placed on `device` unless offloaded)."""
    if switches.vae_tiling or switches.vae_slicing:
        for name, on in (("enable_tiling", switches.vae_tiling), ("enable_slicing", switches.vae_slicing)):
            if on and not hasattr(pipe.vae, name):
                raise FamilyError("invalid_switch",
                                  f"this model's VAE ({type(pipe.vae).__name__}) has no {name}")
            if on:
                getattr(pipe.vae, name)()
    load_loras(pipe, switches.loras)
    if switches.fp8_storage:
        for transformer in _transformers(pipe):
            enable_fp8_storage(transformer)
    if switches.cache is not None:
        for transformer in _transformers(pipe):
            _enable_cache(transformer, switches.cache, pipe, model_dir)
    if switches.compile:
        for transformer in _transformers(pipe):
            if not getattr(transformer, "_repeated_blocks", None):
                raise FamilyError("invalid_switch",
                                  f"{type(transformer).__name__} declares no repeated blocks "
                                                    "for regional compilation")
            transformer.compile_repeated_blocks(fullgraph=True)
    place(pipe, switches.offload, device)
    if switches.context_parallel is not None:
        enable_context_parallel(pipe, switches.context_parallel, _transformers(pipe))


def _transformers(pipe: Any) -> list[Any]:
    return [t for t in (getattr(pipe, name, None) for name in TRANSFORMERS) if t is not None]


def _enable_cache(transformer: Any, cache: str, pipe: Any, model_dir: Path) -> None:
    name = type(transformer).__name__
    if not hasattr(transformer, "enable_cache"):
        raise FamilyError("invalid_switch", f"{name} takes no diffusers cache hook")
    if cache == "first-block" and _block_count(transformer) < 2:
        raise FamilyError("invalid_switch",
                          "FirstBlockCache needs at least two transformer blocks (the first decides, the "
                          f"rest are skipped); {name} has {_block_count(transformer)}")
    transformer.enable_cache(_cache_config(cache, pipe, model_dir))


def _block_count(transformer: Any) -> int:
    for name in ("blocks", "transformer_blocks"):
        if isinstance(getattr(transformer, name, None), torch.nn.ModuleList):
            return len(getattr(transformer, name))
    return 0


def _cache_config(name: str, pipe: Any, model_dir: Path) -> Any:
    from diffusers import FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

    if name == "first-block":
        return FirstBlockCacheConfig(threshold=0.05)
    if name == "taylorseer":
        return TaylorSeerCacheConfig()
    if name == "faster":
        # the pipeline's own timestep; guidance passes run separately in these pipelines
        return FasterCacheConfig(current_timestep_callback=lambda: pipe.current_timestep,
                                 is_guidance_distilled=True)
    ratios = model_dir / MAG_RATIOS_FILE
    if not ratios.exists():
        raise FamilyError("invalid_switch", f"MagCache needs magnitude ratios calibrated for this checkpoint "
                                            f"({ratios} is missing; diffusers ships them for Flux only)")
    return MagCacheConfig(mag_ratios=json.loads(ratios.read_text()))


def place(pipe: Any, offload: str | None, device: str) -> None:
    """Offload as asked (model and sequential offload hook a pipeline's components for that pipeline;
    group offload hooks the modules themselves), else move the pipeline to `device`."""
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif offload == "group":
        pipe.enable_group_offload(onload_device=device, offload_device="cpu", offload_type="leaf_level")
    elif torch.device(device).type != "cpu":  # components load on the CPU
        pipe.to(device)
