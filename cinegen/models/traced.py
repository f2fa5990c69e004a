"""TorchScript traces of the built-in model's networks, cached on disk, so a process loads them
without importing diffusers or transformers.

Why: importing diffusers' Wan class costs about 3.4 s on a 2-core CPU (diffusers imports
torch._dynamo, every transformer class of its package, peft and transformers), and transformers'
BERT another second; the built-in model's own work for a 4 s clip is under 2 s. A trace of the
same module, saved with `torch.jit.save`, loads in about 0.05 s with torch alone and computes
exactly what the eager module computes, in float32 and in bfloat16 under autocast, at every input
shape (the shapes are read at run time: tests/test_models_traced.py). Not `torch.export`: loading
an exported program imports torch._dynamo (2.4 s here); not ONNX Runtime: it has no bfloat16 fast
path on CPUs, where eager bf16 is 2-3x faster than ONNX float32 (docs/decisions.md).

The cache is keyed by what the trace was made from: each source file's path, size and
modification time, the dtype, the versions of torch, diffusers and transformers, and the source of
this package's model code that the trace holds (velocity.py, text.py, this file). A trace is
written atomically (a temporary name, then a rename), so concurrent processes never read half a
file; a trace that fails to load is made again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cinegen.models.velocity import VelocityModel, velocity_inputs

log = logging.getLogger(__name__)
FORMAT = 1  # bump when what a trace holds changes


@functools.cache  # read once per process: it is part of every trace's key
def _code_identity() -> str:
    """What a trace recorded besides the weights: the versions of torch, diffusers and transformers (whose
    forward passes it holds) and this package's model code, read without importing the libraries."""
    versions = []
    for package in ("torch", "diffusers", "transformers"):
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}=none")
    here = Path(__file__).parent
    code = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("velocity.py", "text.py", "traced.py")))
    return " ".join(versions) + " " + code.hexdigest()[:16]


class TraceCache:
    """A directory of TorchScript traces, each named by a digest of what it was traced from."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._loaded: dict[Path, torch.jit.ScriptModule] = {}  # one copy per process for every user of it
        self._lock = threading.Lock()

    def path_for(self, name: str, sources: Sequence[Path], dtype: torch.dtype) -> Path:
        digest = hashlib.sha256(f"{FORMAT} {dtype} {name} {_code_identity()}".encode())
        for src in sorted(Path(s).resolve() for s in sources):
            st = src.stat()
            digest.update(f"|{src}|{st.st_size}|{st.st_mtime_ns}".encode())
        return self.root / f"{name}-{digest.hexdigest()[:20]}.pt"

    def load_or_trace(self, name: str, sources: Sequence[Path], dtype: torch.dtype,
                      trace: Callable[[], torch.jit.ScriptModule]) -> torch.jit.ScriptModule:
        """The cached trace of `name` made from `sources`, tracing it (and saving it) where missing. The
        module is shared by every caller of this cache (the prompt encoder and the moderator's
        sentence encoder run the same MiniLM): callers must not change it."""
        path = self.path_for(name, sources, dtype)
        with self._lock:
            if path not in self._loaded:
                self._loaded[path] = self._load_or_trace(path, trace)
            return self._loaded[path]

    def _load_or_trace(self, path: Path,
                       trace: Callable[[], torch.jit.ScriptModule]) -> torch.jit.ScriptModule:
        if path.exists():
            try:
                with quiet_jit():
                    module: torch.jit.ScriptModule = torch.jit.load(str(path), map_location="cpu")
                return module
            except (RuntimeError, OSError) as e:  # a damaged file: trace again
                log.warning("trace %s cannot be read (%s); tracing again", path, e)
        with quiet_jit():
            module = trace()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        torch.jit.save(module, str(tmp))
        tmp.replace(path)
        return module


@contextlib.contextmanager
def quiet_jit() -> Iterator[None]:
    """TorchScript's own chatter off: the tracer's warnings about Python checks (constant for a traced
    module, and re-done by `TracedVelocity` on every call) and torch's deprecation notice (see the
    module docstring for why TorchScript all the same)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        for message in (r".*torch\.jit.* is deprecated", r".*TorchScript.*"):
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        yield


