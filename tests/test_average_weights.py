"""scripts/average_weights.py: the weight-space blend of a fine-tune and its starting point."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from cinegen.models.transformer import DIT_PRESETS, build_transformer, load_transformer

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("average_weights", ROOT / "scripts" / "average_weights.py")
assert spec is not None and spec.loader is not None
avg: Any = importlib.util.module_from_spec(spec)
spec.loader.exec_module(avg)


def _saved(where: Path, seed: int, **cfg: Any) -> Path:
    torch.manual_seed(seed)
    build_transformer(dataclasses.replace(DIT_PRESETS["tiny"], **cfg)).save_pretrained(where)
    (where / "cinegen.json").write_text(json.dumps({"steps": seed}))
    return where


def test_blend_is_the_weighted_mean_and_records_its_sources(tmp_path: Path) -> None:
    a, b = _saved(tmp_path / "a", 1), _saved(tmp_path / "b", 2)
    out = avg.average(a, b, 0.75, tmp_path / "mix")
    wa, wb, wm = (load_transformer(p).state_dict() for p in (a, b, out))
    for k in wa:
        torch.testing.assert_close(wm[k], 0.25 * wa[k] + 0.75 * wb[k])
    blend = json.loads((out / "cinegen.json").read_text())["blend"]
    assert blend["alpha_tuned"] == 0.75 and blend["base_steps"] == 1
    ends = avg.average(a, b, 0.0, tmp_path / "zero")
    assert all(torch.equal(load_transformer(ends).state_dict()[k], wa[k]) for k in wa)


def test_blend_refuses_other_architectures_and_alphas(tmp_path: Path) -> None:
    a = _saved(tmp_path / "a", 1)
    b = _saved(tmp_path / "b", 2, layout_channels=4)
    with pytest.raises(ValueError, match="architecture"):
        avg.average(a, b, 0.5, tmp_path / "mix")
    with pytest.raises(ValueError, match="ALPHA"):
        avg.average(a, a, 1.5, tmp_path / "mix")
