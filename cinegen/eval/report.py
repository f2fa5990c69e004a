"""Batch grading: many (video, prompt or scene) items, aggregated per attribute, as JSON and markdown.

A manifest lists the items, as a JSON list or JSON lines, each an object with
  "video":  path to the clip (relative to the manifest's folder),
  "prompt": the text it should show, or "scene": a scene dict or a path to a scene JSON file,
  "group":  optional label to aggregate by (e.g. "seen" / "heldout"), and optional "id".
A folder plus a prompt list works too: one line per video, either "file.mp4<TAB>prompt" or just
the prompt, matched to the folder's videos in name order.

Unreadable videos and unparseable prompts do not stop the batch: they are recorded as errors, and
count as failures of every attribute they would have been graded on (`errors` in the report).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cinegen.backlot.scene import SceneError, SceneSpec
from cinegen.backlot.vocab import MAX_SECONDS
from cinegen.eval.oracle import Grade, grade
from cinegen.media import MediaError, read_video

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi")


@dataclass(frozen=True)
class Item:
    video: Path
    prompt: str | None = None
    scene: SceneSpec | None = None
    group: str = "all"
    id: str = ""


def scene_for_prompt(prompt: str, num_frames: int, fps: float) -> SceneSpec:
    """Parse a prompt into the scene a clip of `num_frames` at `fps` should show."""
    from cinegen.backlot.parse import parse_prompt

    seconds = min(max(num_frames / fps, 1.0 / max(fps, 1.0)), MAX_SECONDS)
    return parse_prompt(prompt, seconds=seconds, fps=int(min(max(round(fps), 1), 120)))


def grade_video(path: str | os.PathLike[str], *, prompt: str | None = None,
                scene: SceneSpec | None = None) -> Grade:
    """Read a video and grade it against a prompt or a scene (exactly one). Raises MediaError,
    PromptError or SceneError (all ValueErrors) with a one-line reason."""
    if (prompt is None) == (scene is None):
        raise ValueError("give exactly one of prompt or scene")
    frames, fps = read_clip(path)
    if scene is None:
        assert prompt is not None
        scene = scene_for_prompt(prompt, len(frames), fps)
    return grade(frames, fps, scene)


def read_clip(path: str | os.PathLike[str]) -> tuple[np.ndarray, float]:
    """`media.read_video`, saying so when an unreadable file is a truncated MP4."""
    try:
        frames, fps = read_video(path)
    except MediaError as e:
        cut = mp4_truncation(path)
        if cut is not None:
            raise MediaError(f"{path} is a truncated MP4 ({cut}); it cannot be graded") from e
        raise
    if not fps > 0:
        raise MediaError(f"{path} has no usable frame rate")
    return frames, fps


def mp4_truncation(path: str | os.PathLike[str]) -> str | None:
    """If `path` is an MP4/MOV whose top-level boxes run past the end of the file, say where."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1 and pos + 16 <= len(data):
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:  # the last box runs to the end of the file
            return None
        if size < 8:
            return f"malformed box at byte {pos}"
        if pos + size > len(data):
            return f"its '{kind}' box needs {pos + size} bytes, the file has {len(data)}"
        pos += size
    return None


def _load_scene(value: Any, base: Path) -> SceneSpec:
    if isinstance(value, str):
        p = base / value
        try:
            value = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SceneError(f"cannot read scene file {p}: {e}") from e
    if not isinstance(value, dict):
        raise SceneError(f"a scene must be a JSON object, got {type(value).__name__}")
    return SceneSpec.from_dict(value)


