"""`cinegen eval`: grade a video against a prompt or scene, describe it, or grade a batch.

  cinegen eval VIDEO --prompt "a red ball falling"     grade; JSON on stdout
  cinegen eval VIDEO --scene scene.json                grade against a scene JSON
  cinegen eval VIDEO                                   what the oracle sees, no prompt
  cinegen eval --batch manifest.jsonl --out DIR        report.json + report.md per attribute/group
  cinegen eval FOLDER --prompts prompts.txt --out DIR  the same for a folder and a prompt list
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cinegen.cli import CliError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    what = ("Grade videos from pixels alone: colours, shapes, motions, relation, camera, physics, "
            "permanence, "
            "temporal quality and an adherence score.")
    p = sub.add_parser("eval", help="grade a video against a prompt (the oracle), or a batch of them",
                       description=what)
    p.add_argument("video", nargs="?", help="a video file, or a folder of videos with --prompts")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prompt", help="the prompt the video should show")
    src.add_argument("--scene", help="a scene JSON file the video should show")
    src.add_argument("--prompts", help="with a folder: one prompt per line, or 'file<TAB>prompt'")
    src.add_argument("--batch", metavar="MANIFEST",
                     help="JSON / JSON-lines list of {video, prompt|scene, group}")
    p.add_argument("--out", help="where to write: a JSON file for one video, a folder for a batch")
    p.add_argument("--strict", action="store_true", help="exit 1 when a graded video does not pass")
    p.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    if args.batch is not None or args.prompts is not None:
        return _batch(args)
    if args.video is None:
        raise CliError("give a VIDEO (or --batch MANIFEST, or FOLDER --prompts FILE)")
    path = Path(args.video)
    if path.is_dir():
        raise CliError(f"{path} is a folder; give --prompts FILE to grade a folder, or a video file")
    from cinegen.eval.oracle import analyze
    from cinegen.eval.report import grade_video, read_clip

    if args.prompt is None and args.scene is None:
        frames, fps = read_clip(path)
        out: dict[str, Any] = {"video": str(path), "analysis": analyze(frames, fps).to_dict()}
        passed = True
    else:
        scene = _read_scene(args.scene) if args.scene is not None else None
        g = grade_video(path, prompt=args.prompt, scene=scene)
        out = {"video": str(path), "prompt": args.prompt, **g.to_dict()}
        passed = g.passed
    text = json.dumps(out, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 1 if args.strict and not passed else 0


def _read_scene(path: str) -> Any:
    from cinegen.backlot.scene import SceneSpec

    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as e:
        raise CliError(f"--scene: cannot read {p}: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise CliError(f"--scene: {p} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise CliError(f"--scene: {p} must hold a JSON object")
    return SceneSpec.from_dict(data)


def _batch(args: argparse.Namespace) -> int:
    from cinegen.eval.report import folder_items, grade_batch, load_manifest, write_report

    if args.out is None:
        raise CliError("a batch needs --out DIR for report.json and report.md")
    if args.batch is not None:
        if args.video is not None:
            raise CliError("--batch takes no VIDEO argument")
        items = load_manifest(args.batch)
    else:
        if args.video is None:
            raise CliError("--prompts needs a FOLDER of videos")
        items = folder_items(args.video, args.prompts)
    if not items:
        raise CliError("nothing to grade: the list is empty")
    report = grade_batch(items,
                         progress=lambda k: print(f"\rgraded {k}/{len(items)}", end="", file=sys.stderr))
    print(file=sys.stderr)
    j, m = write_report(report, args.out)
    summary = report.to_dict()["groups"]["all"]
    rates = ", ".join(
        f"{a} {100 * t['rate']:.1f}%" for a, t in summary["attributes"].items() if t["rate"] is not None
    )
    print(f"graded {len(items)} clips ({report.errors} errors): "
          f"adherence {summary['adherence']:.3f}; {rates}")
    print(f"wrote {j} and {m}")
    passed = all(r.get("passed") for r in report.items)
    return 1 if args.strict and not passed else 0
