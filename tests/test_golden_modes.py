"""Outputs bit-identical to the recorded ones: every mode's frames on the tiny random pipeline hash
to what `scripts/golden_modes.py --record` wrote (on the code before the pipeline package move).

Float kernels differ between CPUs, so the comparison runs only on the CPU the record was made on;
`python scripts/golden_modes.py --check tests/golden/pipeline_modes.json --shipped` also checks
the shipped weights."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("golden_modes", ROOT / "scripts" / "golden_modes.py")
assert spec is not None and spec.loader is not None
golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(golden)
RECORD = json.loads((ROOT / "tests" / "golden" / "pipeline_modes.json").read_text())


@pytest.mark.skipif(golden.cpu_signature() != RECORD["cpu"], reason=f"recorded on {RECORD['cpu']}")
def test_every_mode_bit_identical_to_the_record() -> None:
    got = golden.digest(golden.tiny_pipeline(), 64, 64)
    assert got == RECORD["tiny"]
