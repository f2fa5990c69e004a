"""Generation speed and memory of the shipped model on this machine, as a user meets it.

Prints (and writes to --json), each a median of --reps, side by side in one run:
  1. `cinegen --help`, a whole process;
  2. the whole `cinegen generate` process for the default 4 s clip (start-up, model load, moderation,
     generation, watermark, signing), per variant, after one first run (which traces the model into
     the data directory, as the quick start's first command does), and beside it with `--no-traces`;
  3. the pipeline call alone for the same clip (model loaded and warm), with per-stage timings;
  4. time and peak memory against duration with the fastest variant (each duration in its own
     process, so peak RSS is that run's alone).
A variant is dtype:runtime:quality, e.g. float32:eager:full, bfloat16:eager:full, float32:onnx:full,
auto:eager:fast (a quality the model does not ship is skipped with a note; bfloat16 only where the CPU
has AVX512-BF16 or AMX). The CPU's flags head the output: write them beside every figure you quote.

    .venv/bin/python benchmarks/generation_speed.py [--reps 5] [--durations 4,60] [--variants ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cinegen.pipeline.loading import cpu_has_fast_bf16

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "weights" / "backlot-v1"
CINEGEN = [sys.executable, "-m", "cinegen"]
PROMPTS = (
    "a red ball bouncing on a grass field",
    "a blue box falling against a blue sky",
    "a yellow star drifting left at sunset",
    "a green triangle moving up at night",
    "a white ball growing in a grey studio",
)
# environment variables that cap the ISA torch, oneDNN and MKL use: set all three to emulate an AVX2-only CPU
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
DEFAULT_VARIANTS = "float32:eager:full,bfloat16:eager:full,float32:onnx:full,auto:eager:fast"


def cpu_flags() -> str:
    """The CPU's flags that matter here, and any cap on the ISA torch may use (AVX2 emulation)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    found = ",".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "none"
    caps = [f"{k}={os.environ[k]}" for k in ISA_CAPS if k in os.environ]
    return found + (f" (capped: {' '.join(caps)})" if caps else "")


def _qualities() -> set[str]:
    meta = json.loads((MODEL / "model_index.json").read_text())
    return {"full", *(meta.get("qualities") or {})}


def _usable(variant: str) -> str | None:
    """None if this machine and model can run the variant, else why not."""
    dtype, runtime, quality = variant.split(":")
    if quality not in _qualities():
        return f"the model ships no {quality!r} quality"
    if dtype == "bfloat16" and not cpu_has_fast_bf16():
        return "no fast bfloat16 on this CPU"
    if runtime == "onnx" and dtype == "bfloat16":
        return "onnx runs float32"
    return None


def pipeline_run(seconds: float, variant: str, reps: int, cache: Path) -> dict:
    """In this process: load once, warm up, then `reps` timed calls of the pipeline."""
    from cinegen.pipeline import CinegenPipeline
    from cinegen.pipeline.runtimes import apply_runtime

    dtype, runtime, quality = variant.split(":")
    pipe = CinegenPipeline.from_pretrained(MODEL, dtype=dtype)
    apply_runtime(pipe, runtime, cache)
    pipe("warm up", seconds=min(seconds, 4.0), seed=99, quality=quality)  # first-call allocations, graphs
    runs = []
    for r in range(reps):
        t = time.perf_counter()
        out = pipe(PROMPTS[r % len(PROMPTS)], seconds=seconds, seed=r, quality=quality)
        runs.append({"wall": time.perf_counter() - t, **out.timings})
    wall = statistics.median(r["wall"] for r in runs)
    return {
        "variant": variant, "seconds": seconds, "reps": reps, "median_wall_s": round(wall, 3),
        "median_stages": {k: round(statistics.median(r.get(k, 0.0) for r in runs), 3) for k in runs[0]
                          if k != "wall"},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "realtime_factor": round(seconds / wall, 3), "steps": out.settings["steps"],
    }


def process_wall(args: list[str], reps: int) -> float:
    """Median wall time of a whole `cinegen` process."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(CINEGEN + args, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--durations", default="4,60")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    cache = Path(tempfile.gettempdir()) / "cinegen-bench-onnx"
    if a.child:
        seconds, variant, reps = a.child.split("@")
        print(json.dumps(pipeline_run(float(seconds), variant, int(reps), cache)))
        return

    def child(seconds: float, variant: str, reps: int) -> dict:
        out = subprocess.run([sys.executable, __file__, "--child", f"{seconds}@{variant}@{reps}"],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    print(f"CPU flags: {cpu_flags()}; {os.cpu_count()} cores; medians of {a.reps}")
    results: dict = {"cpu_flags": cpu_flags(), "help_s": process_wall(["--help"], a.reps),
                     "process": [], "pipeline": [], "durations": [], "skipped": {}}
    print(f"cinegen --help: {results['help_s']} s")
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        why = _usable(v)
        if why:
            results["skipped"][v] = why
            print(f"{v}: skipped ({why})")
            continue
        r = child(4.0, v, a.reps)
        results["pipeline"].append(r)
        dtype, runtime, quality = v.split(":")
        with tempfile.TemporaryDirectory() as d:
            flags = ["generate", PROMPTS[0], "-o", f"{d}/x.mp4", "--data-dir", f"{d}/data", "--dtype", dtype,
                     "--runtime", runtime, "--quality", quality]
            # one run first, as the quick start's first command does: it traces the built-in model into the
            # data directory (models/traced.py; eager), or fills ONNX Runtime's graph cache (onnx)
            subprocess.run(CINEGEN + flags, check=True, capture_output=True, cwd=ROOT)
            wall = process_wall(flags, a.reps)
            # side by side: the same process loading the PyTorch modules instead of their traces
            untraced = process_wall([*flags, "--no-traces"], a.reps) if runtime == "eager" else None
        results["process"].append({"variant": v, "median_wall_s": wall, "untraced_median_wall_s": untraced})
        print(f"{v:24s} whole process {wall:6.2f} s (without traces {untraced} s) | pipeline call "
              f"{r['median_wall_s']:6.2f} s ({r['steps']} steps, x{r['realtime_factor']} real time) "
              f"stages {r['median_stages']}")
    best = min(results["pipeline"], key=lambda r: r["median_wall_s"])["variant"]
    for s in (float(x) for x in a.durations.split(",") if x):
        r = child(s, best, 1)
        results["durations"].append(r)
        print(f"{s:>5.0f} s clip ({best}): {r['median_wall_s']} s, x{r['realtime_factor']} real time, "
              f"peak RSS {r['peak_rss_mib']} MiB")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
