"""`cinegen models`: the models found (a models directory, `--model` paths, the default model),
with their family, modes, sizes, frame rule, frame rate, size and licence. Nothing is loaded."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("models", help="list the models found, with what each can do")
    p.add_argument("paths", nargs="*", type=Path, help="model directories (default: the default model)")
    p.add_argument("--models-dir", type=Path, default=None,
                   help="also list every model directory directly under this one")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--licence", action="store_true", help="print each model's licence text in full")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cinegen import paths
    from cinegen.families.family import FamilyError
    from cinegen.families.registry import describe, find_models

    found = find_models(args.models_dir, list(args.paths))
    if not found:
        found = [paths.model_dir(None)]
    entries, refused = [], []
    for p in found:
        try:
            entries.append(describe(p))
        except FamilyError as err:  # listed with the reason, so one directory does not hide the rest
            refused.append({"name": p.name, "path": str(p), "error": err.message})
    if args.json:
        print(json.dumps([e.to_dict() for e in entries] + refused, indent=2))
        return 0
    for r in refused:
        print(f"{r['name']}  [cannot run]  {r['path']}\n  {r['error']}")
    for e in entries:
        print(f"{e.name}  [{e.family}: {e.variant}]  {e.path}")
        print(f"  modes: {', '.join(e.modes)}")
        print(f"  sizes: {e.sizes}; frames: {e.frames}; {e.fps} fps")
        print(f"  weights: {e.parameters / 1e6:.1f}M parameters, {e.bytes_on_disk / 2**20:.1f} MiB on disk")
        if e.licence is None:
            print("  licence: none shipped in the directory")
        else:
            text = e.licence.strip()
            print("  licence:", text if args.licence else text.splitlines()[0][:100] + " (--licence for all)")
    return 0
