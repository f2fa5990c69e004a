"""Licence records: who owns each training clip and whether we may learn from it.

Every training sample carries a `LicenceRecord`. Training refuses any item without a training
grant (see `require_training_grants`), naming the offending items before a single step runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class LicenceError(ValueError):
    """Training data without a training grant, or a malformed licence record."""


@dataclass(frozen=True)
class LicenceRecord:
    source: str  # where the item came from, e.g. "cinegen-backlot"
    licensor: str  # who grants the licence
    licence: str  # SPDX id or contract reference
    training_allowed: bool
    attribution: str = ""
    compensation: str = "none"  # compensation terms, e.g. "none", "per-sample:0.001USD", "flat:contract-12"

    def __post_init__(self) -> None:
        for name in ("source", "licensor", "licence"):
            if not getattr(self, name).strip():
                raise LicenceError(f"licence record field {name!r} is empty")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LicenceRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise LicenceError(f"unknown licence record keys: {sorted(unknown)}")
        missing = {"source", "licensor", "licence", "training_allowed"} - set(d)
        if missing:
            raise LicenceError(f"licence record lacks {sorted(missing)}")
        return cls(**d)


BACKLOT_LICENCE = LicenceRecord(
    source="cinegen-backlot",
    licensor="the cinegen project",
    licence="CC0-1.0",
    training_allowed=True,
    attribution="Procedurally rendered by cinegen's backlot",
    compensation="none",
)


def require_training_grants(items: Iterable[tuple[str, LicenceRecord | None]]) -> None:
    """Raise `LicenceError` naming every item that lacks a record or a training grant."""
    bad = [item_id for item_id, rec in items if rec is None or not rec.training_allowed]
    if bad:
        shown = ", ".join(bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise LicenceError(f"{len(bad)} training item(s) have no training grant: {shown}")


@dataclass
class TrainingDataLedger:
    """How many samples of each (source, licensor, licence) a training run learned from.

    Training updates it as samples are drawn; checkpoints and shipped weights store `to_dict()`,
    so attribution or payment per licensor can be computed from the model alone.
    """

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    records: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @staticmethod
    def key(rec: LicenceRecord) -> str:
        return f"{rec.source}|{rec.licensor}|{rec.licence}"

    def add(self, rec: LicenceRecord, samples: int = 1) -> None:
        if not rec.training_allowed:
            raise LicenceError(f"source {rec.source!r} from {rec.licensor!r} has no training grant")
        k = self.key(rec)
        self.counts[k] = self.counts.get(k, 0) + samples
        self.records.setdefault(k, rec.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "records": dict(self.records)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingDataLedger:
        return cls(counts=dict(d.get("counts", {})), records=dict(d.get("records", {})))
