"""The fastest correct CPU path for the shipped model: runtimes side by side, in one process.

For the two fixed costs of a clip, one denoising call of the transformer (a 2 s window, 9 latent
frames at 128x128, batch 2 as guidance runs it, or batch 1 as a student does) and one VAE decode of a
window, it times each runtime available here, median of --reps after a warm-up, and checks each one's
output against eager float32:

  eager-fp32     plain PyTorch
  eager-bf16     PyTorch under bfloat16 autocast (only where the CPU has AVX512-BF16 or AMX)
  compile-fp32   torch.compile (inductor); its compile time is reported once, apart
  onnxruntime    the module exported with torch.onnx (dynamo) and run by ONNX Runtime's CPU provider

and each at 1 and at all threads. Prints a table and writes --json.

    .venv/bin/python benchmarks/cpu_runtimes.py [--reps 5] [--threads 1,2] [--only dit,vae]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

MODEL = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1"


def cpu_flags() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return platform.processor()
    return ",".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)


def _median_time(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm-up: first-call allocations
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _onnx_session(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], threads: int
) -> Callable[..., Any]:
    import onnxruntime as ort

    path = Path(tempfile.mkdtemp(prefix="cinegen-onnx-")) / "m.onnx"
    torch.onnx.export(module, args, str(path), dynamo=True, external_data=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(*xs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(sess.run(None, {n: x.numpy() for n, x in zip(names, xs, strict=True)})[0])

    return run


class _DiTCall(torch.nn.Module):
    """The transformer as the sampler calls it, with the text embedding as a plain input."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor, layout: torch.Tensor
    ) -> torch.Tensor:
        return self.model(x, sigma, text, layout=layout)


class _Decode(torch.nn.Module):
    def __init__(self, vae: Any) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def runtimes(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], threads: int, reps: int, bf16: bool
) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    with torch.no_grad():
        ref = module(*args).float()
    rows: list[dict[str, Any]] = []

    def record(name: str, fn: Callable[[], torch.Tensor], extra: dict[str, Any] | None = None) -> None:
        with torch.no_grad():
            err = float((fn().float() - ref).abs().max())
            rows.append(
                {
                    "runtime": name,
                    "threads": threads,
                    "median_s": round(_median_time(fn, reps), 4),
                    "max_abs_err": round(err, 5),
                    **(extra or {}),
                }
            )

    with torch.no_grad():
        record("eager-fp32", lambda: module(*args))
        if bf16:

            def run_bf16() -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return module(*args)

            record("eager-bf16", run_bf16)
        t = time.perf_counter()
        compiled = torch.compile(module)
        compiled(*args)
        record("compile-fp32", lambda: compiled(*args), {"compile_s": round(time.perf_counter() - t, 1)})
    try:
        t = time.perf_counter()
        session = _onnx_session(module, args, threads)
        export_s = time.perf_counter() - t
        record("onnxruntime", lambda: session(*args), {"export_s": round(export_s, 1)})
    except Exception as e:  # a runtime that cannot take this graph is a result, not a crash
        rows.append({"runtime": "onnxruntime", "threads": threads, "error": f"{type(e).__name__}: {e}"[:200]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default=f"1,{torch.get_num_threads()}")
    ap.add_argument("--only", default="dit,vae")
    ap.add_argument("--batch", type=int, default=2, help="transformer batch: 2 = guided teacher, 1 = student")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    from cinegen.models.text import TextEncoder
    from cinegen.models.transformer import VelocityModel, layout_channels_of, load_transformer
    from cinegen.models.vae import VideoVAE
    from cinegen.pipeline.loading import cpu_has_fast_bf16

    bf16 = cpu_has_fast_bf16()
    g = torch.Generator().manual_seed(0)
    transformer = load_transformer(MODEL / "transformer").eval()
    vae = VideoVAE.from_pretrained(MODEL / "vae").eval()
    b, n, h, w = a.batch, 9, 16, 16  # a 2 s window at 128x128: 9 latent frames of 16x16
    text = TextEncoder().encode(["a red ball bouncing on grass"] * b)[0]
    dit_args = (
        torch.randn(b, vae.config.latent_channels, n, h, w, generator=g),
        torch.full((b, n), 0.7),
        text,
        torch.rand(b, layout_channels_of(transformer), n, h, w, generator=g),
    )
    vae_args = (torch.randn(1, vae.config.latent_channels, n, h, w, generator=g),)
    rows = []
    for threads in (int(t) for t in a.threads.split(",")):
        if "dit" in a.only:
            rows += [
                {"part": f"transformer call (batch {b})", **r}
                for r in runtimes(
                    _DiTCall(VelocityModel(transformer)).eval(), dit_args, threads, a.reps, bf16
                )
            ]
        if "vae" in a.only:
            rows += [
                {"part": "vae decode (33 frames)", **r}
                for r in runtimes(_Decode(vae).eval(), vae_args, threads, a.reps, bf16)
            ]
    print(f"CPU flags: {cpu_flags()}; torch {torch.__version__}; {a.reps} reps, medians")
    print(
        f"{'part':28s} {'runtime':14s} {'threads':>7s} {'median s':>9s} {'vs eager':>8s} {'max err':>9s}"
        "  notes"
    )
    for r in rows:
        base = next(
            (
                x["median_s"]
                for x in rows
                if x["part"] == r["part"] and x["threads"] == r["threads"] and x["runtime"] == "eager-fp32"
            ),
            None,
        )
        if "error" in r:
            print(
                f"{r['part']:28s} {r['runtime']:14s} {r['threads']:7d} {'-':>9s} {'-':>8s} {'-':>9s}"
                f"  {r['error']}"
            )
            continue
        note = ", ".join(f"{k} {r[k]}" for k in ("compile_s", "export_s") if k in r)
        ratio = f"{base / r['median_s']:.2f}x" if base else "-"
        print(
            f"{r['part']:28s} {r['runtime']:14s} {r['threads']:7d} {r['median_s']:9.4f} {ratio:>8s} "
            f"{r['max_abs_err']:9.5f}  {note}"
        )
    if a.json:
        a.json.write_text(json.dumps({"cpu_flags": cpu_flags(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
