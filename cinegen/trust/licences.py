"""Licence records: who owns each training clip and whether we may learn from it.

Every training sample carries a `LicenceRecord`. Training refuses any item without a training
grant (see `require_training_grants`), naming the offending items before a single step runs.
A `TrainingDataLedger` counts the samples learned from per source; checkpoints store it, `cinegen
data report` shows it per licensor, and each output's C2PA manifest names its declaration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinegen.config import unknown_keys


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
        unknown = unknown_keys(cls, d)
        if unknown:
            raise LicenceError(f"unknown licence record keys: {unknown}")
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


CHECKPOINT_KEY = "training_data"  # model directories store `TrainingDataLedger.to_dict()` under this key


@dataclass
class TrainingDataLedger:
    """How many samples of each (source, licensor, licence) a training run learned from.

    Training updates it as samples are drawn (`add`, or `record` for a batch of (id, record)
    pairs, which refuses the batch if any item lacks a grant); checkpoints and shipped weights
    store `to_dict()`, so attribution or payment per licensor can be computed from the model alone:
    `by_licensor()` is what `cinegen data report` prints, `declaration()` is what the C2PA manifest
    of every output names.
    """

    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    records: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @staticmethod
    def key(rec: LicenceRecord) -> str:
        return f"{rec.source}|{rec.licensor}|{rec.licence}"

    def add(self, rec: LicenceRecord, samples: int = 1) -> None:
        if samples < 0:
            raise LicenceError(f"samples must be >= 0, got {samples}")
        if not rec.training_allowed:
            raise LicenceError(f"source {rec.source!r} from {rec.licensor!r} has no training grant")
        k = self.key(rec)
        self.counts[k] = self.counts.get(k, 0) + samples
        self.records.setdefault(k, rec.to_dict())

    def record(self, items: Iterable[tuple[str, LicenceRecord | None]]) -> int:
        """Count a batch of (item id, licence record); refuses the whole batch if any lacks a grant."""
        items = list(items)
        require_training_grants(items)
        for _, rec in items:
            assert rec is not None
            self.add(rec, 1)
        return len(items)

    def merge(self, other: TrainingDataLedger) -> None:
        for k, n in other.counts.items():
            self.add(LicenceRecord.from_dict(other.records[k]), n)

    @property
    def total_samples(self) -> int:
        return sum(self.counts.values())

    def by_licensor(self) -> dict[str, dict[str, Any]]:
        """licensor -> {samples, share, sources, licences, compensation, amount_due} (amounts for
        per-sample terms)."""
        total = self.total_samples or 1
        out: dict[str, dict[str, Any]] = {}
        for k, n in sorted(self.counts.items()):
            rec = LicenceRecord.from_dict(self.records[k])
            row = out.setdefault(rec.licensor, {"samples": 0, "share": 0.0, "sources": [], "licences": [],
                                                "compensation": [], "attribution": [], "amount_due": {}})
            row["samples"] += n
            row["share"] = row["samples"] / total
            for key, val in (("sources", rec.source), ("licences", rec.licence),
                             ("compensation", rec.compensation),
                             ("attribution", rec.attribution)):
                if val and val not in row[key]:
                    row[key].append(val)
            rate = _per_sample_rate(rec.compensation)
            if rate is not None:
                amount, currency = rate
                row["amount_due"][currency] = round(row["amount_due"].get(currency, 0.0) + amount * n, 6)
        return out

    def declaration(self) -> dict[str, Any]:
        """The training-data declaration that goes into each output's C2PA manifest."""
        return {
            "all_sources_licensed_for_training": all(
                r.get("training_allowed") for r in self.records.values()),
            "total_samples": self.total_samples,
            "sources": {
                self.records[k]["source"]: {"licensor": self.records[k]["licensor"],
                                            "licence": self.records[k]["licence"], "samples": n}
                for k, n in sorted(self.counts.items())
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "records": dict(self.records)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingDataLedger:
        if not isinstance(d, dict) or set(d) - {"counts", "records"}:
            raise LicenceError("not a training-data ledger (expected 'counts' and 'records'): keys "
                               f"{sorted(d)[:5]}")
        counts, records = dict(d.get("counts", {})), dict(d.get("records", {}))
        missing = set(counts) - set(records)
        if missing:
            raise LicenceError(f"ledger counts without licence records: {sorted(missing)[:5]}")
        for rec in records.values():
            LicenceRecord.from_dict(rec)  # validates
        return cls(counts=counts, records=records)


def _per_sample_rate(compensation: str) -> tuple[float, str] | None:
    """'per-sample:0.001USD' -> (0.001, 'USD'); other terms (none, flat:...) -> None."""
    import re

    m = re.fullmatch(r"per-sample:([0-9]*\.?[0-9]+)\s*([A-Za-z]{3})", compensation.strip())
    return (float(m.group(1)), m.group(2).upper()) if m else None


def load_ledger(path: str | Path) -> TrainingDataLedger:
    """A ledger from a ledger JSON, a checkpoint, or a saved model directory.

    Understands the trainer's formats: `checkpoint.pt` (key "ledger"), a saved transformer's
    `cinegen.json` (key "training_data"), a bare ledger JSON ({"counts", "records"}), and a
    .safetensors file whose metadata holds the ledger as JSON under "training_data".
    """
    import json

    p = Path(path)
    if p.is_dir():
        for name in ("cinegen.json", "transformer/cinegen.json", "pretrained/cinegen.json",
                     "training_data.json", "checkpoint.pt"):
            if (p / name).is_file():
                return load_ledger(p / name)
        raise LicenceError(f"{p} holds no training-data ledger (looked for cinegen.json, checkpoint.pt, ...)")
    if not p.is_file():
        raise LicenceError(f"no such file: {p}")
    suffix = p.suffix.lower()
    data: Any
    try:
        if suffix == ".json":
            data = json.loads(p.read_text())
        elif suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(p), framework="numpy") as f:
                meta = f.metadata() or {}
            if CHECKPOINT_KEY not in meta:
                raise LicenceError(f"{p} has no {CHECKPOINT_KEY!r} entry in its safetensors metadata")
            data = json.loads(meta[CHECKPOINT_KEY])
        elif suffix in (".pt", ".pth", ".ckpt"):
            import pickle

            import torch

            try:
                data = torch.load(p, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError:  # a checkpoint with non-tensor objects: read its dicts only
                raise LicenceError(
                    f"{p} is not a plain tensor/dict checkpoint; cannot read it safely") from None
        else:
            raise LicenceError(f"{p}: expected a ledger .json, a checkpoint (.pt/.pth/.ckpt/.safetensors) "
                               "or a directory")
    except LicenceError:
        raise
    except (ValueError, OSError, RuntimeError, EOFError) as e:
        raise LicenceError(f"cannot read {p}: {e}") from e
    return TrainingDataLedger.from_dict(_find_ledger(data, p))


def declaration_for(model_path: str | Path) -> dict[str, Any]:
    """The training-data declaration for the manifest of a model's outputs (see `load_ledger`).

    A model without a ledger is declared as such rather than left silent.
    """
    try:
        return load_ledger(model_path).declaration()
    except LicenceError as e:
        return {"declared": False, "reason": str(e)}


def _find_ledger(data: Any, p: Path) -> dict[str, Any]:
    if isinstance(data, dict):
        if "counts" in data and "records" in data:
            return data
        for key in ("ledger", CHECKPOINT_KEY):
            if isinstance(data.get(key), dict):
                return data[key]
    raise LicenceError(f"{p} holds no training-data ledger (no 'ledger' or {CHECKPOINT_KEY!r} entry)")
