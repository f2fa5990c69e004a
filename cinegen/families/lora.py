"""LoRAs on an open-family model: diffusers' own `load_lora_weights` + `set_adapters` (through peft).

    --lora style.safetensors:0.7 --lora subject/      # a file, or a directory holding
                                                     # pytorch_lora_weights.safetensors (diffusers' name)

Each LoRA is checked against the model before it is loaded: diffusers converts the file to its own
key names (`lora_state_dict`, which also reads the original Wan / musubi formats) and the transformer
must have a module for every key. diffusers itself only warns when keys match nothing (the LoRA then
changes nothing); here that is an error naming the file, as is a shape that does not fit (peft's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinegen.families.family import FamilyError

_SCALE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Lora:
    path: Path
    scale: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Lora:
        """'path' or 'path:scale'. A colon followed by a path (a Windows drive, 'C:/loras/x') is part
        of the path, as is the whole text when it names an existing file; any other tail must be a
        number, else a FamilyError naming it."""
        head, sep, tail = text.rpartition(":")
        if not sep or not head or "/" in tail or "\\" in tail or Path(text).exists():
            return cls(Path(text))
        if not _SCALE.fullmatch(tail.strip()):
            raise FamilyError("invalid_switch",
                              f"--lora {text!r}: the scale after ':' must be a number, got {tail!r}")
        return cls(Path(head), float(tail))

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.scale:g}"


def check_exists(loras: tuple[Lora, ...]) -> None:
    """Before the model loads: every LoRA path is there."""
    for lora in loras:
        if not lora.path.exists():
            raise FamilyError("invalid_lora", f"LoRA {lora.path} does not exist")


def load_loras(pipe: Any, loras: tuple[Lora, ...]) -> None:
    """Load each LoRA as adapter `lora{i}` and set them all active with their scales."""
    if not loras:
        return
    if not hasattr(pipe, "load_lora_weights"):
        raise FamilyError("invalid_switch", f"{type(pipe).__name__} does not load LoRAs")
    names = [f"lora{i}" for i in range(len(loras))]
    for lora, name in zip(loras, names, strict=True):
        _check_fits(pipe, lora)
        try:
            pipe.load_lora_weights(str(lora.path), adapter_name=name)
        except (ValueError, KeyError, RuntimeError, OSError, TypeError) as e:
            raise FamilyError("invalid_lora", f"LoRA {lora.path} does not fit this model: "
                                              f"{_first_lines(str(e))}") from e
    pipe.set_adapters(names, [lo.scale for lo in loras])


def _check_fits(pipe: Any, lora: Lora) -> None:
    """Every transformer key of the LoRA (in diffusers' names) names a module of the transformer."""
    prefix = f"{getattr(pipe, 'transformer_name', 'transformer')}."
    try:
        state = pipe.lora_state_dict(str(lora.path))
    except (ValueError, KeyError, RuntimeError, OSError, TypeError) as e:
        raise FamilyError("invalid_lora", f"LoRA {lora.path} cannot be read as a LoRA: "
                                          f"{_first_lines(str(e))}") from e
    state = state[0] if isinstance(state, tuple) else state
    keys = [k.removeprefix(prefix) for k in state if k.startswith(prefix)]
    if not keys:
        raise FamilyError("invalid_lora", f"LoRA {lora.path} holds no weights for this model's transformer "
                                          f"({len(state)} keys, none under {prefix!r})")
    modules = {name for name, _ in pipe.transformer.named_modules()}
    missing = sorted({k.split(".lora_")[0] for k in keys} - modules)
    if missing:
        raise FamilyError("invalid_lora", f"LoRA {lora.path} does not fit this model: {len(missing)} of its "
                                          f"layers are not in {type(pipe.transformer).__name__} "
                                          f"(e.g. {', '.join(missing[:3])})")


def _first_lines(message: str, n: int = 3) -> str:
    lines = message.strip().splitlines()
    return " ".join(line.strip() for line in lines[:n]) + (f" ... ({len(lines) - n} more lines)"
                                                          if len(lines) > n else "")
