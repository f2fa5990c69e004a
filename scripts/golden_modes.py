"""Golden check: a SHA-256 of the frames every generation mode makes, for a fixed seed.

Records (or checks) what the pipeline produces so a refactor can prove its outputs bit-identical:

    python scripts/golden_modes.py --record tests/golden/pipeline_modes.json   # on the old code
    python scripts/golden_modes.py --check tests/golden/pipeline_modes.json    # on the new code

Two pipelines: `tiny` (random weights, the test suite's tiny configs, seconds) and, with
`--shipped`, the shipped weights at two steps. Float results differ between CPUs (AVX2 and
AVX-512 kernels round differently), so the file records the CPU it was made on and a check on
another CPU says so instead of failing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def cpu_signature() -> str:
    """What changes float results: the CPU's model name and SIMD flags, torch, and its thread count
    (convolutions split their sums by thread: one thread and two hash differently)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    flags = sorted({f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in info.split()})
    return f"{name} [{' '.join(flags)}] torch {torch.__version__} threads {torch.get_num_threads()}"


def tiny_pipeline(window_latents: int = 3) -> Any:
    """The test suite's tiny random pipeline (tests/test_pipeline.py), rebuilt bit for bit."""
    try:  # the adapters moved beside the pipeline (cinegen/pipeline/adapters.py)
        from cinegen.pipeline.adapters import BuiltinVAE, MiniLMPrompts
    except ImportError:
        from cinegen.models.loading import BuiltinVAE, MiniLMPrompts  # type: ignore[no-redef]
    from cinegen.models.text import TextEncoder
    from cinegen.models.transformer import DIT_PRESETS, build_transformer
    from cinegen.models.vae import VAE_PRESETS, VideoVAE
    from cinegen.pipeline import CinegenPipeline

    torch.manual_seed(0)
    vae = VideoVAE(VAE_PRESETS["tiny"]).eval()
    with torch.no_grad():
        for p in vae.parameters():
            p.copy_(p.half().float())
    transformer: Any = build_transformer(DIT_PRESETS["tiny"]).eval()
    with torch.no_grad():
        transformer.proj_out.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(1))
    return CinegenPipeline(BuiltinVAE(vae), transformer, MiniLMPrompts(TextEncoder()),
                           sizes=[(64, 64), (80, 48), (128, 128)],
                           window_latents=window_latents, default_steps=2)


def frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def mode_calls(w: int, h: int) -> dict[str, dict[str, Any]]:
    """Every mode's keyword arguments (besides prompt, size and seed)."""
    from cinegen.pipeline import ScheduleEntry

    return {
        "text": {"seconds": 0.5},
        "text_unipc": {"seconds": 0.5, "sampler": "unipc", "steps": 3},
        "still": {"still": True, "fps": 24},
        "image": {"seconds": 0.5, "image": frames(1, 40, 100, seed=3)[0]},
        "keyframes": {"seconds": 1.0, "keyframes": {0.0: frames(1, h, w, 1)[0], 0.5: frames(1, h, w, 2)[0]}},
        "extend_forward": {"seconds": 0.5, "extend": frames(9, h, w)},
        "extend_backward": {"seconds": 0.5, "extend": frames(9, h, w), "direction": "backward"},
        "connect": {"seconds": 1.0, "connect": (frames(9, h, w, 1), frames(3, h, w, 2))},
        "loop": {"seconds": 1.0, "loop": True},
        "edit": {"seconds": 1.0, "edit": frames(17, h, w), "strength": 0.5},
        "schedule": {"seconds": 1.0,
                     "schedule": [ScheduleEntry(0.0, "a red ball"), ScheduleEntry(0.5, "a blue ball")]},
    }


def digest(pipe: Any, w: int, h: int, only: set[str] | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, kw in mode_calls(w, h).items():
        if only is not None and name not in only:
            continue
        result = pipe("a red ball moving right", width=w, height=h, seed=7, **kw)
        out[name] = hashlib.sha256(np.ascontiguousarray(result.frames).tobytes()).hexdigest()
    return out


def compute(shipped: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    result: dict[str, Any] = {"cpu": cpu_signature(), "tiny": digest(tiny_pipeline(), 64, 64)}
    log(f"tiny: {len(result['tiny'])} modes")
    if shipped:
        from cinegen.pipeline import CinegenPipeline

        pipe = CinegenPipeline.from_pretrained(ROOT / "weights" / "backlot-v1", dtype="float32")
        pipe.default_steps = 2
        result["shipped"] = digest(pipe, 128, 128)
        log(f"shipped: {len(result['shipped'])} modes")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", type=Path)
    g.add_argument("--check", type=Path)
    ap.add_argument("--shipped", action="store_true", help="also the shipped weights (2 steps)")
    args = ap.parse_args(argv)
    got = compute(args.shipped)
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(got, indent=2) + "\n")
        print(f"recorded {args.record}")
        return 0
    want = json.loads(args.check.read_text())
    if want["cpu"] != got["cpu"]:
        print(f"recorded on another CPU ({want['cpu']}); this is {got['cpu']}: not comparable")
        return 2
    bad = [f"{part}/{mode}" for part in ("tiny", "shipped") if part in want and part in got
           for mode in want[part] if want[part][mode] != got[part].get(mode)]
    print("identical" if not bad else f"DIFFERENT: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
