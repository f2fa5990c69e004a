"""Prompt adherence of the shipped model, graded by the backlot oracle.

Four prompt sets, each prompt generated once (seed = its index) and graded against the scene it
was written from: single objects of seen compositions, single objects of held-out compositions
(never in training), two objects with a spatial relation, and paraphrases (wording never in the
training captions). Prints per-attribute accuracy per set, fall physics, and temporal quality of
generated vs real backlot clips; writes everything to --json.

    .venv/bin/python benchmarks/model_adherence.py [--per-set 50] [--seconds 2] [--steps 12] [--sampler unipc]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from cinegen.backlot.captions import describe, paraphrase_prompt
from cinegen.backlot.heldout import heldout_compositions
from cinegen.backlot.parse import parse_prompt
from cinegen.backlot.render import render_scene
from cinegen.backlot.scene import SceneSpec, random_scene
from cinegen.eval.oracle import Grade, grade
from cinegen.pipeline import CinegenPipeline

MODEL = Path(__file__).resolve().parent.parent / "weights" / "backlot-v1"


def prompt_sets(n: int, seconds: float, seed: int, heldout: int | None = None) -> dict[str,
                                                                                       list[tuple[str,
                                                                                                  SceneSpec]]]:
    rng = random.Random(seed)
    held = sorted(heldout_compositions())
    sets: dict[str, list[tuple[str, SceneSpec]]] = defaultdict(list)
    while len(sets["seen_single"]) < n:
        s = random_scene(rng, seconds=seconds, max_objects=1, exclude=frozenset(held))
        sets["seen_single"].append((describe(s, "short"), s))
    for i in range(n if heldout is None else heldout):
        s = random_scene(rng, seconds=seconds, max_objects=1, only=held[i % len(held)])
        sets["heldout_single"].append((describe(s, "short"), s))
    while len(sets["two_objects_relation"]) < n:
        s = random_scene(rng, seconds=seconds, max_objects=2, exclude=frozenset(held))
        if len(s.objects) == 2 and s.relation is not None:
            sets["two_objects_relation"].append((describe(s, "short"), s))
    while len(sets["paraphrased"]) < n:
        s = random_scene(rng, seconds=seconds, max_objects=1, exclude=frozenset(held))
        sets["paraphrased"].append((paraphrase_prompt(s, rng), s))
    return sets


def vae_round_trip(pipe: CinegenPipeline, frames: np.ndarray) -> np.ndarray:
    """Ground-truth frames (T, H, W, 3) uint8 through the pipeline's VAE and back (T padded to 1 + 4k)."""
    import torch

    from cinegen.pipeline.frames import frames_to_video, latents_for_frames, video_to_frames

    n = 1 + 4 * (latents_for_frames(len(frames)) - 1)
    padded = np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])
    with torch.no_grad():
        z = pipe.vae.encode_video(frames_to_video(padded, pipe.device, pipe.dtype))
        return video_to_frames(pipe.vae.decode_video(z))[: len(frames)]


def truth_scene(prompt: str, scene: SceneSpec, seed: int, source: str) -> SceneSpec:
    """The scene whose ground truth the ceiling grades: the prompt's own (`world`: the world's layout
    and sizes) or the one the planner made of the prompt for this seed (`plan`: what the model was
    asked to draw, laid out and sized by the planner). Either is graded against `scene`."""
    if source == "world":
        return scene
    return parse_prompt(prompt, seconds=scene.seconds, fps=scene.fps, width=scene.width, height=scene.height,
                        seed=seed)


def fall_ratios(g: Grade) -> list[float]:
    """Fitted gravity / the world's, for every fall the oracle could fit in a graded clip."""
    return [p.gravity_ratio for og in g.objects for p in og.physics
            if p.motion == "fall" and p.gravity_ratio is not None]


