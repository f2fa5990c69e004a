"""Loading a family's model directory with diffusers, also where `accelerate` is not installed.

diffusers loads a model whose class keeps some modules in float32 (Wan's and others'
`_keep_in_fp32_modules`) only through accelerate's low-memory path; without accelerate it
refuses. Those components are built here from their config and safetensors shards (what
`from_pretrained` does, minus the low-memory placement) and handed to
`DiffusionPipeline.from_pretrained`, which loads the rest itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from cinegen.families.family import FamilyError


def load_pipeline(path: Path, dtype: torch.dtype, label: str, meta: dict[str, Any],
                  quantization: Any = None) -> Any:
    """The directory's diffusers pipeline in `dtype` (modules the class keeps in float32 stay so),
    quantised as `quantization` (a diffusers `PipelineQuantizationConfig`) says."""
    import diffusers

    _check_components(path, label, meta)
    given: dict[str, Any] = {}
    if importlib.util.find_spec("accelerate") is None:
        for name, entry in meta.items():
            if isinstance(entry, list) and len(entry) == 2 and entry[0] == "diffusers" and entry[1]:
                cls = getattr(diffusers, str(entry[1]), None)
                if cls is not None and getattr(cls, "_keep_in_fp32_modules", None):
                    given[name] = _load_model(cls, path / name, dtype, label)
    kw: dict[str, Any] = {} if dtype == torch.float32 else {"torch_dtype": dtype}
    if quantization is not None:
        kw["quantization_config"] = quantization
    try:
        pipeline_class = getattr(diffusers, str(meta["_class_name"]))  # the registry knows it
        return pipeline_class.from_pretrained(str(path), local_files_only=True, **given, **kw)
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:
        raise FamilyError("model_unavailable", f"cannot load {label} from {path}: {e}") from e


def _check_components(path: Path, label: str, meta: dict[str, Any]) -> None:
    """Each diffusers model component has its folder, config and weights (diffusers' own message for a
    missing one can name another file or folder)."""
    import diffusers

    for name, entry in meta.items():
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == "diffusers" and entry[1]):
            continue
        cls = getattr(diffusers, str(entry[1]), None)
        folder = path / name
        if cls is None or not issubclass(cls, diffusers.ModelMixin):
            continue
        weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")] if folder.is_dir() else []
        if not (folder / "config.json").is_file() or not weights:
            raise FamilyError("model_unavailable",
                              f"cannot load {label} from {path}: component {name!r} is missing its "
                              f"config.json or weights in {folder}")


def _load_model(cls: Any, folder: Path, dtype: torch.dtype, label: str) -> Any:
    from diffusers.models.model_loading_utils import load_state_dict

    shards = sorted(folder.glob("*.safetensors"))
    if not (folder / "config.json").is_file() or not shards:
        raise FamilyError("model_unavailable",
                          f"{label}: component {folder.name!r} is missing its config.json or "
                                               f"safetensors weights in {folder}")
    model = cls.from_config(cls.load_config(str(folder)))
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        state.update(load_state_dict(str(shard)))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise FamilyError("model_unavailable", f"{label}: the {folder.name} weights do not match its config: "
                                               f"{str(e)[:400]}") from e
    if dtype != torch.float32:
        model = model.to(dtype)
        keep = set(cls._keep_in_fp32_modules)
        for name, module in model.named_modules():
            if keep & set(name.split(".")):
                module.to(torch.float32)
    return model.eval()
