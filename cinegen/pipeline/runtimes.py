"""Runtimes: what executes the transformer's denoising calls on a CPU.

`eager` is PyTorch (float32, or bfloat16 where the CPU multiplies it in hardware). `onnx` exports the
velocity model with `torch.onnx` (dynamo) once per input shape, caches the graph on disk keyed by the
weights' hash, and runs it with ONNX Runtime's CPU provider: on this project's CPUs that is 1.26x
eager float32 per transformer call with the same output to 1e-5 (benchmarks/cpu_runtimes.py), the
fastest exact path where bfloat16 has no fast path (AVX2-only CPUs). A first call at a new shape
pays the export (about 20 s); later calls and later processes reuse the cached graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import threading
from pathlib import Path
from typing import Any

import torch

from cinegen.models.velocity import known_layout
from cinegen.pipeline.types import PipelineError

RUNTIMES = ("eager", "onnx")
_ONNX_PACKAGES = ("onnxruntime", "onnx", "onnxscript")


def check_runtime(name: str) -> None:
    """A runtime that is unknown or not installed is an error that names it and how to install it."""
    if name not in RUNTIMES:
        raise PipelineError(f"runtime must be one of {', '.join(RUNTIMES)}, got {name!r}")
    if name == "onnx":
        missing = [p for p in _ONNX_PACKAGES if importlib.util.find_spec(p) is None]
        if missing:
            raise PipelineError(f"runtime 'onnx' needs {', '.join(missing)}, which are not installed: "
                                "pip install 'cinegen[onnx]'")


class _Call(torch.nn.Module):
    """The velocity model with every input positional (layout always given): one graph to export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor,
                layout: torch.Tensor) -> torch.Tensor:
        return self.model(x, sigma, text, layout=layout)


class OnnxVelocity:
    """`v = model(x, sigma, text, layout=None)` like `VelocityModel`, run by ONNX Runtime.

    Graphs are exported per input-shape signature into `cache_dir` (named by the weights' sha256, the
    shapes and the torch version), so a model change or a new size never reuses a stale graph.
    """

    def __init__(self, model: Any, cache_dir: Path, threads: int | None = None) -> None:
        check_runtime("onnx")
        self.model = model
        self.layout_channels = int(getattr(model, "layout_channels", 0))
        self.cache_dir = Path(cache_dir)
        self.threads = threads or torch.get_num_threads()
        digest = hashlib.sha256()
        for name, t in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(t.detach().float().contiguous().numpy().tobytes())
        self.weights_hash = digest.hexdigest()[:16]
        self._sessions: dict[tuple[tuple[int, ...], ...], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor,
                 layout: torch.Tensor | None = None) -> torch.Tensor:
        b, _, n, h, w = x.shape
        if layout is None:  # "no plan" is zeros, as VelocityModel gives the eager model
            layout = torch.zeros(b, self.layout_channels, n, h, w)
        else:
            layout = known_layout(layout, self.layout_channels).expand(b, -1, -1, -1, -1)
        inputs = [t.detach().float().contiguous() for t in (x, sigma, text, layout)]
        session = self._session(inputs)
        names = [i.name for i in session.get_inputs()]
        out = session.run(None, {k: t.numpy() for k, t in zip(names, inputs, strict=True)})[0]
        return torch.from_numpy(out).to(x.dtype)

    def _session(self, inputs: list[torch.Tensor]) -> Any:
        key = tuple(tuple(t.shape) for t in inputs)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = self._load(inputs, key)
            return self._sessions[key]

    def _load(self, inputs: list[torch.Tensor], key: tuple[tuple[int, ...], ...]) -> Any:
        import onnxruntime as ort

        shapes = "_".join("x".join(map(str, s)) for s in key)
        path = self.cache_dir / f"velocity-{self.weights_hash}-{shapes}-torch{torch.__version__}.onnx"
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            # the exporter prints its progress on stdout: keep the command's output clean
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
                torch.onnx.export(_Call(self.model).eval(), tuple(inputs), str(tmp), dynamo=True,
                                  external_data=False, verbose=False)
            tmp.replace(path)  # atomic: a concurrent process never reads half a graph
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def apply_runtime(pipe: Any, name: str, cache_dir: Path | None = None) -> None:
    """Run `pipe`'s transformers (the model's own and its students) on runtime `name`."""
    check_runtime(name)
    if name == "eager":
        return
    if pipe.dtype != torch.float32:
        raise PipelineError(f"runtime {name!r} runs float32 models; load the pipeline with dtype float32")
    if cache_dir is None:
        raise PipelineError(f"runtime {name!r} needs a cache directory for its exported graphs")
    for key, model in list(pipe.models.items()):
        if not isinstance(model, OnnxVelocity):
            pipe.models[key] = OnnxVelocity(model, Path(cache_dir))
