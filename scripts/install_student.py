"""Install a distilled student into a model directory as a quality (default name: fast).

    python scripts/install_student.py runs/distill/pretrained weights/backlot-v1 [--name fast] [--default]

Copies the student's transformer to MODEL/student/ and declares it in MODEL/model_index.json; the
student's own student.json says how it samples (Euler, its step counts, the guidance folded in).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cinegen.training.distill import install_student


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("student", type=Path, help="a saved student (runs/distill/pretrained or a snapshot)")
    p.add_argument("model", type=Path, help="the model directory to add it to")
    p.add_argument("--name", default="fast", help="the quality's name (default: fast)")
    p.add_argument("--subfolder", default="student")
    p.add_argument("--default", action="store_true", help="make it the model's default quality")
    a = p.parse_args()
    entry = install_student(a.student, a.model, name=a.name, subfolder=a.subfolder, make_default=a.default)
    print(json.dumps({a.name: entry}, indent=2))


if __name__ == "__main__":
    main()