def plain_jit(dtype: torch.dtype) -> contextlib.AbstractContextManager[None]:
    """For a float32 trace, run its graph as recorded, without the JIT's profiling runs and
    re-optimisation: in float32 they find nothing to gain on a CPU and cost the first two calls of a
    process 0.2 s on an AVX2 CPU (same outputs, tested). A bfloat16 graph gains from them (an AMX
    CPU's `full` 4 s clip: 0.087 s per call against 0.116 plain, 0.25 s in all), so it keeps them."""
    if dtype == torch.float32:
        return torch.jit.optimized_execution(False)  # type: ignore[no-any-return]
    return contextlib.nullcontext()


class _VelocityCall(nn.Module):
    """A velocity model with every input positional (the layout always given): one graph to trace."""

    def __init__(self, model: nn.Module, with_layout: bool) -> None:
        super().__init__()
        self.model, self.with_layout = model, with_layout

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor,
                layout: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x, sigma, text, layout=layout) if self.with_layout else self.model(x, sigma, text)


def trace_velocity(model: Any, dtype: torch.dtype) -> torch.jit.ScriptModule:
    """Trace a `VelocityModel` (on the CPU, in `dtype`) at a small example shape.

    Not frozen: `torch.jit.freeze` folds bfloat16 constants differently and moves outputs by up to
    0.08; unfrozen, the trace equals the eager module bit for bit.
    """
    cfg = model.transformer.config
    c, cl = int(cfg["out_channels"] or cfg["in_channels"]), int(model.layout_channels)
    pt, ph, pw = cfg["patch_size"]
    n, h, w = 2 * pt, 2 * ph, 2 * pw
    g = torch.Generator().manual_seed(0)
    example: list[torch.Tensor] = [torch.randn(1, c, n, h, w, generator=g).to(dtype),  # x (1, C, n, h, w)
                                   torch.rand(1, n, generator=g),  # sigma (1, n)
                                   torch.randn(1, 4, int(cfg["text_dim"]), generator=g).to(dtype)]  # text
    if cl:
        example.append(torch.zeros(1, cl, n, h, w, dtype=dtype))
    bf16 = dtype == torch.bfloat16
    with quiet_jit(), torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        call = _VelocityCall(model, bool(cl)).eval()
        traced: torch.jit.ScriptModule = torch.jit.trace(call, tuple(example), check_trace=False)
    return traced


class TracedVelocity:
    """`v = model(x, sigma, text, layout=None)` like `VelocityModel`, run by its TorchScript trace.

    `module` is the trace, or a function that loads it on the first call (a pipeline with several
    qualities loads only the transformers a call samples with).
    """

    def __init__(self, module: torch.jit.ScriptModule | Callable[[], torch.jit.ScriptModule],
                 layout_channels: int, patch: tuple[int, int, int]) -> None:
        self._module, self.layout_channels, self.patch = module, layout_channels, patch
        self._lock = threading.Lock()

    @property
    def module(self) -> torch.jit.ScriptModule:
        with self._lock:
            if not isinstance(self._module, torch.jit.ScriptModule):
                self._module = self._module()
            return self._module

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor,
                 layout: torch.Tensor | None = None) -> torch.Tensor:
        layout = velocity_inputs(x, sigma, layout, self.layout_channels, self.patch)
        args: tuple[torch.Tensor, ...] = (x, sigma, text)
        if layout is not None:
            args = (*args, layout.expand(x.shape[0], -1, -1, -1, -1))  # (B, Cl, N, h, w)
        # The trace recorded autocast's casts; autocast around a loaded trace would cast again (the
        # JIT's autocast pass) and move bfloat16 outputs by up to 0.14.
        with torch.autocast("cpu", enabled=False), plain_jit(x.dtype):
            out: torch.Tensor = self.module(*args)
        return out

    def to(self, *args: Any, **kwargs: Any) -> TracedVelocity:
        """Traces are made per dtype on the CPU: moving one is a mistake the caller must hear about."""
        raise RuntimeError("a traced velocity model cannot be moved; trace it again in the dtype wanted")


def as_velocity(transformer: Any) -> Any:
    """The sampler's velocity model over a transformer module (a trace already is one)."""
    return transformer if isinstance(transformer, TracedVelocity) else VelocityModel(transformer)
