"""Exports of a generated storyboard: reel MP4, editorial timelines, and a printable sheet.

Timelines are built once as an OpenTimelineIO `Timeline` and written through OTIO's adapters:
`.otio` (Resolve imports it natively), FCP7 XML (Premiere, Resolve) and CMX3600 EDL (Avid,
everyone). Each clip references its shot file, carries the prompt and settings as metadata under
`"cinegen"`, and a marker at its first frame names the prompt (EDLs write it as `* LOC:`).

Timing. A shot of `n` frames is its own media. A dissolve of `d` frames into shot B is centred on
the cut: `in_offset = d // 2` frames of B before the cut and `out_offset = d - d // 2` of A after
it, so A's clip ends `out_offset` frames before its media does and B's begins `in_offset` frames
in (the untouched media are the transition's handles). With only cuts, each clip is its whole
shot. The reel MP4 renders the same cut, so it runs `sum(n) - sum(d)` frames.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
from PIL import Image, ImageDraw, ImageFont

from cinegen.media import iter_video, probe_video, write_image, write_video
from cinegen.studio.storyboard import Shot, Storyboard, StoryboardError

TIMELINE_START_HOURS = 1  # editorial convention: record timecode starts at 01:00:00:00
SHEET_FRAMES = 3  # frames shown per shot on the sheet: first, middle, last


class ExportError(StoryboardError):
    """An export that cannot be written (shots unfinished, media missing or mismatched)."""


@dataclass(frozen=True)
class Exports:
    """Paths of everything `export_all` wrote."""

    reel: Path
    otio: Path
    fcp7: Path
    edl: Path
    sheet_pdf: Path
    sheet_png: Path
    bundle: Path

    def as_dict(self) -> dict[str, Path]:
        return {"reel": self.reel, "otio": self.otio, "fcp7": self.fcp7, "edl": self.edl,
                "sheet_pdf": self.sheet_pdf, "sheet_png": self.sheet_png, "bundle": self.bundle}


# ----------------------------------------------------------------------------- timing
@dataclass(frozen=True)
class ClipTiming:
    """Frames of one shot in the cut: its media length and the part the timeline shows."""

    frames: int  # media length
    start: int  # first shown frame (the incoming dissolve's in_offset)
    duration: int  # shown frames
    dissolve_in: int  # frames of the incoming dissolve (0 for a cut)


def shot_frames(board: Storyboard, shot: Shot) -> int:
    return max(1, round(shot.seconds * board.fps))


def cut_timings(board: Storyboard, media_frames: list[int] | None = None) -> list[ClipTiming]:
    """Per-shot timing of the cut.

    `media_frames` are the lengths of the real files: a file longer than its shot (a generator that
    works in whole seconds, or a shot retimed shorter) is trimmed to the shot, the rest left as handle;
    a shorter one plays whole.
    """
    want = [shot_frames(board, s) for s in board.shots]
    media = media_frames or want
    n = [min(w, m) for w, m in zip(want, media, strict=True)]
    d = [0] * len(n)
    for i, secs in board.dissolves():
        d[i] = max(1, round(secs * board.fps))
        if d[i] >= min(n[i - 1], n[i]):
            raise ExportError(f"shot {board.shots[i].id!r}: a {d[i]}-frame dissolve needs both shots longer "
                              "than it")
    for i in range(len(n)):
        if d[i] + (d[i + 1] if i + 1 < len(n) else 0) > n[i]:
            raise ExportError(f"shot {board.shots[i].id!r} ({n[i]} frames) is too short for the dissolves "
                              "on both its ends")
    out = []
    for i in range(len(n)):
        start = d[i] // 2
        tail = d[i + 1] - d[i + 1] // 2 if i + 1 < len(n) else 0
        out.append(ClipTiming(frames=media[i], start=start, duration=n[i] - start - tail, dissolve_in=d[i]))
    return out


def _media_frames(board: Storyboard) -> list[int]:
    """Frame counts of the shot files, checked against the storyboard's size and rate."""
    board.require_rendered()
    counts = []
    for s in board.shots:
        info = probe_video(s.path or "")
        if (info.width, info.height) != (board.width, board.height):
            raise ExportError(
                f"shot {s.id!r} is {info.width}x{info.height}, the storyboard is "
                f"{board.width}x{board.height}; regenerate it"
            )
        if abs(info.fps - board.fps) > 0.01:
            raise ExportError(f"shot {s.id!r} runs at {info.fps:g} fps, the storyboard at {board.fps}; "
                              "regenerate it")
        counts.append(info.num_frames)
    return counts