def print_ceiling(
    pipe: CinegenPipeline, sets: dict[str, list[tuple[str, SceneSpec]]], out: Path | None, source: str
) -> None:
    """The oracle on the VAE's round trip of each prompt's ground-truth clip, per set."""
    report = {}
    for name, items in sets.items():
        acc: dict[str, list[bool]] = defaultdict(list)
        temporal: dict[str, list[float]] = defaultdict(list)
        for i, (prompt, scene) in enumerate(items):
            truth = render_scene(truth_scene(prompt, scene, i, source))
            graded = grade(vae_round_trip(pipe, truth), scene.fps, scene)
            for k, v in graded.attribute_results().items():
                acc[k] += v
            temporal["flicker_median"].append(graded.flicker)
            temporal["identity_median"].append(graded.identity_consistency)
            temporal["fall_gravity_ratio_median"] += fall_ratios(graded)
        report[name] = {k: round(float(np.mean(v)), 3) for k, v in acc.items()}
        report[name].update({k: round(statistics.median(v), 4) for k, v in temporal.items() if v})
        cells = "  ".join(f"{k} {v:.2f}" for k, v in report[name].items())
        print(f"{name:22s} VAE ceiling {cells}", flush=True)
    if out:
        out.write_text(json.dumps(report, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=None, help="default: the quality's")
    ap.add_argument("--guidance", type=float, default=None, help="default: the quality's")
    ap.add_argument("--quality", default=None, help="full, or a student the model ships")
    ap.add_argument("--sampler", default=None, help="euler or unipc (default: the model's)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--sets", default="", help="comma-separated sets to run (default: all four)")
    ap.add_argument("--heldout-per-set", type=int, default=0,
                    help="prompts in heldout_single (default: --per-set)")
    ap.add_argument("--extend-prompt", choices=("true", "false"), default="true",
                    help="let the model's prompt extender rewrite prompts (a no-op for models without one)")
    ap.add_argument("--plan", choices=("true", "false"), default="true",
                    help="let the model's planner plan each prompt (plan-then-render); false: text only")
    ap.add_argument("--ceiling", action="store_true",
                    help="also grade the VAE's round trip of each prompt's ground-truth clip (what the "
                         "oracle can see through the VAE: the ceiling beside each figure)")
    ap.add_argument("--ceiling-of", choices=("world", "plan"), default="world",
                    help="the ground truth the ceiling renders: the world's scene of the prompt, or the "
                         "scene the planner made of it (its layout and sizes: what the model was asked "
                         "to draw)")
    ap.add_argument("--ceiling-only", action="store_true",
                    help="only the VAE ceiling (no generation): it depends on the VAE, not the transformer")
    ap.add_argument("--unsaid-radius", default=None, metavar="ALONE,BESIDE",
                    help="the planner's radius (frame heights) for objects of unsaid size, alone and beside "
                         "others (default: the parser's SINGLE_RADIUS, GROUP_RADIUS): how session 18 "
                         "chose them")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    if a.unsaid_radius:
        import cinegen.backlot.parse as parse

        alone, beside = (float(v) for v in a.unsaid_radius.split(","))
        parse.SINGLE_RADIUS, parse.GROUP_RADIUS = alone, beside
    extend = a.extend_prompt == "true"
    chosen = [x for x in a.sets.split(",") if x]
    pipe = CinegenPipeline.from_pretrained(a.model, dtype=a.dtype)
    report: dict[str, dict] = {}
    gen_temporal, real_temporal, vae_temporal = defaultdict(list), defaultdict(list), defaultdict(list)
    falls: list[float] = []
    denoise_s: list[float] = []
    used: dict = {}
    sets = prompt_sets(a.per_set, a.seconds, a.seed, heldout=a.heldout_per_set or a.per_set)
    unknown = sorted(set(chosen) - set(sets))
    if unknown:
        raise SystemExit(f"unknown set(s) {unknown}; choose from {sorted(sets)}")
    if a.ceiling_only:
        return print_ceiling(pipe, {k: v for k, v in sets.items() if not chosen or k in chosen}, a.json,
                             a.ceiling_of)
    for name, items in sets.items():
        if chosen and name not in chosen:
            continue
        acc: dict[str, list[bool]] = defaultdict(list)
        ceil: dict[str, list[bool]] = defaultdict(list)
        for i, (prompt, scene) in enumerate(items):
            if a.ceiling:
                truth = render_scene(truth_scene(prompt, scene, i, a.ceiling_of))
                ceiling = grade(vae_round_trip(pipe, truth), scene.fps, scene)
                for k, v in ceiling.attribute_results().items():
                    ceil[k] += v
            out = pipe(prompt, seconds=a.seconds, steps=a.steps, guidance=a.guidance, sampler=a.sampler,
                       quality=a.quality, seed=i, width=scene.width, height=scene.height,
                       extend_prompt=extend, use_plan=a.plan == "true")
            denoise_s.append(out.timings["denoise"])
            used = out.settings
            g = grade(out.frames, out.fps, scene)
            for k, v in g.attribute_results().items():
                acc[k] += v
            acc["all_checks"].append(g.passed)
            falls += fall_ratios(g)
            gen_temporal["flicker"].append(g.flicker)
            gen_temporal["identity"].append(g.identity_consistency)
            if i < 10:  # real clips of the same scenes, for the temporal comparison
                real = render_scene(scene)
                rg = grade(real, scene.fps, scene)
                real_temporal["flicker"].append(rg.flicker)
                real_temporal["identity"].append(rg.identity_consistency)
                vg = grade(vae_round_trip(pipe, real), scene.fps, scene)  # what the VAE alone does to them
                vae_temporal["flicker"].append(vg.flicker)
                vae_temporal["identity"].append(vg.identity_consistency)
        report[name] = {k: {"accuracy": round(float(np.mean(v)), 3), "n": len(v)} for k, v in acc.items()}
        print(f"{name:22s} " + "  ".join(f"{k} {r['accuracy']:.2f} (n={r['n']})" for k,
                                         r in report[name].items()))
        if a.ceiling:
            report[name + "_vae_ceiling"] = {k: {"accuracy": round(float(np.mean(v)), 3), "n": len(v)}
                                             for k, v in ceil.items()}
            print(f"{'  VAE ceiling':22s} " + "  ".join(f"{k} {r['accuracy']:.2f}"
                                                       for k, r in report[name + "_vae_ceiling"].items()))
    report["physics"] = {"fall_gravity_ratio_median": round(statistics.median(falls), 3) if falls else None,
                         "n": len(falls)}
    report["temporal"] = {
        k: {"generated_median": round(statistics.median(gen_temporal[k]), 4),
            "real_median": round(statistics.median(real_temporal[k]), 4),
            "vae_round_trip_median": round(statistics.median(vae_temporal[k]), 4)}
        for k in gen_temporal
    }
    report["settings"] = {"model": str(a.model), "quality": used.get("quality"), "steps": used.get("steps"),
                          "guidance": used.get("guidance"), "sampler": used.get("sampler"),
                          "seconds": a.seconds,
                          "denoise_s_median": round(statistics.median(denoise_s), 3) if denoise_s else None,
                          "dtype": a.dtype,
                          "prompt_extender": (pipe.prompt_extender.name if (extend and pipe.prompt_extender)
                                              else None),
                          "planner": pipe.planner.name if (a.plan == "true" and pipe.planner) else None}
    print("settings", report["settings"])
    print("physics", report["physics"])
    print("temporal (generated vs real backlot vs the VAE's round trip of it)", report["temporal"])
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
