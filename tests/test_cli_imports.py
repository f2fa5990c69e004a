"""`cinegen --help` and every subcommand's `--help` stay instant: no heavy library is imported until a
handler runs (torch alone costs seconds on a 2-core CPU). Checked in a fresh interpreter, since this
test process has long imported everything."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "fastapi", "pydantic", "ray", "c2pa", "av", "numpy", "PIL",
         "opentimelineio", "safetensors", "sentence_transformers")

_PROBE = """
import argparse, contextlib, io, json, sys
from cinegen.cli import build_parser, main

def commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from commands(sub, prefix + (name,))

helped = []
for argv in [()] + list(commands(build_parser())):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    helped.append([" ".join(argv), out.getvalue().startswith("usage:")])
print(json.dumps({"helped": helped, "loaded": [m for m in HEAVY if m in sys.modules]}))
"""


def test_every_help_runs_without_importing_heavy_libraries() -> None:
    probe = f"HEAVY = {HEAVY!r}\n{_PROBE}"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         check=True)
    report = json.loads(res.stdout.strip().splitlines()[-1])
    names = [name for name, _ in report["helped"]]
    assert {"", "generate", "plan", "serve", "train dit", "storyboard", "verify"} <= set(names)
    assert all(ok for _, ok in report["helped"]), [n for n, ok in report["helped"] if not ok]
    assert report["loaded"] == [], f"--help imported {report['loaded']}"
