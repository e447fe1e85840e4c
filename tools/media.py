"""Safe audio and video input, decoded with PyAV (FFmpeg's libraries, no ffmpeg binary needed).

Every file is checked before anything expensive runs: it must exist, be non-empty, stay under the
size limit, open as a media container, have the stream the caller needs, and stay under the duration
limit. Anything else raises :class:`~facelens.tools.errors.MediaError` with a message that says
what to do. Limits come from the environment at call time, so tests and deployments can tighten
them: ``FACELENS_MAX_MEDIA_BYTES`` (default 2 GiB) and ``FACELENS_MAX_MEDIA_SECONDS`` (default 4 h).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelens.tools.errors import MediaError

log = logging.getLogger(__name__)

#: the sample rate every audio consumer here works at (Whisper's)
SAMPLE_RATE = 16_000


def max_bytes() -> int:
    """The largest media file accepted, in bytes (FACELENS_MAX_MEDIA_BYTES, default 2 GiB)."""
    return int(os.environ.get("FACELENS_MAX_MEDIA_BYTES", 2 * 1024**3))


def max_seconds() -> float:
    """The longest media accepted, in seconds (FACELENS_MAX_MEDIA_SECONDS, default 4 hours)."""
    return float(os.environ.get("FACELENS_MAX_MEDIA_SECONDS", 4 * 3600))


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds, read from its container header."""

    path: str  # the file as given
    size: int  # bytes
    container: str  # container format name as FFmpeg reports it, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float  # seconds (the longest stream)
    has_audio: bool
    has_video: bool
    sample_rate: int | None  # of the first audio stream
    width: int | None  # of the first video stream
    height: int | None
    fps: float | None  # average frame rate of the first video stream


@dataclass(frozen=True)
class Frame:
    """One decoded video frame."""

    time: float  # presentation time in seconds from the start
    rgb: np.ndarray  # H x W x 3 uint8


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise MediaError(f"Media file not found: {p}.", hint="Check the path.")
    if not p.is_file():
        raise MediaError(f"Not a file: {p}.")
    size = p.stat().st_size
    if size == 0:
        raise MediaError(f"The media file {p} is empty (0 bytes).", hint="Record or export it again.")
    if size > max_bytes():
        raise MediaError(
            f"The media file {p} is {size / 1e6:.0f} MB, over the {max_bytes() / 1e6:.0f} MB limit.",
            hint="Split it, or raise FACELENS_MAX_MEDIA_BYTES.",
        )
    return p


def _open(p: Path):
    import av

    try:
        return av.open(str(p), metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(
            f"{p} is not an audio or video file FFmpeg can read, or it is corrupt or truncated ({type(exc).__name__}).",
            hint="Use a complete file in a common format such as WAV, FLAC, MP3, OGG, M4A, MP4, MKV or WEBM.",
        ) from exc


def _duration(container) -> float:
    # container.duration is in microseconds; some formats leave it unset, then use the streams'
    if container.duration:
        return container.duration / 1_000_000
    best = 0.0
    for s in container.streams:
        if s.duration and s.time_base:
            best = max(best, float(s.duration * s.time_base))
    return best


def probe(path: str | os.PathLike) -> MediaInfo:
    """Open a media file and describe it, enforcing the size and duration limits.

    Raises:
        MediaError: missing, empty, too large, too long, or not a media file.
    """
    p = _check_file(path)
    with _open(p) as c:
        audio = c.streams.audio[0] if c.streams.audio else None
        video = c.streams.video[0] if c.streams.video else None
        if audio is None and video is None:
            raise MediaError(f"{p} has neither an audio nor a video stream.")
        duration = _duration(c)
        info = MediaInfo(
            path=str(path),
            size=p.stat().st_size,
            container=c.format.name,
            duration=round(duration, 3),
            has_audio=audio is not None,
            has_video=video is not None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=float(video.average_rate) if video is not None and video.average_rate else None,
        )
    _check_duration(p, info.duration)
    return info


def _check_duration(p: Path, seconds: float) -> None:
    if seconds > max_seconds():
        raise MediaError(
            f"{p} lasts {seconds:.0f} s, over the {max_seconds():.0f} s limit.",
            hint="Split it, or raise FACELENS_MAX_MEDIA_SECONDS.",
        )


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream to mono float32 in [-1, 1] at ``sample_rate``.

    Any sample rate and channel layout PyAV decodes is accepted (8 kHz telephone audio included);
    it is resampled here. The duration limit is enforced while decoding too, for files whose
    header does not say how long they are.

    Raises:
        MediaError: no audio stream, undecodable, empty, or beyond the limits.
    """
    import av

    p = _check_file(path)
    limit = max_seconds()
    chunks: list[np.ndarray] = []
    total = 0
    with _open(p) as c:
        if not c.streams.audio:
            raise MediaError(f"{p} has no audio stream.", hint="Use a file with sound, or a video with an audio track.")
        _check_duration(p, _duration(c))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in c.decode(audio=0):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if total > limit * sample_rate:
                    _check_duration(p, total / sample_rate)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise MediaError(f"{p}: the audio cannot be decoded ({exc}).", hint="The file may be corrupt or truncated.") from exc
            log.warning("%s: decoding stopped early (%s); using the %.1f s decoded so far", p, exc, total / sample_rate)
    audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if audio.size == 0:
        raise MediaError(f"{p} holds no audio samples.", hint="The file may be truncated.")
    return np.clip(audio, -1.0, 1.0)


def iter_frames(path: str | os.PathLike, fps: float = 2.0, max_side: int | None = None) -> Iterator[Frame]:
    """Yield video frames sampled at ``fps`` per second (the first frame at or after each tick).

    Args:
        path: a video file.
        fps: frames per second to keep; every decoded frame in between is skipped cheaply.
        max_side: if set, frames are scaled (by FFmpeg's swscale) so their longer side is at most this.

    Raises:
        MediaError: no video stream, undecodable, or beyond the limits.
    """
    import av

    if fps <= 0:
        raise MediaError(f"The frame sampling rate must be positive, not {fps}.")
    p = _check_file(path)
    step = 1.0 / fps
    with _open(p) as c:
        if not c.streams.video:
            raise MediaError(f"{p} has no video stream.", hint="Pass a video, or ingest it as audio only.")
        _check_duration(p, _duration(c))
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        next_t = 0.0
        limit = max_seconds()
        got = 0
        try:
            for frame in c.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base) - start
                if t > limit:
                    _check_duration(p, t)
                if t + 1e-6 < next_t:
                    continue
                next_t = (int(t / step + 1e-6) + 1) * step
                w, h = frame.width, frame.height
                if max_side and max(w, h) > max_side:
                    s = max_side / max(w, h)
                    frame = frame.reformat(width=int(w * s) // 2 * 2, height=int(h * s) // 2 * 2)
                got += 1
                yield Frame(time=round(t, 3), rgb=frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            if not got:
                raise MediaError(f"{p}: the video cannot be decoded ({exc}).", hint="The file may be corrupt or truncated.") from exc
            log.warning("%s: decoding stopped early at frame %d (%s)", p, got, exc)
    if not got:
        raise MediaError(f"{p}: the video stream holds no frames.", hint="The file may be truncated.")
