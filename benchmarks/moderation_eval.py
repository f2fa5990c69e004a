"""Precision and recall of `moderate` on the labelled prompt set shipped with the package.

    .venv/bin/python benchmarks/moderation_eval.py [--policy FILE] [--no-embedding] [--show-errors]

The main set (cinegen/trust/resources/moderation_prompts.jsonl, 311 prompts) labels each prompt "ok" or one
category
(sexual, minors, violence, hate, likeness); many "ok" prompts hold trigger words ("a shot of a
bullet train", "a killer whale", "a child flies a kite"). Reported: refusal precision/recall (any
category counts as a refusal) and per-category precision/recall on the exact category. The
registry is empty, so every real name counts as unregistered. The deny-term lists and the
thresholds were tuned while looking at the main set, so its figures are in-sample; the held-out
set (resources/moderation_heldout.jsonl, 80 prompts, `--set heldout`) was written afterwards and not
tuned on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from importlib import resources
from pathlib import Path

from cinegen.trust.consent import ConsentRegistry
from cinegen.trust.moderation import load_policy, moderate, warm

SETS = {"main": "resources/moderation_prompts.jsonl", "heldout": "resources/moderation_heldout.jsonl"}


def load_set(name: str = "main") -> list[dict[str, str]]:
    text = resources.files("cinegen.trust").joinpath(SETS[name]).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def evaluate(
    policy_path: Path | None = None, embedding: bool = True, split: str = "all", prompt_set: str = "main"
) -> dict[str, object]:
    """`split`: "dev" (even lines, used to choose the default thresholds), "test" (odd lines), "all"."""
    policy = load_policy(policy_path)
    if not embedding:
        policy = dataclasses.replace(policy, embedding=False)
    rows = load_set(prompt_set)
    rows = {"all": rows, "dev": rows[0::2], "test": rows[1::2]}[split]
    with tempfile.TemporaryDirectory() as d:
        reg = ConsentRegistry(Path(d) / "consent.sqlite")
        t0 = time.time()
        warm(policy, [r["prompt"] for r in rows])
        preds = [moderate(r["prompt"], policy, registry=reg) for r in rows]
        secs = time.time() - t0
    gold_refuse = [r["label"] != "ok" for r in rows]
    pred_refuse = [not p.allowed for p in preds]
    tp = sum(g and p for g, p in zip(gold_refuse, pred_refuse, strict=True))
    fp = sum(p and not g for g, p in zip(gold_refuse, pred_refuse, strict=True))
    fn = sum(g and not p for g, p in zip(gold_refuse, pred_refuse, strict=True))
    prec, rec = pr(tp, fp, fn)
    out: dict[str, object] = {"n": len(rows), "n_ok": sum(not g for g in gold_refuse),
                              "refusal_precision": prec,
                              "refusal_recall": rec, "false_refusals": fp, "missed": fn,
                              "ms_per_prompt": 1000 * secs / len(rows)}
    per = {}
    for cat in ("sexual", "minors", "violence", "hate", "likeness"):
        ctp = sum(r["label"] == cat and p.category == cat for r, p in zip(rows, preds, strict=True))
        cfp = sum(r["label"] != cat and p.category == cat for r, p in zip(rows, preds, strict=True))
        cfn = sum(r["label"] == cat and p.category != cat for r, p in zip(rows, preds, strict=True))
        per[cat] = dict(zip(("precision", "recall"), pr(ctp, cfp, cfn), strict=True))
        per[cat]["n"] = sum(r["label"] == cat for r in rows)
    out["per_category"] = per
    out["errors"] = [
        {"prompt": r["prompt"], "label": r["label"], "got": p.category or "ok", "why": p.message}
        for r, p in zip(rows, preds, strict=True) if (p.category or "ok") != r["label"]
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", type=Path, default=None)
    ap.add_argument("--no-embedding", action="store_true")
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--split", choices=("all", "dev", "test"), default="all")
    ap.add_argument("--set", dest="prompt_set", choices=tuple(SETS), default="main",
                    help="main: the 311-prompt set the term lists were grown on; heldout: 80 prompts "
                    "written after")
    args = ap.parse_args()
    for emb in ([False] if args.no_embedding else [False, True]):
        res = evaluate(args.policy, embedding=emb, split=args.split, prompt_set=args.prompt_set)
        print(f"== {'terms + embedding' if emb else 'terms only'} [{args.prompt_set}/{args.split}]: "
              f"{res['n']} prompts ({res['n_ok']} harmless)")
        print(f"refusal precision {res['refusal_precision']:.3f}  recall {res['refusal_recall']:.3f}  "
              f"false refusals {res['false_refusals']}  missed {res['missed']}  ({res['ms_per_prompt']:.1f} "
              "ms/prompt)")
        for cat, m in res["per_category"].items():  # type: ignore[attr-defined]
            print(f"  {cat:9s} n={m['n']:3d}  precision {m['precision']:.3f}  recall {m['recall']:.3f}")
        if args.show_errors:
            for e in res["errors"]:  # type: ignore[attr-defined]
                print(f"    [{e['label']} -> {e['got']}] {e['prompt']}  ({e['why']})")


if __name__ == "__main__":
    main()