# ----------------------------------------------------------------------------- timeline
def _reel_name(shot: Shot, index: int, used: set[str]) -> str:
    """An EDL reel name (8 characters at most, letters and digits) unique in the timeline."""
    name = re.sub(r"[^A-Za-z0-9]", "", shot.id).upper()[:8] or f"SH{index + 1:03d}"
    if name in used:
        name = f"SH{index + 1:03d}"
    used.add(name)
    return name


def media_url(path: str | Path, relative_to: Path | None = None) -> str:
    """A media reference: an absolute `file://` URL (what Resolve and Premiere relink best), or a
    POSIX path relative to `relative_to` for a portable folder."""
    p = Path(path).resolve()
    if relative_to is not None:
        try:
            return p.relative_to(relative_to.resolve()).as_posix()
        except ValueError:
            pass
    return p.as_uri()


def build_timeline(board: Storyboard, *, relative_to: Path | None = None) -> otio.schema.Timeline:
    """One video track: a clip per shot (in order), dissolves between them, prompts as metadata
    and markers."""
    frames = _media_frames(board)
    timings = cut_timings(board, frames)
    rate = float(board.fps)
    rt = lambda f: otio.opentime.RationalTime(f, rate)  # noqa: E731
    timeline = otio.schema.Timeline(name=board.title)
    timeline.global_start_time = rt(TIMELINE_START_HOURS * 3600 * board.fps)
    timeline.metadata["cinegen"] = {"style": board.style, "seed": board.seed,
                                    "characters": [c.to_dict() for c in board.characters]}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    used: set[str] = set()
    for i, (shot, t) in enumerate(zip(board.shots, timings, strict=True)):
        if t.dissolve_in:
            track.append(otio.schema.Transition(
                name=f"Dissolve into {shot.id}",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=rt(t.dissolve_in // 2),
                out_offset=rt(t.dissolve_in - t.dissolve_in // 2),
            ))
        path = Path(shot.path or "")
        ref = otio.schema.ExternalReference(
            target_url=media_url(path, relative_to),
            available_range=otio.opentime.TimeRange(rt(0), rt(t.frames)),
        )
        ref.name = path.name
        clip = otio.schema.Clip(
            name=f"{i + 1:02d} {shot.id}",
            media_reference=ref,
            source_range=otio.opentime.TimeRange(rt(t.start), rt(t.duration)),
        )
        clip.metadata["cinegen"] = {
            "shot_id": shot.id, "prompt": shot.prompt, "full_prompt": board.prompt_for(shot),
            "seconds": shot.seconds, "camera": shot.camera, "transition": shot.transition,
            "seed": board.seed_for(shot), "video_id": shot.video_id, "image": shot.image,
        }
        clip.metadata["cmx_3600"] = {"reel": _reel_name(shot, i, used)}
        clip.markers.append(otio.schema.Marker(
            name=_one_line(shot.prompt or f"image: {Path(shot.image or '').name}", 120),
            marked_range=otio.opentime.TimeRange(rt(t.start), rt(1)),
            color=otio.schema.MarkerColor.GREEN,
            metadata={"cinegen": {"prompt": shot.prompt, "seconds": shot.seconds, "camera": shot.camera}},
        ))
        track.append(clip)
    timeline.tracks.append(track)
    return timeline


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_timeline(board: Storyboard, path: str | Path, adapter: str, relative_to: Path | None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    otio.adapters.write_to_file(build_timeline(board, relative_to=relative_to), str(p), adapter_name=adapter)
    return p


def write_otio(board: Storyboard, path: str | Path, *, relative_to: Path | None = None) -> Path:
    return _write_timeline(board, path, "otio_json", relative_to)


def write_fcp7(board: Storyboard, path: str | Path, *, relative_to: Path | None = None) -> Path:
    """FCP7 XML (xmeml), which Premiere and Resolve import; media as absolute file URLs."""
    return _write_timeline(board, path, "fcp_xml", relative_to)


def write_edl(board: Storyboard, path: str | Path, *, relative_to: Path | None = None) -> Path:
    """CMX3600 EDL (Avid style `* FROM CLIP:` comments); the EDL's text is ASCII, so the prompt
    markers are transliterated."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    timeline = build_timeline(board, relative_to=relative_to)
    for clip in timeline.find_clips():
        for m in clip.markers:
            m.name = m.name.encode("ascii", "replace").decode().replace("?", "-")
    text = otio.adapters.write_to_string(timeline, adapter_name="cmx_3600", rate=float(board.fps))
    p.write_text(text, encoding="ascii", errors="replace")
    return p


# ----------------------------------------------------------------------------- reel
def iter_reel(board: Storyboard) -> Iterator[np.ndarray]:
    """Frames of the cut in order, (H, W, 3) uint8, with dissolves mixed linearly."""
    timings = cut_timings(board, _media_frames(board))
    tail: list[np.ndarray] = []  # the last d frames of the previous shot, for an incoming dissolve
    for i, (shot, t) in enumerate(zip(board.shots, timings, strict=True)):
        d_out = timings[i + 1].dissolve_in if i + 1 < len(timings) else 0
        used = t.start + t.duration + (d_out - d_out // 2)  # frames of this shot the cut shows or mixes
        for k, frame in enumerate(iter_video(shot.path or "")):
            if k >= used:
                break
            if k < t.dissolve_in:  # mix with the held tail of the previous shot
                a = (k + 1) / (t.dissolve_in + 1)
                mixed = tail[k].astype(np.float32) * (1 - a) + frame.astype(np.float32) * a
                yield np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
            elif k >= used - d_out:
                tail.append(frame)
            else:
                yield frame
        if i + 1 < len(timings):
            tail = tail[len(tail) - d_out:] if d_out else []


def write_reel(board: Storyboard, path: str | Path, *, sign: bool = True, trust: Any = None) -> Path:
    """The whole cut as one H.264 MP4 that browsers and editors play, signed with C2PA naming every
    shot file as an ingredient (the shots' own watermarks survive in its frames)."""
    path = Path(path)
    if not sign:
        return write_video(path, iter_reel(board), fps=board.fps)
    import os
    import tempfile

    from cinegen.trust.publish import TrustSettings, sign_composite

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".unsigned.mp4", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_video(tmp, iter_reel(board), fps=board.fps)
        ts = trust  # the service passes its own signer settings
        if ts is None:
            ts = TrustSettings.for_data_dir()
        shots = tuple(Path(s.path) for s in board.shots if s.path)
        return sign_composite(tmp, path, title=board.title, ingredients=shots, settings=ts,
                              details={"shots": [s.id for s in board.shots], "fps": board.fps})
    finally:
        tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- sheet
def shot_stills(path: str | Path, count: int = SHEET_FRAMES) -> list[np.ndarray]:
    """`count` evenly spaced frames (first … last) of a video, (H, W, 3) uint8 each."""
    frames = list(iter_video(path))
    idx = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in idx]


def _sheet_rows(board: Storyboard) -> list[tuple[Shot, list[np.ndarray]]]:
    board.require_rendered()
    return [(s, shot_stills(s.path or "")) for s in board.shots]


def _shot_caption(board: Storyboard, i: int, shot: Shot) -> tuple[str, str]:
    head = f"{i + 1}. {shot.id}  ·  {shot.seconds:g} s  ·  {shot.camera.replace('_', ' ')}"
    if i > 0:
        fade = f" {shot.transition_seconds:g} s" if shot.transition == "dissolve" else ""
        head += f"  ·  {shot.transition}" + fade
    body = shot.prompt or f"(image) {Path(shot.image or '').name}"
    return head, body


def _board_lines(board: Storyboard) -> list[str]:
    lines = [f"{len(board.shots)} shots  ·  {board.seconds:.2f} s  ·  {board.width}x{board.height} @ "
             f"{board.fps} fps  ·  seed {board.seed}"]
    if board.style:
        lines.append(f"Style: {board.style}")
    if board.characters:
        lines.append("Characters: " + "; ".join(f"{c.name}: {c.description}" if c.description else c.name
                                                 for c in board.characters))
    return lines


def write_sheet_png(board: Storyboard, path: str | Path, *, width: int = 1600) -> Path:
    """A storyboard sheet as one PNG: per shot, its frames beside its prompt and duration."""
    rows = _sheet_rows(board)
    margin, gap = 40, 16
    text_w = 520
    thumb_w = (width - 2 * margin - text_w - gap * SHEET_FRAMES) // SHEET_FRAMES
    thumb_h = round(thumb_w * board.height / board.width)
    row_h = max(thumb_h, 150) + 24
    font = ImageFont.load_default(size=20)
    small = ImageFont.load_default(size=17)
    title = ImageFont.load_default(size=34)
    head_lines = _board_lines(board)
    header_h = 80 + 28 * len(head_lines) + 24
    height = header_h + row_h * len(rows) + margin
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((margin, margin - 8), board.title, fill="black", font=title)
    for k, line in enumerate(head_lines):
        draw.text((margin, 80 + 28 * k), _one_line(line, 130), fill=(70, 70, 70), font=small)
    y = header_h
    for i, (shot, stills) in enumerate(rows):
        draw.line((margin, y - 12, width - margin, y - 12), fill=(210, 210, 210), width=1)
        x = margin
        for still in stills:
            im = Image.fromarray(still).resize((thumb_w, thumb_h), Image.Resampling.LANCZOS)
            sheet.paste(im, (x, y))
            draw.rectangle((x, y, x + thumb_w - 1, y + thumb_h - 1), outline=(40, 40, 40))
            x += thumb_w + gap
        head, body = _shot_caption(board, i, shot)
        draw.text((x, y), head, fill="black", font=font)
        for k, line in enumerate(textwrap.wrap(body, 46)[:6]):
            draw.text((x, y + 32 + 23 * k), line, fill=(40, 40, 40), font=small)
        y += row_h
    return write_image(path, np.asarray(sheet))


def write_sheet_pdf(board: Storyboard, path: str | Path) -> Path:
    """A printable storyboard sheet (A4 landscape pages): frames beside each shot's prompt and duration."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.utils import ImageReader, simpleSplit
    from reportlab.pdfgen import canvas

    rows = _sheet_rows(board)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.part")
    page_w, page_h = landscape(A4)
    margin, gap, text_w = 36.0, 8.0, 250.0
    thumb_w = (page_w - 2 * margin - text_w - gap * SHEET_FRAMES) / SHEET_FRAMES
    thumb_h = thumb_w * board.height / board.width
    row_h = max(thumb_h, 70.0) + 16
    c = canvas.Canvas(str(tmp), pagesize=(page_w, page_h))
    c.setTitle(board.title)
    c.setAuthor("cinegen studio")

    def header(first: bool) -> float:
        y = page_h - margin - 16
        c.setFont("Helvetica-Bold", 18 if first else 12)
        c.drawString(margin, y, board.title if first else f"{board.title} (continued)")
        y -= 18
        if first:
            c.setFont("Helvetica", 9)
            for line in _board_lines(board):
                for part in simpleSplit(line, "Helvetica", 9, page_w - 2 * margin):
                    c.drawString(margin, y, part)
                    y -= 12
        return y - 8

    y = header(True)
    for i, (shot, stills) in enumerate(rows):
        if y - row_h < margin:
            c.showPage()
            y = header(False)
        top = y
        x = margin
        for still in stills:
            c.drawImage(ImageReader(Image.fromarray(still)), x, top - thumb_h, thumb_w, thumb_h)
            c.rect(x, top - thumb_h, thumb_w, thumb_h, stroke=1, fill=0)
            x += thumb_w + gap
        head, body = _shot_caption(board, i, shot)
        c.setFont("Helvetica-Bold", 9)
        c.drawString(x, top - 9, head.replace("·", "-"))
        c.setFont("Helvetica", 9)
        for k, line in enumerate(simpleSplit(body, "Helvetica", 9, text_w)[:6]):
            c.drawString(x, top - 23 - 11 * k, line)
        y -= row_h
    c.save()
    tmp.replace(p)
    return p


# ----------------------------------------------------------------------------- a portable bundle
def write_bundle(board: Storyboard, path: str | Path, *, stem: str = "storyboard") -> Path:
    """A zip to hand to an editor on another machine: `shots/`, the reel, the sheet, and the three
    timelines referencing `shots/<file>` by relative path (unzip, then import or relink)."""
    import shutil
    import tempfile
    import zipfile

    board.require_rendered()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=p.parent) as tmp:
        root = Path(tmp) / (re.sub(r"[^A-Za-z0-9_-]+", "-", board.title).strip("-")[:60] or stem)
        (root / "shots").mkdir(parents=True)
        local = []
        for s in board.shots:
            dst = root / "shots" / Path(s.path or "").name
            shutil.copyfile(s.path or "", dst)
            local.append(s.replace(path=str(dst)))
        bundled = board.replace(shots=tuple(local))
        write_otio(bundled, root / f"{stem}.otio", relative_to=root)
        write_fcp7(bundled, root / f"{stem}.xml", relative_to=root)
        write_edl(bundled, root / f"{stem}.edl", relative_to=root)
        write_reel(bundled, root / "reel.mp4")
        write_sheet_pdf(bundled, root / "sheet.pdf")
        part = p.with_name(f".{p.name}.part")
        with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as z:  # MP4 and PDF are compressed already
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(root.parent).as_posix())
        part.replace(p)
    return p


# ----------------------------------------------------------------------------- everything
def export_all(board: Storyboard, out_dir: str | Path, *, stem: str = "storyboard",
               trust: Any = None) -> Exports:
    """Write the reel, the three timelines, the sheet and the bundle into `out_dir`; raise before
    writing anything if a shot is unfinished."""
    board.require_rendered()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return Exports(
        reel=write_reel(board, out / "reel.mp4", trust=trust),
        otio=write_otio(board, out / f"{stem}.otio"),
        fcp7=write_fcp7(board, out / f"{stem}.xml"),
        edl=write_edl(board, out / f"{stem}.edl"),
        sheet_pdf=write_sheet_pdf(board, out / "sheet.pdf"),
        sheet_png=write_sheet_png(board, out / "sheet.png"),
        bundle=write_bundle(board, out / f"{stem}-bundle.zip", stem=stem),
    )
