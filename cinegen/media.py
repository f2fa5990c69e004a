"""Video and image I/O on PyAV and Pillow.

Writes are atomic: frames go to a temporary file beside the target, which is renamed into place
only after the encoder has been flushed and closed, so a crash never leaves a file that looks
complete. Reads validate and raise `MediaError` with the reason.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
from av.video.stream import VideoStream
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_PIXELS = 64_000_000  # refuse decompression bombs beyond this


class MediaError(ValueError):
    """A video or image that cannot be read or written, with the reason."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    num_frames: int
    seconds: float


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
    os.close(fd)
    return Path(tmp)


@dataclass(frozen=True)
class AudioTrack:
    """A waveform muxed beside a video: `samples` (C, N) floats in [-1, 1], C 1 (mono) or 2 (stereo),
    at `rate` samples per second (LTX-2's vocoder: 24 kHz stereo)."""

    samples: np.ndarray
    rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2 or self.samples.shape[0] not in (1, 2) or self.samples.shape[1] == 0:
            raise MediaError(f"audio samples must be (1 or 2 channels, N > 0), got {self.samples.shape}")
        if self.rate <= 0:
            raise MediaError(f"audio rate must be positive, got {self.rate}")


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray] | np.ndarray,
    fps: int,
    *,
    crf: int = 18,
    codec: str = "libx264",
    audio: AudioTrack | None = None,
) -> Path:
    """Encode frames (each (H, W, 3) uint8 RGB) to an H.264 yuv420p MP4 that browsers play, with
    `audio` as an AAC track beside it when given.

    Width and height must be even (yuv420p); `fps` a positive integer. Returns the final path.
    """
    path = Path(path)
    if fps <= 0:
        raise MediaError(f"fps must be positive, got {fps}")
    tmp = _atomic_target(path)
    count = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream: VideoStream | None = None
            audio_stream: Any = None
            for frame in frames:
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise MediaError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
                if stream is None:  # every stream is added before the first packet (the header)
                    stream = _video_stream(container, frame, fps, codec, crf)
                    audio_stream = _audio_stream(container, audio) if audio is not None else None
                elif frame.shape[:2] != (stream.height, stream.width):
                    raise MediaError(f"frame {count} is {frame.shape[:2]}, expected "
                                     f"{(stream.height, stream.width)}")
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                                       format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise MediaError("no frames to write")
            for packet in stream.encode():  # flush: without it most frames are lost
                container.mux(packet)
            if audio is not None:
                _encode_audio(container, audio_stream, audio)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _video_stream(container: Any, first: np.ndarray, fps: int, codec: str, crf: int) -> VideoStream:
    h, w = first.shape[:2]
    if h % 2 or w % 2:
        raise MediaError(f"width and height must be even for yuv420p, got {w}x{h}")
    stream = cast(VideoStream, container.add_stream(codec, rate=fps))
    stream.width, stream.height = w, h
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"crf": str(crf), "preset": "medium", "movflags": "+faststart"}
    return stream


def _audio_stream(container: Any, audio: AudioTrack) -> Any:
    stream = container.add_stream("aac", rate=audio.rate)
    stream.codec_context.layout = "stereo" if audio.samples.shape[0] == 2 else "mono"
    stream.codec_context.time_base = Fraction(1, audio.rate)
    return stream


def _encode_audio(container: Any, stream: Any, audio: AudioTrack) -> None:
    """The whole waveform as one packed int16 frame; PyAV resamples it to the encoder's planar floats
    and cuts it into AAC's 1024-sample frames."""
    pcm = (np.clip(audio.samples, -1.0, 1.0) * 32767.0).astype(np.int16)  # (C, N)
    layout = "stereo" if pcm.shape[0] == 2 else "mono"
    packed = np.ascontiguousarray(pcm.T.reshape(1, -1))  # (1, N * C): samples interleaved
    frame = av.AudioFrame.from_ndarray(packed, format="s16", layout=layout)
    frame.sample_rate, frame.pts = audio.rate, 0
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():  # flush
        container.mux(packet)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, fps and frame count of a video, decoding it fully to count frames that really decode."""
    n = 0
    info: tuple[int, int, float] | None = None
    for frame in _decode(path):
        if info is None:
            info = (frame.width, frame.height, 0.0)
        n += 1
    assert info is not None
    fps = _fps(path)
    return VideoInfo(info[0], info[1], fps, n, n / fps)


def _fps(path: str | os.PathLike[str]) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or s.base_rate
        return float(rate) if rate else 0.0


def _decode(path: str | os.PathLike[str]) -> Iterator[av.VideoFrame]:
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such video: {p}")
    if p.stat().st_size == 0:
        raise MediaError(f"video file is empty: {p}")
    try:
        container = av.open(str(p))
    except (av.error.InvalidDataError, av.error.FFmpegError, OSError) as e:
        raise MediaError(f"cannot read {p} as a video: {e}") from e
    with container:
        if not container.streams.video:
            raise MediaError(f"{p} has no video stream")
        got = False
        try:
            for frame in container.decode(video=0):
                got = True
                yield frame
        except (av.error.InvalidDataError, av.error.FFmpegError) as e:
            if not got:
                raise MediaError(f"cannot decode {p}: {e}") from e
            raise MediaError(f"{p} is truncated or corrupt after some frames: {e}") from e
        if not got:
            raise MediaError(f"{p} holds no decodable frames (truncated?)")


def iter_video(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Yield decoded frames as (H, W, 3) uint8 RGB."""
    for frame in _decode(path):
        yield frame.to_ndarray(format="rgb24")


def read_video(path: str | os.PathLike[str], max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """Decode a whole video. Returns ((T, H, W, 3) uint8, fps)."""
    frames = []
    for f in iter_video(path):
        frames.append(f)
        if max_frames is not None and len(frames) >= max_frames:
            break
    return np.stack(frames), _fps(path)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG/WebP as (H, W, 3) uint8 RGB, refusing truncated files and decompression bombs."""
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such image: {p}")
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise MediaError(f"{p} is {im.width}x{im.height}, over the {MAX_IMAGE_PIXELS} pixel limit")
            im.load()
            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError as e:
        raise MediaError(f"{p} is not an image Pillow can read (PNG, JPEG, WebP)") from e
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise MediaError(f"cannot read image {p}: {e}") from e


def write_image(path: str | os.PathLike[str], frame: np.ndarray) -> Path:
    """Write one (H, W, 3) uint8 frame as PNG (or by the suffix), atomically."""
    path = Path(path)
    tmp = _atomic_target(path)
    try:
        Image.fromarray(frame).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
