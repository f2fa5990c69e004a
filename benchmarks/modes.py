"""Every generation mode of the shipped model, measured (issue 4).

Each mode runs on `--per-mode` single-object backlot scenes of seen compositions with a static
camera (seed = the scene's index) and is measured against what the mode promises:

- image: first frame of a real backlot render -> PSNR of output frame 0 vs the input; oracle motion
  vs text-only
- keyframes: first and last frames of a real render -> PSNR at both pinned times
- extend fwd: a real 2 s render -> seam score at the joint; same colour/shape on both sides
- extend bwd: a real 2 s render -> the same, at the joint before it
- connect: first and last 1 s of a real 4 s render -> seam score at both joints
- loop: the prompt -> seam score at the wrap, vs the wrap of a plain clip
- edit: a real render, prompt with a new colour -> oracle: colour changed, shape and motion kept
  (two strengths)
- edit night: a real render, prompt set at night -> background moved to the target's (CIELAB ΔE)
- remix: a generated clip, prompt with a new colour -> as edit, from the source's seed at the
  service's strength 0.6
- still: the prompt -> oracle colour and shape of the single frame
- schedule: two prompts, the motion changes at 2 s -> oracle motion and `then` vs one prompt
  worded "..., then ..."
- minute: a 60 s prompt (bounce or still) -> identity first vs last 4 s, drift, seams, end motion;
  vs naive last-frame chaining

The seam score is the frame-to-frame change across a joint over the median change inside the
clip: ~1 is seamless. Prints a table per mode, writes --json, and with --image a picture of
each mode's input and output frames.

    .venv/bin/python benchmarks/modes.py [--per-mode 8] [--quality full] [--steps 12] [--json out.json]
        [--image docs/images/modes.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from cinegen.backlot.captions import describe
from cinegen.backlot.heldout import heldout_compositions
from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import SceneSpec, random_scene
from cinegen.backlot.vocab import COLORS
from cinegen.eval.metrics import color_drift, psnr, seam_score
from cinegen.eval.oracle import DetectedObject, analyze, grade
from cinegen.eval.segment import srgb_to_lab
from cinegen.pipeline import OVERLAP_LATENTS, CinegenPipeline, ScheduleEntry, fit_image

MODEL = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1"
FPS = 16
Example = tuple[str, list[tuple[str, np.ndarray]]]  # (title, [(label, frames)]) for the picture


# ----------------------------------------------------------------------------- scenes
def scenes(n: int, seconds: float, seed: int, motions: tuple[str, ...] | None = None) -> list[SceneSpec]:
    """Single-object scenes of seen compositions, static camera, no pillar, no change of motion."""
    rng = random.Random(seed)
    held = frozenset(heldout_compositions())
    out: list[SceneSpec] = []
    while len(out) < n:
        s = random_scene(rng, seconds=seconds, max_objects=1, exclude=held)
        o = s.objects[0]
        if motions is not None and o.motion not in motions:
            continue
        out.append(dataclasses.replace(s, camera="static", occluder=False,
                                       objects=(dataclasses.replace(o, then=None),)))
    return out


def recolour(scene: SceneSpec, rng: random.Random) -> SceneSpec:
    """The same scene with the object in another colour that shows in its setting."""
    o = scene.objects[0]
    for _ in range(100):
        c = rng.choice([c for c in COLORS if c != o.color])
        cand = dataclasses.replace(scene, objects=(dataclasses.replace(o, color=c),))
        if _shows(cand):
            return cand
    raise RuntimeError(f"no visible recolouring of {describe(scene)}")


def _shows(scene: SceneSpec) -> bool:
    """The oracle finds the object in a real render (the colour contrasts with the setting)."""
    g = grade(render_scene(dataclasses.replace(scene, seconds=0.5)), scene.fps, scene)
    return g.objects[0].found and g.objects[0].color_ok


def main_object(frames: np.ndarray) -> DetectedObject | None:
    """The longest-seen object the oracle finds, or None."""
    objs = analyze(frames, FPS).objects
    return max(objs, key=lambda d: len(d.frames)) if objs else None


def identity(frames: np.ndarray) -> tuple[str | None, str | None]:
    """(colour, shape) of the longest-seen object, or (None, None)."""
    o = main_object(frames)
    return (o.color, o.shape) if o is not None else (None, None)


def mean_lab(frames: np.ndarray) -> np.ndarray:
    return srgb_to_lab(frames[:, ::2, ::2].reshape(-1, 3)).mean(0)


def med(xs: list[float]) -> float:
    return round(float(statistics.median(xs)), 3) if xs else float("nan")


def frac(xs: list[bool]) -> float:
    return round(float(np.mean(xs)), 3) if xs else float("nan")


# ----------------------------------------------------------------------------- modes
def bench_image(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None) -> tuple[dict, Example]:
    p0, mot_i2v, mot_t2v = [], [], []
    ex: Example = ("image-to-video", [])
    for i, s in enumerate(ss):
        real = render_scene(s)
        prompt = describe(s)
        out = pipe(prompt, seconds=s.seconds, steps=steps, seed=i, image=real[0]).frames
        base = pipe(prompt, seconds=s.seconds, steps=steps, seed=i).frames
        p0.append(psnr(out[0], fit_image(real[0], 128, 128)))
        mot_i2v.append(grade(out, FPS, s).objects[0].motion_ok)
        mot_t2v.append(grade(base, FPS, s).objects[0].motion_ok)
        if i == 0:
            ex = (f"image-to-video: {prompt!r}", [("input image", real[:1]), ("output", out)])
    return {"first_frame_psnr_db_median": med(p0), "motion_accuracy": frac(mot_i2v),
            "motion_accuracy_text_only_same_seeds": frac(mot_t2v), "n": len(ss)}, ex


def bench_keyframes(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None) -> tuple[dict, Example]:
    first, last = [], []
    ex: Example = ("keyframes", [])
    for i, s in enumerate(ss):
        real = render_scene(s)
        out = pipe(describe(s), seconds=s.seconds, steps=steps, seed=i,
                   keyframes={0.0: real[0], s.seconds: real[-1]}).frames
        first.append(psnr(out[0], real[0]))
        last.append(psnr(out[-1], real[-1]))
        if i == 0:
            ex = (f"keyframes at 0 s and {s.seconds:g} s: {describe(s)!r}",
                  [("keyframes", np.stack([real[0], real[-1]])), ("output", out)])
    return {"first_keyframe_psnr_db_median": med(first), "last_keyframe_psnr_db_median": med(last),
            "n": len(ss)}, ex


def bench_extend(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None, direction: str) -> tuple[dict,
                                                                                                  Example]:
    seams, real_seams, same = [], [], []
    ex: Example = (f"extend {direction}", [])
    for i, s in enumerate(ss):
        src = render_scene(s)
        new = pipe(describe(s), seconds=s.seconds, steps=steps, seed=i, extend=src,
                   direction=direction).frames
        forward = direction == "forward"
        full, joint = ((np.concatenate([src, new]), len(src)) if forward
                       else (np.concatenate([new, src]), len(new)))
        seams.append(seam_score(full, joint))
        whole = render_scene(dataclasses.replace(s, seconds=2 * s.seconds))  # the world's own continuation
        real_seams.append(seam_score(whole, len(src)))
        before = identity(src)
        same.append(before == identity(new) and before != (None, None))
        if i == 0:
            ex = (f"extend {direction}: {describe(s)!r}", [("source", src), ("new frames", new)])
    return {"seam_score_median": med(seams), "seam_score_real_continuation_median": med(real_seams),
            "identity_kept_across_seam": frac(same), "n": len(ss)}, ex


def bench_connect(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None) -> tuple[dict, Example]:
    seams_a, seams_b = [], []
    ex: Example = ("connect", [])
    for i, s in enumerate(ss):
        real = render_scene(dataclasses.replace(s, seconds=2 * s.seconds))
        k = s.fps * int(s.seconds) // 2
        a, b = real[:k], real[-k:]
        mid = pipe(describe(s), seconds=s.seconds, steps=steps, seed=i, connect=(a, b)).frames
        full = np.concatenate([a, mid, b])
        seams_a.append(seam_score(full, len(a)))
        seams_b.append(seam_score(full, len(a) + len(mid)))
        if i == 0:
            ex = (f"connect: {describe(s)!r}",
                  [("clip A (end)", a[-4:]), ("transition", mid), ("clip B (start)", b[:4])])
    return {"seam_score_into_transition_median": med(seams_a),
            "seam_score_out_of_transition_median": med(seams_b), "n": len(ss)}, ex


def bench_loop(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None) -> tuple[dict, Example]:
    wrap, plain_wrap = [], []
    ex: Example = ("loop", [])
    for i, s in enumerate(ss):
        out = pipe(describe(s), seconds=s.seconds, steps=steps, seed=i, loop=True).frames
        plain = pipe(describe(s), seconds=s.seconds, steps=steps, seed=i).frames
        wrap.append(seam_score(np.concatenate([out, out[:8]]), len(out)))
        plain_wrap.append(seam_score(np.concatenate([plain, plain[:8]]), len(plain)))
        if i == 0:
            ex = (f"loop: {describe(s)!r}", [("output", out), ("output, from the start again", out[:4])])
    return {"wrap_seam_score_median": med(wrap), "wrap_seam_score_plain_clip_median": med(plain_wrap),
            "n": len(ss)}, ex


def bench_edit(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None,
               strengths: tuple[float, ...]) -> tuple[dict, Example]:
    rng = random.Random(7)
    res: dict[str, Any] = {}
    ex: Example = ("edit", [])
    pairs = [(s, recolour(s, rng)) for s in ss]
    for strength in strengths:
        changed, shape_kept, motion_kept = [], [], []
        for i, (s, t) in enumerate(pairs):
            src = render_scene(s)
            out = pipe(describe(t), seconds=s.seconds, steps=steps, seed=i, edit=src,
                       strength=strength).frames
            og = grade(out, FPS, t).objects[0]
            changed.append(og.color_ok)
            shape_kept.append(og.shape_ok)
            motion_kept.append(og.motion_ok)
            if i == 0 and strength == strengths[-1]:
                ex = (f"edit (strength {strength:g}) to {describe(t)!r}", [("source", src), ("edited", out)])
        res[f"strength_{strength:g}"] = {"colour_changed": frac(changed), "shape_kept": frac(shape_kept),
                                         "motion_kept": frac(motion_kept)}
    res["n"] = len(ss)
    return res, ex


def bench_night(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None, strength: float) -> tuple[dict,
                                                                                                  Example]:
    moved, kept = [], []
    ex: Example = ("edit: at night", [])
    for i, s in enumerate([s for s in ss if s.setting != "night"]):
        t = dataclasses.replace(s, setting="night")
        src, target = render_scene(s), render_scene(t)
        out = pipe(describe(t), seconds=s.seconds, steps=steps, seed=i, edit=src, strength=strength).frames
        d_target = float(np.linalg.norm(mean_lab(out) - mean_lab(target)))
        d_source = float(np.linalg.norm(mean_lab(out) - mean_lab(src)))
        moved.append(d_target < d_source)
        kept.append(grade(out, FPS, t).objects[0].motion_ok)
        if i == 0:
            ex = (f"edit (strength {strength:g}): {describe(t)!r}", [("source", src), ("edited", out)])
    return {"strength": strength, "background_closer_to_night_than_source": frac(moved),
            "motion_kept": frac(kept), "n": len(moved)}, ex


def bench_remix(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None) -> tuple[dict, Example]:
    rng = random.Random(11)
    changed, shape_kept, motion_kept, start_moved = [], [], [], []
    ex: Example = ("remix", [])
    for i, s in enumerate(ss):
        t = recolour(s, rng)
        src = pipe(describe(s), seconds=s.seconds, steps=steps, seed=i).frames
        out = pipe(describe(t), seconds=s.seconds, steps=steps, seed=i, edit=src, strength=0.6).frames
        og = grade(out, FPS, t).objects[0]
        changed.append(og.color_ok)
        shape_kept.append(og.shape_ok)
        motion_kept.append(og.motion_ok)
        oa, ob = main_object(src), main_object(out)
        if oa is not None and ob is not None:  # composition: where the main object starts, in frame heights
            start_moved.append(float(np.hypot(oa.x[0] - ob.x[0], oa.y[0] - ob.y[0])))
        if i == 0:
            ex = (f"remix to {describe(t)!r}", [("generated source", src), ("remix", out)])
    return {"strength": 0.6, "colour_changed": frac(changed), "shape_kept": frac(shape_kept),
            "motion_kept": frac(motion_kept),
            "start_position_shift_median_frame_heights": med(start_moved), "n": len(ss)}, ex


def bench_still(pipe: CinegenPipeline, ss: list[SceneSpec], steps: int | None) -> tuple[dict, Example]:
    colour, shape = [], []
    ex: Example = ("still", [])
    for i, s in enumerate(ss):
        still = dataclasses.replace(s, objects=(dataclasses.replace(s.objects[0], motion="still"),))
        frame = pipe(describe(still), still=True, steps=steps, seed=i).frames
        c, sh = identity(np.repeat(frame[:1], 8, axis=0))
        colour.append(c == s.objects[0].color)
        shape.append(sh == s.objects[0].shape)
        if i == 0:
            ex = (f"still: {describe(s)!r}", [("output", frame)])
    return {"colour_accuracy": frac(colour), "shape_accuracy": frac(shape), "n": len(ss)}, ex


def bench_schedule(pipe: CinegenPipeline, n: int, steps: int | None, seed: int) -> tuple[dict, Example]:
    rng = random.Random(seed + 5)
    sched_motion, sched_then, single_motion, single_then = [], [], [], []
    ex: Example = ("schedule", [])
    for i, s in enumerate(scenes(n, 4.0, seed + 5, motions=("left", "right", "up", "down", "still"))):
        o = s.objects[0]
        then = rng.choice([m for m in ("fall", "still", "up", "down", "left", "right") if m != o.motion])
        full = dataclasses.replace(s, objects=(dataclasses.replace(o, then=then, change_at=0.5),))
        first = describe(s)
        second = describe(dataclasses.replace(s, objects=(dataclasses.replace(o, motion=then),)))
        out = pipe(first, seconds=4.0, steps=steps, seed=i,
                   schedule=[ScheduleEntry(0.0, first), ScheduleEntry(2.0, second)]).frames
        one = pipe(describe(full), seconds=4.0, steps=steps, seed=i).frames
        g, g1 = grade(out, FPS, full).objects[0], grade(one, FPS, full).objects[0]
        sched_motion.append(g.motion_ok)
        sched_then.append(bool(g.then_ok))
        single_motion.append(g1.motion_ok)
        single_then.append(bool(g1.then_ok))
        if i == 0:
            ex = (f"schedule: {first!r} at 0 s, {second!r} at 2 s", [("output", out)])
    return {"schedule": {"motion": frac(sched_motion), "then": frac(sched_then)},
            "one_prompt_with_then": {"motion": frac(single_motion), "then": frac(single_then)},
            "n": len(sched_motion)}, ex


def naive_chain(pipe: CinegenPipeline, prompt: str, seconds: float, steps: int | None,
                seed: int) -> np.ndarray:
    """The baseline users complain about: image-to-video from the last frame, 2 s at a time."""
    out = pipe(prompt, seconds=2.0, steps=steps, seed=seed).frames
    k = 1
    while len(out) < seconds * FPS:
        nxt = pipe(prompt, seconds=2.0, steps=steps, seed=seed + k, image=out[-1]).frames
        out = np.concatenate([out, nxt[1:]])
        k += 1
    return out[: int(seconds * FPS)]


def minute_metrics(frames: np.ndarray, s: SceneSpec, joints: list[int]) -> dict[str, Any]:
    s4 = dataclasses.replace(s, seconds=4.0)
    head, tail = grade(frames[: 4 * FPS], FPS, s4).objects[0], grade(frames[-4 * FPS :], FPS, s4).objects[0]
    inside = [seam_score(frames, j) for j in range(8, len(frames) - 8, 37) if j not in joints]
    return {
        "colour_ok_first_4s": head.color_ok, "colour_ok_last_4s": tail.color_ok,
        "shape_ok_first_4s": head.shape_ok, "shape_ok_last_4s": tail.shape_ok,
        "identity_held": identity(frames[: 4 * FPS]) == identity(frames[-4 * FPS :]),
        "motion_ok_last_4s": tail.motion_ok,
        "drift_delta_e_first_vs_last_5s": round(color_drift(frames, FPS, 5.0), 2),
        "seam_score_at_chunk_joints_median": med([seam_score(frames, j) for j in joints]),
        "seam_score_inside_chunks_median": med(inside),
    }


def bench_minute(pipe: CinegenPipeline, n: int, steps: int | None, seed: int) -> tuple[dict, Example]:
    rows: dict[str, list[dict[str, Any]]] = {"cinegen_windows": [], "naive_last_frame_chaining": []}
    ex: Example = ("minute", [])
    win = 1 + 4 * (pipe.window_latents - 1)
    ours_joints = list(range(win, 60 * FPS, 4 * (pipe.window_latents - OVERLAP_LATENTS)))
    naive_joints = list(range(32, 60 * FPS, 31))
    real_drift = []
    for i, s in enumerate(scenes(n, 60.0, seed + 9, motions=("bounce", "still"))):
        t0 = time.perf_counter()
        ours = pipe(describe(s), seconds=60.0, steps=steps, seed=i).frames
        t1 = time.perf_counter()
        naive = naive_chain(pipe, describe(s), 60.0, steps, i)
        rows["cinegen_windows"].append(minute_metrics(ours, s, ours_joints) | {"wall_s": round(t1 - t0, 1)})
        rows["naive_last_frame_chaining"].append(minute_metrics(naive, s, naive_joints))
        real_drift.append(color_drift(render_scene(s), FPS, 5.0))
        if i == 0:
            ex = (f"60 s: {describe(s)!r} (frames at 0, 15, 30, 45, 59 s)",
                  [("ours", ours[[0, 240, 480, 720, 959]]),
                   ("naive chaining", naive[[0, 240, 480, 720, 959]])])
    summary: dict[str, Any] = {}
    for name, rs in rows.items():
        summary[name] = {
            k: (frac([r[k] for r in rs]) if isinstance(rs[0][k], bool) else med([r[k] for r in rs]))
            for k in rs[0]
        }
    summary["real_backlot_drift_delta_e_median"] = med(real_drift)
    summary["n"] = n
    return summary, ex


# ----------------------------------------------------------------------------- picture
def picture(examples: list[Example], path: Path, cols: int = 6, size: int = 96) -> None:
    rows = []
    for title, parts in examples:
        tiles, labels = [], []
        for label, frames in parts:
            pick = np.unique(np.linspace(0, len(frames) - 1, min(cols, len(frames))).round().astype(int))
            for j, k in enumerate(pick):
                tiles.append(np.asarray(Image.fromarray(frames[k]).resize((size, size))))
                labels.append(label if j == 0 else "")
        canvas = Image.new("RGB", (max(len(tiles) * (size + 2), 7 * len(title)), size + 30), (255, 255, 255))
        d = ImageDraw.Draw(canvas)
        d.text((4, 2), title, fill=(0, 0, 0))
        for j, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
            canvas.paste(Image.fromarray(tile), (j * (size + 2), 28))
            if label:
                d.text((j * (size + 2) + 2, 15), label, fill=(40, 40, 160))
        rows.append(canvas)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows)), (255, 255, 255))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    sheet.save(path)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-mode", type=int, default=8)
    ap.add_argument("--minute-prompts", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="default: the quality's")
    ap.add_argument("--quality", default=None,
                    help="full, or a student the model ships (default: the model's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--only", default="", help="comma-separated modes to run (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--image", type=Path, default=None)
    a = ap.parse_args()
    pipe = CinegenPipeline.from_pretrained(a.model, dtype=a.dtype)
    if a.quality is not None:  # every mode's call below runs this quality
        if a.quality not in pipe.qualities:
            raise SystemExit(f"--quality {a.quality!r}: the model has {sorted(pipe.qualities)}")
        pipe.default_quality = a.quality
    ss = scenes(a.per_mode, 2.0, a.seed)
    runs: dict[str, Callable[[], tuple[dict, Example]]] = {
        "image": lambda: bench_image(pipe, ss, a.steps),
        "keyframes": lambda: bench_keyframes(pipe, ss, a.steps),
        "extend_forward": lambda: bench_extend(pipe, ss, a.steps, "forward"),
        "extend_backward": lambda: bench_extend(pipe, ss, a.steps, "backward"),
        "connect": lambda: bench_connect(pipe, ss, a.steps),
        "loop": lambda: bench_loop(pipe, ss, a.steps),
        "edit": lambda: bench_edit(pipe, ss, a.steps, (0.6, 0.85)),
        "edit_night": lambda: bench_night(pipe, ss, a.steps, 0.85),
        "remix": lambda: bench_remix(pipe, ss, a.steps),
        "still": lambda: bench_still(pipe, ss, a.steps),
        "schedule": lambda: bench_schedule(pipe, a.per_mode, a.steps, a.seed),
        "minute": lambda: bench_minute(pipe, a.minute_prompts, a.steps, a.seed),
    }
    only = [m for m in a.only.split(",") if m]
    unknown = sorted(set(only) - set(runs))
    if unknown:
        raise SystemExit(f"unknown mode(s) {unknown}; choose from {sorted(runs)}")
    report: dict[str, Any] = {"model": str(a.model), "quality": pipe.default_quality, "steps": a.steps,
                              "per_mode": a.per_mode}
    examples: list[Example] = []
    for name, run in runs.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        res, ex = run()
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        report[name] = res
        examples.append(ex)
        print(f"{name:16s} {json.dumps(res)}", flush=True)
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    if a.image:
        picture(examples, a.image)


if __name__ == "__main__":
    main()
