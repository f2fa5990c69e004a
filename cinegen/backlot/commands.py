"""Backlot subcommands: `cinegen render` (procedural clip from a prompt) and `cinegen backlot ...`.

`cinegen render` draws the procedural world described by a prompt; it does not run the model.
It is the placeholder main job until the model lands, and a quick way to see what a prompt means.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from cinegen.backlot.captions import describe
from cinegen.backlot.parse import expand_prompt, parse_prompt, shorten_prompt
from cinegen.cli import CliError


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (width, height). Evenness and range are checked by the scene."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if m is None:
        raise CliError(f"--size must be WIDTHxHEIGHT such as 128x128, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _output_dir_exists(path: Path, flag: str) -> None:
    if path.is_dir():
        raise CliError(f"{flag}: {path} is a directory; give a file path such as clip.mp4")
    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise CliError(f"{flag}: directory {parent} does not exist")


# ----------------------------------------------------------------------------- handlers
def _write_signed(out: Path, frames: Any, scene: Any) -> None:
    """Encode, then sign with C2PA as procedural (algorithmicMedia, no training data), last and atomically."""
    import os
    import tempfile

    from cinegen.media import write_video
    from cinegen.trust.credentials import ALGORITHMIC_MEDIA, build_manifest, sign_mp4
    from cinegen.trust.publish import TrustSettings

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".unsigned.mp4", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_video(tmp, frames, fps=scene.fps)
        ts = TrustSettings.for_data_dir()
        manifest = build_manifest(
            title=out.name, model_name="cinegen-backlot-renderer", model_version="1", mode="render",
            settings={"scene": scene.to_dict()}, training_data={"none": "procedural render"},
            job_id=f"seed-{scene.seed}",
            watermark={"scheme": "none"}, digital_source_type=ALGORITHMIC_MEDIA,
        )
        sign_mp4(tmp, out, manifest, ts.identity())
    finally:
        tmp.unlink(missing_ok=True)


def _render(args: argparse.Namespace) -> int:
    from cinegen.backlot.render import iter_frames
    from cinegen.media import write_image

    width, height = parse_size(args.size)
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, got {args.seed}")
    scene = parse_prompt(
        args.prompt, seconds=args.seconds, fps=args.fps, width=width, height=height, seed=args.seed
    )
    out = Path(args.output)
    _output_dir_exists(out, "-o")
    if args.frames_dir is not None:
        frames_dir = Path(args.frames_dir)
        if frames_dir.exists() and not frames_dir.is_dir():
            raise CliError(f"--frames-dir: {frames_dir} exists and is not a directory")
        frames_dir.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(iter_frames(scene)):
            write_image(frames_dir / f"frame-{i:05d}.png", frame)
    _write_signed(out, iter_frames(scene), scene)
    print(
        f"wrote {out} ({scene.num_frames} frames, {scene.width}x{scene.height} at {scene.fps} fps): "
        f"{describe(scene)}"
    )
    return 0


def _dataset(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cinegen.backlot.shards import write_dataset

    width, height = parse_size(args.size)
    with tqdm(total=0, unit="clip", desc="rendering", disable=args.quiet or None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        manifest = write_dataset(
            args.out,
            num_clips=args.clips,
            seed=args.seed,
            seconds=args.seconds,
            fps=args.fps,
            width=width,
            height=height,
            clips_per_shard=args.clips_per_shard,
            val_fraction=args.val_fraction,
            captions_per_clip=args.captions,
            heldout_per_composition=args.heldout_per_composition,
            progress=progress,
        )
    counts = ", ".join(f"{k} {v}" for k, v in manifest.counts.items())
    print(f"wrote {args.out}: {counts} clips in {len(manifest.shards)} shards")
    return 0


def _expand(args: argparse.Namespace) -> int:
    print(expand_prompt(args.prompt))
    return 0


def _shorten(args: argparse.Namespace) -> int:
    print(shorten_prompt(args.prompt))
    return 0


def _parse(args: argparse.Namespace) -> int:
    print(json.dumps(parse_prompt(args.prompt, seed=args.seed).to_dict(), indent=2, sort_keys=True))
    return 0


# ----------------------------------------------------------------------------- registration
def register(sub: argparse._SubParsersAction[Any]) -> None:
    r = sub.add_parser(
        "render",
        help="render the procedural backlot clip a prompt describes (not the model)",
        description=(
            "Render the procedural backlot world described by PROMPT to an MP4. This draws the "
            "ground-truth scene from the backlot's vocabulary; it does not run the generative model."
        ),
    )
    r.add_argument("prompt", metavar="PROMPT", help='e.g. "a red ball moving left, then falling, at sunset"')
    r.add_argument("-o", "--output", required=True, help="output .mp4 path")
    r.add_argument("--seconds", type=float, default=4.0, help="duration (default 4)")
    r.add_argument("--fps", type=int, default=16, help="frames per second (default 16)")
    r.add_argument("--size", default="128x128", help="WIDTHxHEIGHT, even numbers (default 128x128)")
    r.add_argument("--seed", type=int, default=0, help="layout, unsaid colours and texture (default 0)")
    r.add_argument("--frames-dir", default=None, help="also write every frame as a PNG into this directory")
    r.set_defaults(func=_render)

    b = sub.add_parser("backlot", help="the procedural world: datasets and the prompt language")
    bsub = b.add_subparsers(dest="backlot_command", metavar="ACTION")
    bsub.required = True

    d = bsub.add_parser("dataset", help="render a training dataset (shards + captions + licences)")
    d.add_argument("out", metavar="OUT", help="output directory (new or empty)")
    d.add_argument("--clips", type=int, required=True, help="train + val clips")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--seconds", type=float, default=2.0)
    d.add_argument("--fps", type=int, default=16)
    d.add_argument("--size", default="128x128", help="WIDTHxHEIGHT (default 128x128)")
    d.add_argument("--clips-per-shard", type=int, default=256)
    d.add_argument("--val-fraction", type=float, default=0.05)
    d.add_argument("--captions", type=int, default=4, help="captions per clip (default 4)")
    d.add_argument(
        "--heldout-per-composition", type=int, default=2, help="test_heldout clips per composition"
    )
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_dataset)

    e = bsub.add_parser("expand", help="print the detailed caption of a short prompt")
    e.add_argument("prompt", metavar="PROMPT")
    e.set_defaults(func=_expand)

    s = bsub.add_parser("shorten", help="print the short caption of a prompt")
    s.add_argument("prompt", metavar="PROMPT")
    s.set_defaults(func=_shorten)

    p = bsub.add_parser("parse", help="print the scene spec (JSON) a prompt parses to")
    p.add_argument("prompt", metavar="PROMPT")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_parse)
