"""TorchScript traces of the built-in model's networks: equal to the eager modules at every shape and
dtype, cached by what they were made from, and loaded by `cinegen generate` without diffusers or
transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.models import traced as traced_module
from cinegen.models.text import MiniLM, SentenceEmbedder, TextEncoder, minilm_path
from cinegen.models.traced import TraceCache, TracedVelocity, trace_velocity
from cinegen.models.transformer import DIT_PRESETS, DiTConfig, build_transformer
from cinegen.models.velocity import VelocityModel
from cinegen.pipeline import CinegenPipeline, PipelineError
from tests.tiny_builtin import save_tiny_builtin

sys.path.insert(0, str(Path(__file__).parent))
from tiny_planned import tiny_planned_pipeline  # noqa: E402


def _velocity(layout_channels: int, dtype: torch.dtype) -> VelocityModel:
    torch.manual_seed(0)
    cfg = DiTConfig(**{**DIT_PRESETS["tiny"].__dict__, "layout_channels": layout_channels})
    transformer: Any = build_transformer(cfg).eval()
    with torch.no_grad():  # a non-zero output layer, so the output depends on every input
        transformer.proj_out.weight.normal_(0.0, 0.2, generator=torch.Generator().manual_seed(1))
    return VelocityModel(transformer).eval().to(dtype)


def _inputs(b: int, n: int, layout_channels: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(b * 10 + n)
    return (torch.randn(b, 4, n, 6, 8, generator=g).to(dtype), torch.rand(b, n, generator=g),
            torch.randn(b, 5, 384, generator=g).to(dtype),
            torch.rand(1, layout_channels, n, 6, 8, generator=g).to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout_channels", [0, 3])
def test_a_trace_equals_the_eager_model_at_other_shapes(dtype: torch.dtype, layout_channels: int,
                                                        tmp_path: Path) -> None:
    model = _velocity(layout_channels, dtype)
    path = tmp_path / "v.pt"
    torch.jit.save(trace_velocity(model, dtype), str(path))  # saved and loaded, as the cache does
    traced = TracedVelocity(torch.jit.load(str(path)), layout_channels, (1, 2, 2))
    bf16 = dtype == torch.bfloat16
    for b, n in [(2, 3), (1, 5)]:  # neither is the traced example's shape
        x, sigma, text, layout = _inputs(b, n, layout_channels, dtype)
        given = layout if layout_channels else None
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # as pipelines run
            want = model(x, sigma, text, layout=given)
            got = traced(x, sigma, text, layout=given)
            if layout_channels:  # no plan: zeros, as the eager model gives itself
                assert torch.equal(traced(x, sigma, text), model(x, sigma, text))
        assert got.dtype == want.dtype and torch.equal(got, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_plain_jit_runs_the_first_calls_as_the_optimised_graph_would(dtype: torch.dtype,
                                                                     tmp_path: Path) -> None:
    """TracedVelocity skips the JIT's profiling runs and re-optimisation for float32 traces
    (`plain_jit`): in a fresh module the first calls, where they would happen, give what the
    optimising executor gives; bfloat16 traces keep them and give the same too."""
    model = _velocity(3, dtype)
    path = tmp_path / "v.pt"
    torch.jit.save(trace_velocity(model, dtype), str(path))
    plain = TracedVelocity(torch.jit.load(str(path)), 3, (1, 2, 2))
    optimising = torch.jit.load(str(path))
    for call in range(4):  # the optimising executor profiles the first calls, then re-optimises
        x, sigma, text, layout = _inputs(2, 3 + call % 2, 3, dtype)
        with torch.no_grad(), torch.jit.optimized_execution(True):
            want = optimising(x, sigma, text, layout.expand(2, -1, -1, -1, -1))
        with torch.no_grad():
            got = plain(x, sigma, text, layout=layout)
        assert torch.equal(got, want), call


def test_a_trace_checks_its_inputs_like_the_eager_model() -> None:
    model = _velocity(3, torch.float32)
    traced = TracedVelocity(trace_velocity(model, torch.float32), 3, (1, 2, 2))
    x, sigma, text, layout = _inputs(1, 3, 3, torch.float32)
    with pytest.raises(ValueError, match="sigma must be"):
        traced(x, sigma[:, :2], text, layout=layout)
    with pytest.raises(ValueError, match="layout must be"):
        traced(x, sigma, text, layout=layout[:, :2])
    with pytest.raises(RuntimeError, match="cannot be moved"):
        traced.to("cpu")


def test_the_cache_traces_once_and_again_when_a_source_changes(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"one")
    cache, made = TraceCache(tmp_path / "cache"), []
    model = _velocity(0, torch.float32)

    def trace() -> torch.jit.ScriptModule:
        made.append(1)
        return trace_velocity(model, torch.float32)

    first = cache.load_or_trace("v", [src], torch.float32, trace)
    assert cache.load_or_trace("v", [src], torch.float32, trace) is first  # one copy per cache
    again = TraceCache(tmp_path / "cache").load_or_trace("v", [src], torch.float32, trace)  # a later process
    assert len(made) == 1 and isinstance(again, torch.jit.ScriptModule) and first is not again
    assert cache.path_for("v", [src], torch.float32) != cache.path_for("v", [src], torch.bfloat16)
    src.write_bytes(b"two!")  # new weights: a new trace
    cache.load_or_trace("v", [src], torch.float32, trace)
    assert len(made) == 2
    before = cache.path_for("v", [src], torch.float32)  # a new diffusers or model code: a new trace
    monkeypatch.setattr(traced_module, "_code_identity", lambda: "diffusers=9.9")
    assert cache.path_for("v", [src], torch.float32) != before
    monkeypatch.undo()
    cache.path_for("v", [src], torch.float32).write_bytes(b"not a trace")  # damaged: traced again
    TraceCache(tmp_path / "cache").load_or_trace("v", [src], torch.float32, trace)
    assert len(made) == 3 and not list((tmp_path / "cache").glob("*.part"))


def test_minilm_tokenizes_as_transformers_does_and_its_trace_equals_bert(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    texts = ["a red ball rolls left, fast, over a grey floor", "", "word " * 300,
             "unbelievably photorealistic " * 17]  # subword pieces cut at both limits
    ours = MiniLM()
    for max_length, pad in [(48, True), (256, False)]:
        ids, mask = ours.tokenize(texts, max_length, pad_to_max=pad)
        want = tok(texts, padding="max_length" if pad else True, truncation=True, max_length=max_length,
                   return_tensors="pt")
        assert torch.equal(ids, want["input_ids"]) and torch.equal(mask, want["attention_mask"])
    traced = MiniLM(traces=TraceCache(tmp_path))
    assert isinstance(traced.net, torch.jit.ScriptModule)
    ids, mask = ours.tokenize(texts, 256, pad_to_max=False)
    assert torch.equal(traced(ids, mask), ours(ids, mask))
    enc = TextEncoder(traces=TraceCache(tmp_path))
    assert torch.equal(enc.encode(texts[:2])[0], TextEncoder().encode(texts[:2])[0])
    emb = SentenceEmbedder(traces=TraceCache(tmp_path))
    assert torch.equal(emb.encode(texts), SentenceEmbedder().encode(texts))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_pipeline_loaded_from_traces_makes_the_same_frames(dtype: str, tmp_path: Path) -> None:
    path = tmp_path / "model"
    tiny_planned_pipeline().save_pretrained(path)
    eager = CinegenPipeline.from_pretrained(path, dtype=dtype)
    traced = CinegenPipeline.from_pretrained(path, dtype=dtype, traces=tmp_path / "traces")
    assert all(isinstance(m, TracedVelocity) for m in traced.models.values())
    kw: dict[str, Any] = {"seconds": 0.5, "width": 64, "height": 64, "seed": 3}
    for plan in (True, False):
        a = eager("a red ball moving right", use_plan=plan, **kw)
        b = traced("a red ball moving right", use_plan=plan, **kw)
        np.testing.assert_array_equal(a.frames, b.frames)
    with pytest.raises(PipelineError, match="cannot be saved"):
        traced.save_pretrained(tmp_path / "again")


def test_cinegen_generate_runs_the_traces_without_diffusers_or_transformers(tmp_path: Path) -> None:
    model = save_tiny_builtin(tmp_path / "model")
    script = ("import sys, json\nfrom cinegen.cli import main\ncode = main(sys.argv[1:])\n"
              "print(json.dumps({'code': code, 'loaded': sorted({m.split('.')[0] for m in sys.modules} & "
              "{'diffusers', 'transformers', 'peft'})}))\n")
    args = ["generate", "a red ball moving right", "--model", str(model), "--seconds", "0.5",
            "--data-dir", str(tmp_path / "data"), "--sampler", "unipc"]  # the teacher's solver needs none
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = []
    for i in range(2):  # the first run traces the networks into the data directory; the second loads them
        done = subprocess.run([sys.executable, "-c", script, *args, "-o", str(tmp_path / f"{i}.mp4")],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] == {"code": 0, "loaded": ["diffusers", "peft", "transformers"]}
    assert runs[1] == {"code": 0, "loaded": []}
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "data" / "cache" / "traced").iterdir()) == [
        "minilm", "policy", "velocity"]  # the policy's description embeddings sit beside the traces
    assert (tmp_path / "0.mp4").read_bytes() != b"" and (tmp_path / "1.mp4").stat().st_size > 0
