"""`cinegen plan`: prompt -> shot plan JSON (the blocking of a shot), to read, edit and render.

cinegen plan "a red ball bouncing left of a blue box" -o plan.json --seconds 4 --seed 7
cinegen generate "a red ball bouncing left of a blue box" --plan plan.json -o shot.mp4 --seconds 4
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cinegen.cli import CliError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("plan", help="plan a shot: where each object is, frame by frame (JSON)")
    p.add_argument("prompt")
    p.add_argument("-o", "--output", type=Path, required=True, help="the plan's .json file")
    p.add_argument("--seconds", type=float, default=4.0, help="duration, 1/16 to 60 s (default 4)")
    p.add_argument("--seed", type=int, default=0, help="varies where objects start (and an unsaid colour)")
    p.add_argument("--size", default="128x128", help="WxH of the video the plan is for (its aspect)")
    p.add_argument(
        "--path", default=None, metavar="'X,Y X,Y ...'", help="move the first object along these points"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cinegen.limits import MAX_SECONDS
    from cinegen.planning.paths import apply_path, parse_path
    from cinegen.planning.plan import PlanError
    from cinegen.planning.planner import plan_prompt, summarize

    out: Path = args.output
    if out.suffix.lower() != ".json":
        raise CliError(f"output must end in .json, got {out.name!r}")
    if not 0 < args.seconds <= MAX_SECONDS:
        raise CliError(f"--seconds must be in (0, {MAX_SECONDS:g}], got {args.seconds:g}")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise CliError(f"--size must look like 128x128, got {args.size!r}") from None
    try:
        points = parse_path(args.path) if args.path is not None else None
        plan = plan_prompt(args.prompt, seconds=args.seconds, seed=args.seed, width=w, height=h)
        if plan is None:
            raise CliError(
                "the planner could not place this prompt's objects (the backlot knows balls, boxes, "
                "triangles and stars in seven colours); `cinegen generate --no-plan` renders it from text"
            )
        plan = apply_path(plan, points) if points is not None else plan
    except PlanError as e:
        raise CliError(str(e)) from e
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(plan.to_json(indent=1))
    tmp.replace(out)
    print(f"wrote {out}: {summarize(plan)}", file=sys.stdout)
    return 0
