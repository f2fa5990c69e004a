"""`cinegen generate`: prompt (and optional images/videos) -> a signed, watermarked MP4.

A thin layer over `cinegen.generate`: parse the flags into a `GenerateRequest` (the mode decided
here, once), then the shared moderate -> generate -> publish, with a progress bar.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cinegen import cpu_share
from cinegen.cli import CliError
from cinegen.families.switch_flags import CONTEXT_PARALLELS, add_switch_flags

EXIT_REFUSED = 3


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
    p.add_argument("--seconds", type=float, default=4.0,
                   help="duration, 1/16 to 60 s (default 4); with --edit, how much of the source is edited")
    p.add_argument("--size", type=_size, default=(128, 128),
                   help="WxH the model serves, e.g. 128x128, 176x96, 96x176")
    p.add_argument("--fps", type=int, default=None, help="frames per second (default: the model's own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    # cinegen.sampling.SAMPLERS
    p.add_argument("--quality", default=None,
                   help="how the model samples: 'full' (the model at its default steps) or a distilled "
                        "student it ships (e.g. 'fast': 2-4 steps, one call each); default: the model's")
    p.add_argument("--runtime", default="eager",
                   help="what runs the transformer: 'eager' (PyTorch; bfloat16 where the CPU is fast at it) "
                        "or 'onnx' (ONNX Runtime, float32, graphs cached per shape in the data directory)")
    p.add_argument("--no-traces", dest="traces", action="store_false",
                   help="load the built-in model's PyTorch modules (importing diffusers and transformers, "
                        "about 3 s) instead of their TorchScript traces, which the first run makes in the "
                        "data directory and later runs load in a fraction of a second; same frames")
    p.add_argument("--sampler", choices=["euler", "heun", "unipc"], default=None,
                   help="ODE solver (default: the model's)")
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--no-extend-prompt", dest="extend_prompt", action="store_false",
                   help="give the model the prompt as written (default: the model's prompt extender "
                   "rewrites it "
                        "into the caption language it learned, when it has one)")
    p.add_argument("--model", type=Path, default=None,
                   help="a saved cinegen pipeline or an open model family's diffusers directory (Wan, "
                        "LTX-Video, CogVideoX: `cinegen models` lists what a directory can do)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="auto: bfloat16 where the CPU/GPU runs it fast (1.5x here), else float32 (open "
                        "families: float32 on a CPU, bfloat16 on a GPU)")
    _family_flags(p)
    p.add_argument("--frames-dir", type=Path, default=None, help="also write every frame as PNG here")
    p.add_argument("--image", type=Path, default=None, help="image-to-video: animate this still as frame 0")
    p.add_argument("--keyframe", type=_keyframe, action="append", default=[], metavar="T=PATH",
                   help="pin an image at T seconds")
    p.add_argument("--extend", type=Path, default=None, help="continue this video")
    p.add_argument("--direction", choices=["forward", "backward"], default="forward")
    p.add_argument("--connect", type=Path, nargs=2, default=None, metavar=("A", "B"),
                   help="a transition from A's end to B's start")
    p.add_argument("--loop", action="store_true", help="a seamless loop")
    p.add_argument("--edit", type=Path, default=None, help="video-to-video edit of this video (SDEdit)")
    p.add_argument("--strength", type=float, default=0.6, help="edit strength in [0, 1]")
    p.add_argument("--still", action="store_true", help="a single frame")
    p.add_argument("--schedule", type=Path, default=None, help="YAML list of {at: seconds, prompt: text}")
    p.add_argument("--plan", type=Path, default=None,
                   help="render this shot plan (JSON, from `cinegen plan` or by hand)")
    p.add_argument("--path", default=None, metavar="'X,Y X,Y ...'",
                   help="move the first object along these points (x in frame widths from the left, "
                        "y in frame heights from the top)")
    p.add_argument("--no-plan", dest="use_plan", action="store_false", help="text only: no shot plan")
    p.add_argument("--consent-grant", default=None, help="consent grant id for a registered performer")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="signing keys and consent registry (default: CINEGEN_HOME)")
    p.set_defaults(func=run)


def _family_flags(p: argparse.ArgumentParser) -> None:
    """Flags only an open model family takes (README "Open model families": what each costs and saves)."""
    g = p.add_argument_group("open model families")
    g.add_argument("--fit", action="store_true",
                   help="round the frame count and size to the nearest the family takes (default: "
                        "refuse them)")
    g.add_argument("--reference", type=Path, action="append", default=[], metavar="IMAGE",
                   help="a reference image (a character, an object) for families that take them (Wan VACE)")
    g.add_argument("--upscale", action="store_true",
                   help="render at half the size, then double it with the model's latent upsampler "
                        "(LTX-Video directories that ship a latent_upsampler/; --size is the final size)")
    g.add_argument("--context-parallel", choices=CONTEXT_PARALLELS, default=None,
                   help="split one video's transformer work across the processes of a torchrun launch "
                        "(diffusers' context parallelism; 'ulysses' is checked, 'ring' is refused: README)")
    add_switch_flags(g)


class _NotRankZero(Exception):
    """Raised before publishing on every rank but 0 of a context-parallel launch: rank 0 writes."""


def _launch(args: argparse.Namespace) -> int:
    """The rank of a `--context-parallel` run, its process group joined and `args.device` this rank's
    own; 0 without one. Not launched under torchrun: exit 2."""
    if args.context_parallel is None:
        return 0
    from cinegen.families.context_parallel import World, start

    world = World.from_env()
    if world.size < 2:
        raise CliError("--context-parallel splits one video across processes; launch under torchrun, e.g. "
                       "`torchrun --nproc_per_node 2 -m cinegen generate ... --context-parallel ulysses` "
                       f"(WORLD_SIZE is {world.size})")
    args.device = world.device(args.device)
    start(world, args.device)
    return world.rank


def _switches(args: argparse.Namespace) -> Any:
    from cinegen.families.switches import Switches

    return Switches.from_flags(args)


def run(args: argparse.Namespace) -> int:
    started = cpu_share.sample()  # the imports and set-up below are the window that measures the machine
    from cinegen import paths
    from cinegen.generate import (
        GenerateError,
        GenerateRequest,
        LocalModerator,
        Model,
        PublishOptions,
        Refused,
        generate,
    )
    from cinegen.media import write_image
    from cinegen.trust.publish import TrustSettings

    out: Path = args.output
    if args.still and out.suffix.lower() not in (".png", ".mp4"):
        raise CliError(f"--still writes .png or .mp4, got {out.name!r}")
    if not args.still and out.suffix.lower() != ".mp4":
        raise CliError(f"output must end in .mp4, got {out.name!r}")
    if out.exists() and out.is_dir():
        raise CliError(f"output {out} is a directory")
    data = paths.data_dir(args.data_dir)
    model_dir = paths.model_dir(args.model)
    if args.fps is None:
        from cinegen.families.registry import default_fps

        args.fps = default_fps(model_dir) if (model_dir / "model_index.json").exists() else 16
    request = _request(args, GenerateRequest)
    if request.path is not None:
        _note_fast_path(request, model_dir)
    _check_runtime(args.runtime)
    _quiet_libraries(model_dir)
    from cinegen.models.traced import TraceCache

    traces = TraceCache(data / "cache" / "traced") if args.traces else None  # shared by model and moderator
    switches = _switches(args)
    rank = _launch(args)
    model = Model(model_dir, device=args.device, dtype=args.dtype, runtime=args.runtime,
                  cache_dir=data / "cache" / "onnx", switches=switches, traces=traces)
    w, h = args.size
    from tqdm import tqdm

    bar = tqdm(total=1, desc="generating", unit="step", file=sys.stderr, disable=None if rank == 0 else True)

    def progress(i: int, n: int) -> None:
        bar.total = n
        bar.n = i
        bar.refresh()

    _share_cpu(started, args.device)
    try:  # moderate -> generate -> publish (watermark + encode + C2PA sign, atomic), the one shared way
        done = generate(model, request, out, publish=PublishOptions(trust=TrustSettings.for_data_dir(data)),
                        moderator=LocalModerator(data, traces=traces), progress=progress,
                        before_publish=_not_rank_zero if rank else None)
    except _NotRankZero:
        return 0
    except Refused as e:
        print(f"cinegen generate: refused ({e.code}): {e.message}", file=sys.stderr)
        return EXIT_REFUSED
    except GenerateError as e:
        raise CliError(str(e)) from e
    finally:
        bar.close()
        if args.context_parallel is not None:
            from cinegen.families.context_parallel import stop

            stop()
    if args.frames_dir:
        args.frames_dir.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(done.frames):
            write_image(args.frames_dir / f"frame_{i:05d}.png", f)
    _report(done.settings, args.prompt)
    print(f"wrote {out} ({len(done.frames)} frames at {done.fps} fps, {w}x{h}, seed {args.seed}) "
          f"in {done.timings['total']:.1f}s ({stage_summary(done.timings)})")
    return 0


def _note_fast_path(request: Any, model_dir: Path) -> None:
    """Tell the user, before generating, when a drawn path moves the object faster than the built-in
    model draws sharply (the model's own frame rate: the VAE sees its frames, not the output's)."""
    from cinegen.families.registry import default_fps, read_index, recognise
    from cinegen.planning.paths import fast_path_note

    index = model_dir / "model_index.json"
    if index.exists() and recognise(model_dir, read_index(model_dir)) is not None:
        return  # an open family's VAE: not measured
    fps = default_fps(model_dir) if index.exists() else request.fps
    note = fast_path_note(list(request.path), request.seconds, fps, request.width, request.height)
    if note:
        print(note, file=sys.stderr)


def _report(settings: dict[str, Any], prompt: str) -> None:
    """What the model was given beyond the prompt, each with the flag that turns it off."""
    if settings.get("model_prompt") not in (None, prompt):
        print(f"prompt extended to: {settings['model_prompt']!r} (--no-extend-prompt to give it as written)")
    if settings.get("plan"):
        print(f"plan: {_plan_summary(settings['plan'])} (--no-plan for text only)")
    if settings.get("quality") not in (None, "full"):
        print(f"quality: {settings['quality']}, {settings.get('steps')} steps of a distilled student "
              "(--quality full for the undistilled model)")


def _share_cpu(started: Any, device: str) -> None:
    """Generate on the cores other processes left idle while this one started (cpu_share.py), unless
    the user chose the thread count (OMP_NUM_THREADS) or the model runs elsewhere."""
    if started is None or "OMP_NUM_THREADS" in os.environ or device != "cpu":
        return
    import torch

    now = cpu_share.sample()
    other = None if now is None else cpu_share.other_busy_cores(started, now)
    threads = torch.get_num_threads()
    keep = cpu_share.threads_for(threads, other)
    if keep < threads:
        torch.set_num_threads(keep)
        print(f"other processes kept {other:.1f} of this machine's cores busy: generating on {keep} of "
              f"{threads} threads (set OMP_NUM_THREADS to choose)", file=sys.stderr)


def _not_rank_zero() -> None:
    raise _NotRankZero


def stage_summary(t: dict[str, float]) -> str:
    """'load 0.3s, moderation 0.4s, text 0.06s, denoise 8.1s, decode 1.7s, publish 0.4s': the stages a
    user can act on (a warm service has no load; `--steps` and the student cut denoise)."""
    parts = [("load", t.get("model_load", 0.0)), ("moderation", t.get("moderation", 0.0)),
             ("text", t.get("text", 0.0)), ("denoise", t.get("denoise", 0.0)),
             ("decode", t.get("vae_decode", 0.0)), ("encode", t.get("vae_encode", 0.0)),
             ("publish", t.get("publish", 0.0))]
    return ", ".join(f"{name} {v:.2f}s" for name, v in parts if name != "encode" or v > 0)


def _request(args: argparse.Namespace, request_type: type[Any]) -> Any:
    """The flags as a `GenerateRequest`: the mode decided here, once, from which inputs were given."""
    from cinegen.mode import Mode

    try:
        mode = Mode.from_flags(image=bool(args.image), keyframes=bool(args.keyframe),
                               extend=bool(args.extend),
                               connect=bool(args.connect), edit=bool(args.edit), schedule=bool(args.schedule),
                               loop=args.loop, still=args.still)
    except ValueError as e:
        raise CliError(str(e)) from e
    sources = tuple(p for p in (args.extend, args.edit, *(args.connect or ())) if p)
    w, h = args.size
    return request_type(
        prompt=args.prompt, mode=mode, negative_prompt=args.negative_prompt, seconds=args.seconds,
        fps=args.fps,
        width=w, height=h, seed=args.seed, steps=args.steps, guidance=args.guidance, sampler=args.sampler,
        quality=args.quality,
        extend_prompt=args.extend_prompt, image=args.image, keyframes=tuple(args.keyframe), sources=sources,
        direction=args.direction, strength=args.strength,
        schedule=tuple(_read_schedule(args.schedule)) if args.schedule else (),
        consent_grant_id=args.consent_grant, fit=args.fit, references=tuple(args.reference),
        upscale=args.upscale,
        plan=_read_plan(args.plan) if args.plan else None, use_plan=args.use_plan,
        path=tuple(_read_path(args.path)) if args.path is not None else None,
    )


def _read_plan(path: Path) -> dict[str, Any]:
    """A plan file, read and validated before any model loads (its duration is checked by the pipeline)."""
    from cinegen.planning.plan import PlanError, ShotPlan

    try:
        text = path.read_text()
    except OSError as e:
        raise CliError(f"cannot read plan {path}: {e}") from e
    try:
        return ShotPlan.from_json(text).to_dict()
    except PlanError as e:
        raise CliError(f"plan {path}: {e}") from e


def _read_path(text: str) -> list[tuple[float, float]]:
    from cinegen.planning.paths import parse_path
    from cinegen.planning.plan import PlanError

    try:
        return parse_path(text)
    except PlanError as e:
        raise CliError(f"--path: {e}") from e


def _check_runtime(name: str) -> None:
    """An unknown or uninstalled runtime exits 2 before any model loads."""
    from cinegen.pipeline.runtimes import check_runtime
    from cinegen.pipeline.types import PipelineError

    try:
        check_runtime(name)
    except PipelineError as e:
        raise CliError(f"--runtime: {e}") from e


def _quiet_libraries(model_dir: Path) -> None:
    """Library chatter off: this is the CLI, with its own progress bar. The environment quiets
    transformers and diffusers when (if) they are imported; diffusers' progress bars have no such
    switch, so an open family's directory (which imports diffusers anyway) turns them off here. The
    built-in model's traces load without either library (models/traced.py)."""
    import os

    for var, value in (("TRANSFORMERS_VERBOSITY", "error"), ("DIFFUSERS_VERBOSITY", "error"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")):
        os.environ.setdefault(var, value)
    from cinegen.families.registry import recognise

    try:
        family = recognise(model_dir)
    except (OSError, ValueError):
        return  # the load reports it
    if family is not None:
        import diffusers
        import transformers

        transformers.utils.logging.disable_progress_bar()
        diffusers.utils.logging.disable_progress_bar()


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


def _plan_summary(plan: dict[str, Any]) -> str:
    from cinegen.planning.plan import ShotPlan
    from cinegen.planning.planner import summarize

    return summarize(ShotPlan.from_dict(plan))