def load_manifest(path: str | os.PathLike[str]) -> list[Item]:
    """Items of a JSON or JSON-lines manifest (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"cannot read manifest {p}: {e}") from e
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise ValueError(f"manifest {p} is neither JSON nor JSON lines: {e}") from e
    items = []
    for k, row in enumerate(rows):
        if not isinstance(row, dict) or "video" not in row:
            raise ValueError(f"manifest {p} item {k}: expected an object with a 'video' key")
        unknown = set(row) - {"video", "prompt", "scene", "group", "id"}
        if unknown:
            raise ValueError(f"manifest {p} item {k}: unknown keys {sorted(unknown)}")
        if ("prompt" in row) == ("scene" in row):
            raise ValueError(f"manifest {p} item {k}: give exactly one of 'prompt' or 'scene'")
        scene = _load_scene(row["scene"], p.parent) if "scene" in row else None
        items.append(
            Item(
                video=p.parent / row["video"],
                prompt=row.get("prompt"),
                scene=scene,
                group=str(row.get("group", "all")),
                id=str(row.get("id", row["video"])),
            )
        )
    return items


def folder_items(folder: str | os.PathLike[str], prompts: str | os.PathLike[str]) -> list[Item]:
    """Items of a folder of videos and a prompt list (see the module docstring)."""
    d, pf = Path(folder), Path(prompts)
    if not d.is_dir():
        raise ValueError(f"{d} is not a directory")
    try:
        lines = [ln for ln in pf.read_text().splitlines() if ln.strip()]
    except OSError as e:
        raise ValueError(f"cannot read prompt list {pf}: {e}") from e
    if lines and all("\t" in ln for ln in lines):
        pairs = [ln.split("\t", 1) for ln in lines]
        return [Item(video=d / name.strip(), prompt=text.strip(), id=name.strip()) for name, text in pairs]
    videos = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(videos) != len(lines):
        raise ValueError(f"{d} holds {len(videos)} videos but {pf} lists {len(lines)} prompts; use "
                         "'file<TAB>prompt' lines")
    return [Item(video=v, prompt=text.strip(), id=v.name) for v, text in zip(videos, lines, strict=True)]


# ----------------------------------------------------------------------------- aggregation
@dataclass
class Tally:
    passed: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.passed += int(ok)
        self.total += 1

    @property
    def rate(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass
class BatchReport:
    """Per-item results and per-attribute aggregates, overall and per group."""

    items: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, dict[str, Tally]] = field(default_factory=dict)  # group -> attribute -> tally
    adherence: dict[str, list[float]] = field(default_factory=dict)  # group -> scores
    errors: int = 0

    def _tally(self, group: str, attribute: str) -> Tally:
        return self.attributes.setdefault(group, {}).setdefault(attribute, Tally())

    def add(self, item: Item, g: Grade | None, error: str | None = None) -> None:
        groups = ["all"] if item.group == "all" else ["all", item.group]
        row: dict[str, Any] = {"id": item.id, "video": str(item.video), "group": item.group}
        if g is None:
            self.errors += 1
            row["error"] = error
            scene = item.scene
            for grp in groups:
                self._tally(grp, "clip").add(False)
                self.adherence.setdefault(grp, []).append(0.0)
                if scene is not None:  # a known scene: count each attribute it asks for as failed
                    for o in scene.objects:
                        for a in ("color", "shape", "motion", *(["then"] if o.then else [])):
                            self._tally(grp, a).add(False)
        else:
            row.update({"passed": g.passed, "adherence": round(g.adherence, 4), "checks": g.checks})
            row["temporal"] = {"flicker": round(g.flicker, 4),
                               "identity_consistency": round(g.identity_consistency, 4),
                               "color_drift": round(g.color_drift, 4)}
            for grp in groups:
                self._tally(grp, "clip").add(g.passed)
                self.adherence.setdefault(grp, []).append(g.adherence)
                for a, results in g.attribute_results().items():
                    for ok in results:
                        self._tally(grp, a).add(ok)
                self._tally(grp, "temporal").add(g.temporal_ok)
        self.items.append(row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": len(self.items),
            "errors": self.errors,
            "groups": {
                grp: {
                    "adherence": sum(self.adherence.get(grp, [])) / max(len(self.adherence.get(grp, [])), 1),
                    "attributes": {a: {"passed": t.passed, "total": t.total, "rate": t.rate} for a,
                                   t in sorted(tallies.items())},
                }
                for grp, tallies in self.attributes.items()
            },
            "results": self.items,
        }

    def to_markdown(self) -> str:
        d = self.to_dict()
        groups = list(d["groups"])
        attrs = sorted({a for g in d["groups"].values() for a in g["attributes"]}, key=_attr_order)
        lines = ["# Oracle report", "", f"{d['items']} clips, {d['errors']} unreadable or ungradable.", ""]
        lines.append("| attribute | " + " | ".join(groups) + " |")
        lines.append("|---|" + "---|" * len(groups))
        for a in attrs:
            cells = []
            for grp in groups:
                t = d["groups"][grp]["attributes"].get(a)
                cells.append("–" if t is None or not t["total"] else f"{100 * t['rate']:.1f}% "
                             f"({t['passed']}/{t['total']})")
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
        means = " | ".join(f"{d['groups'][g]['adherence']:.3f}" for g in groups)
        lines.append("| adherence (mean) | " + means + " |")
        failed = [r for r in self.items if r.get("error") or not r.get("passed")]
        if failed:
            lines += ["", "## Failed clips", "", "| clip | why |", "|---|---|"]
            for r in failed[:200]:
                why = r.get("error") or ", ".join(k for k, v in r["checks"].items() if not v)
                lines.append(f"| {r['id']} | {why} |")
        return "\n".join(lines) + "\n"


_ORDER = ["clip", "color", "shape", "motion", "then", "relation", "camera", "physics", "permanence",
          "temporal"]


def _attr_order(a: str) -> int:
    return _ORDER.index(a) if a in _ORDER else len(_ORDER)


def grade_batch(items: Iterable[Item], progress: Callable[[int], None] | None = None) -> BatchReport:
    """Grade every item; errors are recorded, not raised."""
    report = BatchReport()
    for k, item in enumerate(items):
        try:
            g = grade_video(item.video, prompt=item.prompt, scene=item.scene)
            report.add(item, g)
        except ValueError as e:  # MediaError, PromptError, SceneError
            report.add(item, None, str(e))
        if progress is not None:
            progress(k + 1)
    return report


def write_report(report: BatchReport, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write report.json and report.md into `out_dir`; returns their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    j, m = d / "report.json", d / "report.md"
    j.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    m.write_text(report.to_markdown())
    return j, m
