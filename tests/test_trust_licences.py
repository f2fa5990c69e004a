"""Licences: grants enforced before training, the usage ledger, and `cinegen data report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cinegen.cli import main
from cinegen.trust.licences import (
    BACKLOT_LICENCE,
    LicenceError,
    LicenceRecord,
    TrainingDataLedger,
    load_ledger,
    require_training_grants,
)

STUDIO = LicenceRecord("studio-archive", "Northlight Studios", "contract-17", True, "Northlight",
                       "per-sample:0.002USD")
NO_GRANT = LicenceRecord("scraped", "unknown", "all-rights-reserved", False)


def test_items_without_a_grant_are_named() -> None:
    with pytest.raises(LicenceError, match=r"2 training item\(s\) have no training grant: clip-2, clip-3"):
        require_training_grants([("clip-1", BACKLOT_LICENCE), ("clip-2", NO_GRANT), ("clip-3", None)])
    with pytest.raises(LicenceError, match="unknown licence record keys"):
        LicenceRecord.from_dict({**BACKLOT_LICENCE.to_dict(), "price": 1})


def test_ledger_counts_refuses_and_reports_per_licensor() -> None:
    led = TrainingDataLedger()
    led.record([("a", BACKLOT_LICENCE), ("b", STUDIO), ("c", STUDIO)])
    with pytest.raises(LicenceError, match="no training grant: bad"):
        led.record([("d", STUDIO), ("bad", NO_GRANT)])
    assert led.total_samples == 3  # the refused batch counted nothing
    led.add(STUDIO, 997)
    rows = led.by_licensor()
    assert rows["Northlight Studios"]["samples"] == 999
    assert rows["Northlight Studios"]["amount_due"] == {"USD": pytest.approx(1.998)}
    assert rows["the cinegen project"]["amount_due"] == {}
    decl = led.declaration()
    assert decl["total_samples"] == 1000 and decl["all_sources_licensed_for_training"] is True
    assert decl["sources"]["studio-archive"]["samples"] == 999
    assert TrainingDataLedger.from_dict(json.loads(json.dumps(led.to_dict()))) == led
    with pytest.raises(LicenceError):
        TrainingDataLedger.from_dict({"counts": {"x|y|z": 1}, "records": {}})


def test_report_reads_checkpoints_and_model_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    led = TrainingDataLedger()
    led.add(BACKLOT_LICENCE, 40)
    led.add(STUDIO, 10)
    torch.save({"model": {"w": torch.zeros(2)}, "step": 3, "ledger": led.to_dict()},
               tmp_path / "checkpoint.pt")
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "cinegen.json").write_text(json.dumps({"steps": 3,
                                                                      "training_data": led.to_dict()}))
    assert load_ledger(tmp_path / "checkpoint.pt") == led
    assert load_ledger(tmp_path / "pretrained") == led
    assert load_ledger(tmp_path) == led
    assert main(["data", "report", str(tmp_path / "checkpoint.pt")]) == 0
    out = capsys.readouterr().out
    assert "50 training samples" in out and "Northlight Studios" in out and "0.02 USD" in out
    assert main(["data", "report", "--json", str(tmp_path / "pretrained")]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["licensors"]["the cinegen project"]["samples"] == 40
    (tmp_path / "x.json").write_text("{}")
    assert main(["data", "report", str(tmp_path / "x.json")]) == 2
    assert "no training-data ledger" in capsys.readouterr().err


def test_declaration_for_a_model_with_and_without_a_ledger(tmp_path: Path) -> None:
    from cinegen.trust.licences import declaration_for

    led = TrainingDataLedger()
    led.add(STUDIO, 7)
    (tmp_path / "cinegen.json").write_text(json.dumps({"training_data": led.to_dict()}))
    assert declaration_for(tmp_path)["sources"]["studio-archive"]["licensor"] == "Northlight Studios"
    assert declaration_for(tmp_path / "nowhere")["declared"] is False
