"""`cinegen generate`: prompt (and optional images/videos) -> a signed, watermarked MP4.

A thin layer: parse and validate arguments, moderate the prompt, load the pipeline, call it with a
progress bar, publish the frames (watermark, encode, C2PA sign: `cinegen.trust.publish`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cinegen.cli import CliError

EXIT_REFUSED = 3


def default_model_dir() -> Path:
    """$CINEGEN_MODEL, else the built-in model shipped beside the package (weights/backlot-v1)."""
    env = os.environ.get("CINEGEN_MODEL")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "weights" / "backlot-v1"


def _size(s: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"size must look like 128x128, got {s!r}") from e
    return w, h


def _keyframe(s: str) -> tuple[float, Path]:
    t, sep, p = s.partition("=")
    try:
        if not sep:
            raise ValueError
        return float(t), Path(p)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"keyframe must look like 2.5=frame.png, got {s!r}") from e


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("generate", help="generate a video (or a still) from a prompt with the model")
    p.add_argument("prompt")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .mp4 (or .png with --still)")
    p.add_argument("--seconds", type=float, default=4.0, help="duration, 1/16 to 60 s (default 4); with --edit, how much of the source is edited")
    p.add_argument("--size", type=_size, default=(128, 128), help="WxH the model serves, e.g. 128x128, 176x96, 96x176")
    p.add_argument("--fps", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--sampler", choices=["euler", "unipc"], default=None, help="ODE solver (default: the model's)")  # cinegen.sampling.SAMPLERS
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--no-extend-prompt", dest="extend_prompt", action="store_false",
                   help="give the model the prompt as written (default: the model's prompt extender rewrites it "
                        "into the caption language it learned, when it has one)")
    p.add_argument("--model", type=Path, default=None, help="a saved cinegen pipeline or a diffusers Wan 2.1 directory")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                   help="auto: bfloat16 where the CPU/GPU runs it fast (1.5x here), else float32")
    p.add_argument("--frames-dir", type=Path, default=None, help="also write every frame as PNG here")
    p.add_argument("--image", type=Path, default=None, help="image-to-video: animate this still as frame 0")
    p.add_argument("--keyframe", type=_keyframe, action="append", default=[], metavar="T=PATH", help="pin an image at T seconds")
    p.add_argument("--extend", type=Path, default=None, help="continue this video")
    p.add_argument("--direction", choices=["forward", "backward"], default="forward")
    p.add_argument("--connect", type=Path, nargs=2, default=None, metavar=("A", "B"), help="a transition from A's end to B's start")
    p.add_argument("--loop", action="store_true", help="a seamless loop")
    p.add_argument("--edit", type=Path, default=None, help="video-to-video edit of this video (SDEdit)")
    p.add_argument("--strength", type=float, default=0.6, help="edit strength in [0, 1]")
    p.add_argument("--still", action="store_true", help="a single frame")
    p.add_argument("--schedule", type=Path, default=None, help="YAML list of {at: seconds, prompt: text}")
    p.add_argument("--consent-grant", default=None, help="consent grant id for a registered performer")
    p.add_argument("--data-dir", type=Path, default=None, help="signing keys and consent registry (default: CINEGEN_HOME)")
    p.set_defaults(func=run)


def _data_dir(arg: Path | None) -> Path:
    if arg is not None:
        return arg
    env = os.environ.get("CINEGEN_HOME")
    return Path(env) if env else Path.home() / ".local" / "share" / "cinegen"


def run(args: argparse.Namespace) -> int:
    from cinegen.media import MediaError, read_image, read_video, write_image
    from cinegen.pipeline import CinegenPipeline, PipelineError

    out: Path = args.output
    if args.still and out.suffix.lower() not in (".png", ".mp4"):
        raise CliError(f"--still writes .png or .mp4, got {out.name!r}")
    if not args.still and out.suffix.lower() != ".mp4":
        raise CliError(f"output must end in .mp4, got {out.name!r}")
    if out.exists() and out.is_dir():
        raise CliError(f"output {out} is a directory")
    data_dir = _data_dir(args.data_dir)

    # 1. moderation before any generation
    decision = _moderate(args.prompt, args.consent_grant, data_dir)
    if not decision.allowed:
        print(f"cinegen generate: refused ({decision.code}): {decision.message}", file=sys.stderr)
        return EXIT_REFUSED

    # 2. read inputs (clear errors for unreadable files)
    kwargs: dict[str, Any] = {}
    ingredients: list[Path] = []
    try:
        if args.image:
            kwargs["image"] = read_image(args.image)
            ingredients.append(args.image)
        if args.keyframe:
            kwargs["keyframes"] = {t: read_image(p) for t, p in args.keyframe}
            ingredients += [p for _, p in args.keyframe]
        for name in ("extend", "edit"):
            path = getattr(args, name)
            if path:
                frames, fps = read_video(path)
                kwargs[name], kwargs["extend_fps"] = frames, fps
                ingredients.append(path)
        if args.connect:
            a, fa = read_video(args.connect[0])
            b, _ = read_video(args.connect[1])
            kwargs["connect"], kwargs["extend_fps"] = (a, b), fa
            ingredients += list(args.connect)
        if args.schedule:
            kwargs["schedule"] = _read_schedule(args.schedule)
    except MediaError as e:
        raise CliError(str(e)) from e
    mode = next((m for m in ("extend", "connect", "edit", "schedule", "image", "keyframes") if m in kwargs), "text")
    if args.loop:
        mode = "loop"
    if args.still:
        mode = "still"

    # 3. load the model and generate with a progress bar (library chatter off: this is the CLI)
    import diffusers
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.set_verbosity_error()
    model_dir = args.model or default_model_dir()
    try:
        pipe = CinegenPipeline.from_pretrained(model_dir, device=args.device, dtype=args.dtype)
    except (FileNotFoundError, PipelineError) as e:
        raise CliError(str(e)) from e
    w, h = args.size
    from tqdm import tqdm

    bar = tqdm(total=1, desc="generating", unit="step", file=sys.stderr, disable=None)

    def progress(i: int, n: int) -> None:
        bar.total = n
        bar.n = i
        bar.refresh()

    try:
        result = pipe(
            args.prompt, negative_prompt=args.negative_prompt, seconds=args.seconds, fps=args.fps, width=w, height=h,
            seed=args.seed, steps=args.steps, guidance=args.guidance, sampler=args.sampler, direction=args.direction, loop=args.loop,
            strength=args.strength, still=args.still, extend_prompt=args.extend_prompt, progress=progress, **kwargs,
        )
    except PipelineError as e:
        raise CliError(str(e)) from e
    finally:
        bar.close()

    # 4. publish: watermark + encode + C2PA sign (atomic), plus optional PNG frames
    if args.frames_dir:
        args.frames_dir.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(result.frames):
            write_image(args.frames_dir / f"frame_{i:05d}.png", f)
    if out.suffix.lower() == ".png":
        write_image(out, result.frames[0])
    else:
        _publish(result.frames, result.fps, out, pipe, model_dir, mode, result.settings, ingredients, data_dir)
    t = result.timings
    if result.settings.get("model_prompt") not in (None, args.prompt):
        print(f"prompt extended to: {result.settings['model_prompt']!r} (--no-extend-prompt to give it as written)")
    print(
        f"wrote {out} ({len(result.frames)} frames at {result.fps} fps, {w}x{h}, seed {args.seed}) "
        f"in {t['total']:.1f}s (text {t['text']:.2f}s, denoise+decode {t['denoise_and_decode']:.1f}s)"
    )
    return 0


def _moderate(prompt: str, grant_id: str | None, data_dir: Path) -> Any:
    from cinegen.trust.consent import ConsentRegistry
    from cinegen.trust.moderation import load_policy, moderate

    exists = (data_dir / "consent.sqlite").exists()
    registry = ConsentRegistry.in_data_dir(data_dir) if exists or grant_id else None
    grant = registry.get_grant(grant_id) if (registry is not None and grant_id) else None
    return moderate(prompt, load_policy(), consent=grant, registry=registry)


def _read_schedule(path: Path) -> list[Any]:
    import yaml

    from cinegen.pipeline import ScheduleEntry

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise CliError(f"cannot read schedule {path}: {e}") from e
    if not isinstance(data, list) or not data:
        raise CliError(f"schedule {path} must be a non-empty YAML list of {{at: seconds, prompt: text}}")
    entries = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or set(item) != {"at", "prompt"}:
            raise CliError(f"schedule entry {i} must have exactly the keys 'at' and 'prompt', got {item!r}")
        try:
            entries.append(ScheduleEntry(float(item["at"]), str(item["prompt"])))
        except (TypeError, ValueError) as e:
            raise CliError(f"schedule entry {i}: 'at' must be a number of seconds, got {item['at']!r}") from e
    return entries


def _publish(
    frames: np.ndarray, fps: int, out: Path, pipe: Any, model_dir: Path, mode: str, settings: dict[str, Any],
    ingredients: list[Path], data_dir: Path,
) -> None:
    from cinegen.trust.licences import declaration_for
    from cinegen.trust.publish import ProvenanceInfo, TrustSettings, publish_video

    job_id = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    info = ProvenanceInfo(
        model_name=str(pipe.info.get("name", model_dir.name)),
        model_version=str(pipe.info.get("version", "0")),
        mode=mode,
        job_id=job_id,
        settings=settings,
        ingredients=tuple(ingredients),
        training_data=declaration_for(model_dir),
    )
    ts = TrustSettings.from_env()
    if not os.environ.get("CINEGEN_DATA_DIR"):  # keys live in the same data dir as everything else
        ts = dataclasses.replace(ts, data_dir=data_dir / "trust")
    publish_video(frames, fps, out, info=info, settings=ts)
