"""The memory and speed switches as command-line flags, shared by `cinegen generate` and `cinegen serve`.

One definition, so both commands take the same flags with the same choices and help (README "Open
model families": what each costs and saves); `Switches.from_flags` reads them back. Nothing heavy is
imported here (`--help` stays instant): the value names live here and `switches.py` checks against them.
"""

from __future__ import annotations

from typing import Any

OFFLOADS = ("model", "group", "sequential")
CACHES = ("first-block", "mag", "taylorseer", "faster")
CONTEXT_PARALLELS = ("ulysses", "ring")  # `generate` under torchrun; ring is refused (context_parallel.py)
QUANTIZES = ("int8", "float8")  # torchao weight-only, through diffusers' TorchAoConfig (families/quantize.py)


def add_switch_flags(g: Any) -> None:
    """Add the switch flags to a parser or argument group `g`."""
    g.add_argument("--offload", choices=OFFLOADS, default=None,
                   help="keep weights on the CPU and move them to the GPU as needed (less VRAM, slower)")
    g.add_argument("--vae-tiling", action="store_true", help="decode in tiles (less memory for large frames)")
    g.add_argument("--vae-slicing", action="store_true", help="decode a batch one video at a time")
    g.add_argument("--cache", choices=CACHES, default=None,
                   help="skip transformer work between similar steps (diffusers' cache hooks; faster, "
                        "approximate)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the transformer's repeated blocks (faster steps after a compile)")
    g.add_argument("--lora", action="append", default=[], metavar="PATH[:SCALE]",
                   help="load a LoRA (diffusers format), repeatable")
    g.add_argument("--quantize", choices=QUANTIZES, default=None,
                   help="store the transformer's weights as int8 or float8 (torchao weight-only through "
                        "diffusers; less memory, frames close to unquantised)")
    g.add_argument("--fp8-storage", action="store_true",
                   help="store the transformer's layer weights in float8, cast up per layer (diffusers' "
                        "layerwise casting; less memory, frames close to unquantised)")
