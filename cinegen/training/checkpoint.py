"""A run's resumable state: `checkpoint.pt` beside its outputs, written then renamed so a run killed
mid-save keeps the previous one. Modules and optimisers are named; extra entries (the step, a ledger
dict) travel with them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

Stateful = torch.nn.Module | torch.optim.Optimizer


def save_checkpoint(path: Path, parts: dict[str, Stateful], **extra: Any) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({**{k: v.state_dict() for k, v in parts.items()}, **extra}, tmp)
    tmp.replace(path)


def resume_checkpoint(path: Path, parts: dict[str, Stateful], device: torch.device | str) -> dict[str, Any]:
    """Load `path` into `parts` (in place); return the whole saved dict. An absent file returns {}."""
    if not path.exists():
        return {}
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=False)
    for name, part in parts.items():
        part.load_state_dict(state[name])
    log.info("resumed from %s at step %d", path, state.get("step", 0))
    return state
