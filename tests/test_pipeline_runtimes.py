"""Runtimes: the ONNX Runtime path gives the eager model's frames, caches its graphs, and a runtime that
is unknown or not installed is refused by name (pipeline and CLI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cinegen.pipeline import PipelineError
from cinegen.pipeline.runtimes import OnnxVelocity, apply_runtime, check_runtime
from tests.tiny_planned import tiny_planned_pipeline


def test_onnx_runtime_matches_eager_and_reuses_its_cached_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager = tiny_planned_pipeline()
    ref = eager("a red ball moving left", seconds=0.5, seed=1, width=64, height=64)
    onnx = tiny_planned_pipeline()
    apply_runtime(onnx, "onnx", tmp_path / "cache")
    assert isinstance(onnx.models["transformer"], OnnxVelocity)
    out = onnx("a red ball moving left", seconds=0.5, seed=1, width=64, height=64)
    diff = np.abs(out.frames.astype(int) - ref.frames.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())  # float noise, nothing more
    graphs = sorted((tmp_path / "cache").glob("*.onnx"))
    assert len(graphs) == 1  # one shape: one window of guided (batch 2) calls

    def no_export(*a: Any, **k: Any) -> None:
        raise AssertionError("a cached graph was exported again")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    again = tiny_planned_pipeline()
    apply_runtime(again, "onnx", tmp_path / "cache")
    assert np.array_equal(
        again("a red ball moving left", seconds=0.5, seed=1, width=64, height=64).frames, out.frames
    )


def test_changed_weights_never_reuse_a_graph(tmp_path: Path) -> None:
    a, b = tiny_planned_pipeline(), tiny_planned_pipeline()
    with torch.no_grad():
        b.transformer.proj_out.bias.add_(0.1)  # type: ignore[union-attr,operator]
    assert OnnxVelocity(a.model, tmp_path).weights_hash != OnnxVelocity(b.model, tmp_path).weights_hash


def test_unknown_and_missing_runtimes_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PipelineError, match="runtime must be one of eager, onnx, got 'tensorrt'"):
        check_runtime("tensorrt")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a)
    )
    with pytest.raises(PipelineError, match=r"needs onnxruntime, which are not installed: pip install"):
        check_runtime("onnx")
    check_runtime("eager")


def test_onnx_needs_float32(tmp_path: Path) -> None:
    pipe = tiny_planned_pipeline()
    pipe.dtype = torch.bfloat16
    with pytest.raises(PipelineError, match="float32"):
        apply_runtime(pipe, "onnx", tmp_path)


def test_cli_refuses_a_runtime_it_does_not_have(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cinegen.cli import main

    code = main(
        [
            "generate",
            "a red ball",
            "-o",
            str(tmp_path / "x.mp4"),
            "--runtime",
            "tensorrt",
            "--data-dir",
            str(tmp_path / "d"),
        ]
    )
    assert code == 2 and "--runtime: runtime must be one of eager, onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
