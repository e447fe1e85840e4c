"""Generated speech and video with known content, for tests, benchmarks and demos.

Speech comes from espeak-ng (a system package: ``apt-get install espeak-ng``); video is encoded with
PyAV from the public-domain portraits in :mod:`facelens.eval.scenes`, so the face sequence (who is
on screen when, smiling astronaut vs. neutral Grace Hopper) is known exactly.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from facelens.tools import media
from facelens.tools.errors import DependencyError


def speak(
    text: str, *, speed: int = 160, amplitude: int = 100, pitch: int = 50, ssml: bool = False, voice: str | None = None
) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng (``voice``: an espeak-ng voice name, e.g. "en-gb"); returns 16 kHz mono float32 samples."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DependencyError(
            "espeak-ng is not installed (needed to generate test speech).", hint="apt-get install espeak-ng"
        )
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = [exe, "-s", str(speed), "-a", str(amplitude), "-p", str(pitch), "-w", str(wav)]
        if ssml:
            cmd.append("-m")
        if voice:
            cmd += ["-v", voice]
        subprocess.run([*cmd, text], check=True, capture_output=True, timeout=60)
        return media.load_audio(wav)


def write_audio(
    path: str | Path, audio: np.ndarray, *, rate: int = media.SAMPLE_RATE, codec: str | None = None
) -> Path:
    """Write 16 kHz mono float32 samples to any container PyAV writes, resampled to ``rate``."""
    import av

    path = Path(path)
    codec = codec or {".wav": "pcm_s16le", ".flac": "flac", ".ogg": "libopus", ".mp3": "mp3", ".m4a": "aac"}.get(
        path.suffix, "pcm_s16le"
    )
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=48000 if codec == "libopus" else rate)
        stream.layout = "mono"
        # FFmpeg's resampler low-pass filters on the way down (8 kHz = telephone band)
        _encode_audio(out, stream, audio, media.SAMPLE_RATE)
    return path


def _encode_audio(out, stream, audio: np.ndarray, rate: int) -> None:
    import av

    fmt = stream.codec_context.format.name if stream.codec_context.format else "s16"
    pcm = np.clip(audio, -1, 1)
    resampler = av.AudioResampler(format=fmt, layout="mono", rate=stream.codec_context.sample_rate)
    chunk = 1024
    for i in range(0, pcm.size, chunk * 8):
        block = (pcm[i : i + chunk * 8] * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
        frame.sample_rate = rate
        for f in resampler.resample(frame):
            for packet in stream.encode(f):
                out.mux(packet)
    for f in resampler.resample(None):
        for packet in stream.encode(f):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


@dataclass(frozen=True)
class Shot:
    seconds: float  # how long this shot lasts
    who: str | None  # "astronaut" (smiling), "hopper" (neutral) or None (nobody on screen)


def make_video(
    path: str | Path,
    shots: list[Shot],
    audio: np.ndarray | None = None,
    *,
    size: tuple[int, int] = (640, 480),
    fps: int = 25,
    face_width: int = 200,
    codec: str = "libx264",
) -> Path:
    """Encode a video of head-and-shoulders shots (with gentle motion) and optional 16 kHz audio."""
    import av
    import cv2

    from facelens.eval import scenes

    w, h = size
    heads = {}
    for who in {s.who for s in shots if s.who}:
        crop = scenes.head(who)
        heads[who] = cv2.resize(
            crop, (face_width, int(crop.shape[0] * face_width / crop.shape[1])), interpolation=cv2.INTER_AREA
        )
    path = Path(path)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            vs.options = {"preset": "veryfast", "crf": "26"}
        astream = None
        if audio is not None:
            astream = out.add_stream("aac", rate=media.SAMPLE_RATE)
            astream.layout = "mono"
        background = np.empty((h, w, 3), np.uint8)
        background[:] = np.linspace(90, 140, w, dtype=np.uint8)[None, :, None]
        n = 0
        for shot in shots:
            for _ in range(int(round(shot.seconds * fps))):
                img = background.copy()
                if shot.who:
                    head = heads[shot.who]
                    dx = int(30 * np.sin(n / fps * 1.3))
                    dy = int(12 * np.sin(n / fps * 0.9))
                    x = max(0, min(w - head.shape[1], (w - head.shape[1]) // 2 + dx))
                    y = max(0, min(h - head.shape[0], 40 + dy))
                    hh = min(head.shape[0], h - y)
                    img[y : y + hh, x : x + head.shape[1]] = head[:hh]
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = n
                frame.time_base = Fraction(1, fps)
                for packet in vs.encode(frame):
                    out.mux(packet)
                n += 1
        for packet in vs.encode(None):
            out.mux(packet)
        if astream is not None:
            _encode_audio(out, astream, audio, media.SAMPLE_RATE)  # type: ignore[arg-type]
    return path
