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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facelens.tools import settings
from facelens.tools.errors import MediaError

log = logging.getLogger(__name__)

#: the sample rate every audio consumer here works at (Whisper's)
SAMPLE_RATE = 16_000


def max_bytes() -> int:
    """The largest media file accepted, in bytes (FACELENS_MAX_MEDIA_BYTES, default 2 GiB)."""
    return settings.value("max_media_bytes")


def max_seconds() -> float:
    """The longest media accepted, in seconds (FACELENS_MAX_MEDIA_SECONDS, default 4 hours)."""
    return settings.value("max_media_seconds")


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


@dataclass(frozen=True)
class AudioChunk:
    """A stretch of decoded audio (mono float32 in [-1, 1] at the sample rate asked for)."""

    start: float  # seconds from the start of the file
    samples: np.ndarray = field(repr=False)
    sample_rate: int = SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.start + self.samples.size / self.sample_rate

    def between(self, start: float, end: float) -> np.ndarray:
        """The samples between two times on the file's clock (clipped to this chunk)."""
        a = max(0, int((start - self.start) * self.sample_rate))
        b = max(a, int((end - self.start) * self.sample_rate))
        return self.samples[a:b]


#: seconds of audio per chunk when streaming (5 min of 16 kHz float32 is 19 MB), so memory does not
#: grow with a recording's duration
CHUNK_SECONDS = 300.0
#: a chunk ends at the quietest 100 ms of its last seconds, so a cut rarely falls inside a word
_CUT_SEARCH_S = 10.0


def _quiet_cut(buf: np.ndarray, n: int, sample_rate: int) -> int:
    """Where to end a chunk of about ``n`` samples of ``buf``: the middle of the quietest 100 ms before ``n``."""
    win = max(1, sample_rate // 10)
    search = min(n, int(_CUT_SEARCH_S * sample_rate)) // win * win
    if search < win:
        return n
    seg = buf[n - search : n].reshape(-1, win)
    energy = np.einsum("ij,ij->i", seg, seg)
    quietest = energy.size - 1 - int(np.argmin(energy[::-1]))  # the latest of equally quiet windows: chunks stay long
    return n - search + quietest * win + win // 2


def iter_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, chunk_seconds: float = CHUNK_SECONDS
) -> Iterator[AudioChunk]:
    """Decode the first audio stream to mono float32 in [-1, 1] at ``sample_rate``, in chunks of about
    ``chunk_seconds`` (each ending at a quiet moment), so a long recording never sits in memory whole.

    Any sample rate and channel layout PyAV decodes is accepted (8 kHz telephone audio included); it is
    resampled here. The duration limit is enforced while decoding too, for files whose header does not
    say how long they are.

    Raises:
        MediaError: no audio stream, undecodable, empty, or beyond the limits.
    """
    import av

    p = _check_file(path)
    limit = max_seconds()
    chunk_n = int(chunk_seconds * sample_rate) if chunk_seconds != float("inf") else None
    pending: list[np.ndarray] = []
    pending_n = 0
    offset = 0  # samples yielded so far
    with _open(p) as c:
        if not c.streams.audio:
            raise MediaError(f"{p} has no audio stream.", hint="Use a file with sound, or a video with an audio track.")
        _check_duration(p, _duration(c))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)

        def take(frames: list) -> Iterator[AudioChunk]:
            nonlocal pending, pending_n, offset
            for out in frames:
                arr = out.to_ndarray().reshape(-1)
                pending.append(arr)
                pending_n += arr.size
            while chunk_n is not None and pending_n >= chunk_n + sample_rate:  # a second to spare past the cut window
                buf = np.concatenate(pending)
                cut = _quiet_cut(buf, chunk_n, sample_rate)
                yield AudioChunk(offset / sample_rate, np.clip(buf[:cut], -1.0, 1.0), sample_rate)
                offset += cut
                pending, pending_n = [buf[cut:]], buf.size - cut

        try:
            for frame in c.decode(audio=0):
                yield from take(resampler.resample(frame))
                if offset + pending_n > limit * sample_rate:
                    _check_duration(p, (offset + pending_n) / sample_rate)
            yield from take(resampler.resample(None))
        except av.error.FFmpegError as exc:
            if not pending_n and not offset:
                raise MediaError(
                    f"{p}: the audio cannot be decoded ({exc}).", hint="The file may be corrupt or truncated."
                ) from exc
            log.warning(
                "%s: decoding stopped early (%s); using the %.1f s decoded so far",
                p,
                exc,
                (offset + pending_n) / sample_rate,
            )
    if pending_n:
        buf = pending[0] if len(pending) == 1 else np.concatenate(pending)
        yield AudioChunk(offset / sample_rate, np.clip(buf.astype(np.float32, copy=False), -1.0, 1.0), sample_rate)
    elif not offset:
        raise MediaError(f"{p} holds no audio samples.", hint="The file may be truncated.")


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole first audio stream as mono float32 in [-1, 1] at ``sample_rate`` (see :func:`iter_audio`,
    which long recordings should use instead: this holds all of it in memory).

    Raises:
        MediaError: no audio stream, undecodable, empty, or beyond the limits.
    """
    chunks = [c.samples for c in iter_audio(path, sample_rate, chunk_seconds=float("inf"))]
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


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
                raise MediaError(
                    f"{p}: the video cannot be decoded ({exc}).", hint="The file may be corrupt or truncated."
                ) from exc
            log.warning("%s: decoding stopped early at frame %d (%s)", p, got, exc)
    if not got:
        raise MediaError(f"{p}: the video stream holds no frames.", hint="The file may be truncated.")
