"""One video on several processes: diffusers' context parallelism, under torchrun.

`cinegen generate --context-parallel ulysses`, launched as `torchrun --nproc_per_node N -m cinegen
generate ...`: every rank loads the whole pipeline and runs the same seeded call; diffusers'
`transformer.enable_parallelism(config=ContextParallelConfig(ulysses_degree=N))` splits the
transformer's token sequence across the ranks and all-to-alls the attention heads, so each rank
holds 1/N of the activations (the sequence must divide by N, the attention heads too). Every rank
ends with the same frames; rank 0 alone publishes.

What runs where (docs/decisions.md "Context parallelism"):
- ulysses: checked on the CPU with gloo, two processes on a tiny Wan: frames bit-equal to one process.
- ring: diffusers' ring attention merges partial results through the attention's log-sum-exp, which
  only its flash-attention, cuDNN and Sage backends return (PyTorch's SDPA, the only CPU backend, does
  not), so it cannot run on a CPU and has not been checked here; refused with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import torch

from cinegen.families.family import FamilyError

RING_REFUSAL = ("context parallelism 'ring' needs an attention backend that returns the log-sum-exp "
                "(diffusers' flash-attention, cuDNN or Sage backends; PyTorch's SDPA, the CPU's only one, "
                "does not), so cinegen has not been able to check it; use 'ulysses'")


@dataclass(frozen=True)
class World:
    """This process's place in a torchrun launch (its RANK, LOCAL_RANK and WORLD_SIZE variables)."""

    rank: int
    local_rank: int
    size: int

    @classmethod
    def from_env(cls) -> World:
        def var(name: str, default: str) -> int:
            return int(os.environ.get(name, default))

        return cls(var("RANK", "0"), var("LOCAL_RANK", "0"), var("WORLD_SIZE", "1"))

    def device(self, device: str) -> str:
        """Each rank's own accelerator ('cuda' -> 'cuda:LOCAL_RANK'); a CPU stays the CPU."""
        dev = torch.device(device)
        return device if dev.type == "cpu" or dev.index is not None else f"{dev.type}:{self.local_rank}"


def check_kind(kind: str) -> None:
    """Refuse what cannot run (ring: see the module docstring) before anything loads."""
    if kind == "ring":
        raise FamilyError("invalid_switch", RING_REFUSAL)
    if kind != "ulysses":
        raise FamilyError("invalid_switch", f"context parallelism must be 'ulysses', got {kind!r}")


def start(world: World, device: str) -> None:
    """Join the torchrun process group: gloo on a CPU, nccl on CUDA (one GPU per rank)."""
    import torch.distributed as dist

    if world.size < 2:
        raise FamilyError("invalid_switch", "context parallelism splits one video across processes: launch "
                                            "under torchrun with --nproc_per_node 2 or more (WORLD_SIZE is "
                                            f"{world.size})")
    accelerator = torch.accelerator.current_accelerator()
    if torch.device(device).type == "cpu" and accelerator is not None:
        # diffusers builds its device mesh on the machine's accelerator, whatever the pipeline's device
        raise FamilyError("invalid_switch", f"context parallelism runs on this machine's {accelerator.type} "
                                            f"(diffusers builds its device mesh there): give --device "
                                            f"{accelerator.type}, not {device!r}")
    if not dist.is_initialized():
        backend = "gloo" if torch.device(device).type == "cpu" else "nccl"
        if backend == "nccl":
            torch.cuda.set_device(torch.device(world.device(device)))
        dist.init_process_group(backend)


def stop() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def enable(pipe: Any, kind: str, transformers: list[Any]) -> None:
    """Turn diffusers' context parallelism on for each transformer of a placed pipeline."""
    import torch.distributed as dist
    from diffusers import ContextParallelConfig

    check_kind(kind)
    if not dist.is_initialized():
        raise FamilyError("invalid_switch", "context parallelism runs under torchrun (no process group)")
    for transformer in transformers:
        if getattr(transformer, "_cp_plan", None) is None:
            raise FamilyError("invalid_switch",
                              f"{type(transformer).__name__} has no context-parallel plan in diffusers")
        with _cpu_mesh():
            transformer.enable_parallelism(config=ContextParallelConfig(ulysses_degree=dist.get_world_size()))


@contextmanager
def _cpu_mesh() -> Iterator[None]:
    """diffusers 0.42 picks each rank's device as `rank % torch.accelerator.device_count()`, which
    divides by zero on a machine without an accelerator; there the device is the CPU's (index 0),
    so count one while it looks. On a GPU machine nothing is changed."""
    if torch.accelerator.device_count() > 0:
        yield
        return
    with mock.patch.object(torch.accelerator, "device_count", return_value=1):
        yield
