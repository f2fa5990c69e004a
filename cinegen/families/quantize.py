"""Smaller transformer weights: diffusers' quantisation configs, and layerwise fp8 storage.

- `--quantize int8|float8`: the transformer(s) load through `from_pretrained(quantization_config=...)`
  with diffusers' `TorchAoConfig` (torchao's weight-only `Int8WeightOnlyConfig` /
  `Float8WeightOnlyConfig`): weights stored as int8 / float8 with a scale per output channel,
  activations in the load dtype. Runs on a CPU (docs/decisions.md: what was tried).
- `--fp8-storage`: diffusers' `enable_layerwise_casting`: each layer's weights stored as float8 e4m3 and
  cast up to the compute dtype just for its forward (diffusers skips norms, embeddings and the
  patch embedding); no new library.
"""

from __future__ import annotations

from typing import Any

import torch

from cinegen.families.family import FamilyError
from cinegen.families.switch_flags import QUANTIZES

TRANSFORMERS = ("transformer", "transformer_2")  # a family's denoisers (Wan 2.2 A14B has two)


def quantization_config(name: str, meta: dict[str, Any]) -> Any:
    """A diffusers `PipelineQuantizationConfig` quantising the directory's transformer(s) as `name`."""
    from diffusers import PipelineQuantizationConfig, TorchAoConfig
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig

    configs = {"int8": Int8WeightOnlyConfig, "float8": Float8WeightOnlyConfig}
    if name not in configs:
        raise FamilyError("invalid_switch", f"quantize must be one of {', '.join(QUANTIZES)}, got {name!r}")
    present = [c for c in TRANSFORMERS if isinstance(meta.get(c), list) and meta[c][0] is not None]
    mapping: dict[str, Any] = {c: TorchAoConfig(configs[name]()) for c in present}
    return PipelineQuantizationConfig(quant_mapping=mapping)


def enable_fp8_storage(transformer: Any) -> None:
    """Store `transformer`'s layer weights in float8 e4m3, computing in its current dtype."""
    if not hasattr(transformer, "enable_layerwise_casting"):
        raise FamilyError("invalid_switch", f"{type(transformer).__name__} takes no layerwise casting")
    transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=transformer.dtype)
