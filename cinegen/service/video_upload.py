"""A user's own footage as the source of an extension or an edit (the openai SDK's `videos.extend`
and `videos.edit` send `video` as a file), checked as strictly as an uploaded image.

`inspect_clip` refuses, with a 4xx naming `video`: an empty or oversized upload (413 before this
runs), anything PyAV cannot open, a container other than MP4/MOV/WebM/Matroska, no video stream or
several, a codec outside `VIDEO_CODECS`, a frame size the service does not make (the source of an
extension or edit is at a served size, as a generated one is), a frame rate outside 1..max_fps,
more frames than `max_seconds` at that rate, a clip shorter than one second, and any decode error
or missing frame: every frame is decoded. The accepted clip is trimmed to whole seconds and
re-encoded (H.264) into the job's inputs by `save_clip`, so workers read only what we wrote.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from cinegen.service.errors import ApiError
from cinegen.service.settings import Settings

VIDEO_CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4")
CONTAINERS = ("mp4", "mov", "webm", "matroska")


@dataclass(frozen=True)
class Clip:
    """A decoded, validated upload: `frames` (T, H, W, 3) uint8, trimmed to `seconds` * `fps`."""

    frames: np.ndarray
    fps: int
    seconds: int
    size: str  # "WxH"
    sha256: str  # of the bytes as uploaded (part of an idempotent request's identity)


def _refuse(message: str, code: str = "invalid_video") -> ApiError:
    return ApiError(400, code, message, "video")


def _decode_all(container: Any, stream: Any, size: tuple[int, int], max_frames: int) -> list[np.ndarray]:
    """Every frame of `stream`, refusing a size change, too many frames or a decode error."""
    import av

    frames: list[np.ndarray] = []
    try:
        for frame in container.decode(stream):
            if (frame.width, frame.height) != size:
                raise _refuse(f"video changes size mid-stream ({frame.width}x{frame.height})")
            if len(frames) >= max_frames:
                raise _refuse(f"video is longer than the {max_frames}-frame limit")
            frames.append(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as e:
        raise _refuse(f"video cannot be decoded: {e}") from None
    declared = int(stream.frames or 0)
    if declared and len(frames) < declared:
        raise _refuse(f"video is truncated: {len(frames)} of {declared} frames decode")
    return frames


def inspect_clip(data: bytes, settings: Settings, sizes: tuple[str, ...]) -> Clip:
    """Open, check and decode every frame of an uploaded clip; an ApiError (400) for anything else."""
    import av

    if not data:
        raise _refuse("video is empty")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as e:
        raise _refuse(f"video is not a readable video file: {e}") from None
    with container:
        if not set(container.format.name.split(",")) & set(CONTAINERS):
            raise _refuse(f"video must be MP4, MOV, WebM or Matroska, got {container.format.name}")
        if len(container.streams.video) != 1:
            raise _refuse(f"video must have one video stream, it has {len(container.streams.video)}")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # a stream whose codec parameters are missing (a cut file)
            raise _refuse("video stream has no codec parameters (truncated or corrupt)")
        codec = stream.codec_context.name
        if codec not in VIDEO_CODECS:
            raise _refuse(f"video codec {codec} is not accepted; use one of {', '.join(VIDEO_CODECS)}",
                          "unsupported_video_codec")
        size = (stream.codec_context.width, stream.codec_context.height)
        if f"{size[0]}x{size[1]}" not in sizes:
            raise _refuse(f"video is {size[0]}x{size[1]}; a source video must be one of {', '.join(sizes)}",
                          "unsupported_video_size")
        rate = Fraction(stream.average_rate or stream.guessed_rate or 0)
        fps = round(rate)
        if not 1 <= fps <= settings.max_fps:
            raise _refuse(f"video runs at {float(rate):g} fps; the limit is 1..{settings.max_fps}")
        frames = _decode_all(container, stream, size, settings.max_seconds * fps + fps)
    seconds = len(frames) // fps
    if seconds < settings.min_seconds:
        raise _refuse(f"video is {len(frames)} frames at {fps} fps; it must last at least "
                      f"{settings.min_seconds} s")
    if seconds > settings.max_seconds:
        raise _refuse(f"video is {seconds} s; the limit is {settings.max_seconds} s")
    return Clip(np.stack(frames[: seconds * fps]), fps, seconds, f"{size[0]}x{size[1]}",
                hashlib.sha256(data).hexdigest())


def save_clip(clip: Clip, path: Path) -> Path:
    """Re-encode the clip (H.264, private file mode) where the job's worker will read it."""
    from cinegen.media import write_video

    return write_video(path, clip.frames, clip.fps)
