"""``facelens bench transcribe`` (real-time factor) and ``facelens bench ingest`` (session ingest speed).

Both use generated media when no file is given: espeak-ng speech, and a 640 x 480 video of one
public-domain face with that speech muxed in. Models are loaded and warmed before timing.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: distinct sentences: repeated text would trip Whisper's compression-ratio fallback and skew timings
SCRIPT = [
    "Hello, thanks for calling. How can I help you today?",
    "I am really angry. This is the third time my order is late.",
    "I am sorry about that. Let me look up your account.",
    "My order number is four five seven two, and it was placed in March.",
    "I see it here. The parcel left our warehouse on Tuesday morning.",
    "Then why has nobody told me where it is?",
    "The courier marked it as delayed because of the storm.",
    "That is not my problem. I paid for express delivery.",
    "You are right, and I will refund the delivery charge now.",
    "How long will the refund take to reach my card?",
    "It usually takes three to five working days.",
    "Can you also send the replacement with a different courier?",
    "Yes, I can book it with the national post service instead.",
    "Will I get a tracking number this time?",
    "You will get an email with the tracking link within the hour.",
    "Okay. I hope it works this time, because I need it for a birthday.",
    "I understand. I have marked it as urgent for you.",
    "Thank you, that is great. I appreciate your help.",
    "You are welcome. Is there anything else I can do for you?",
    "No, that is everything. Have a good afternoon.",
]


def _speech(seconds: float) -> np.ndarray:
    from facelens.eval import media as sample_media

    lines = [np.concatenate([sample_media.speak(t), np.zeros(8000, np.float32)]) for t in SCRIPT]
    out, n = [], 0
    while n < seconds * 16000:
        a = lines[len(out) % len(lines)]
        out.append(a)
        n += a.size
    return np.concatenate(out)[: int(seconds * 16000)]


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_transcribe(files: list[str], model: str | None = None, beam_size: int = 5, seconds: float = 30.0) -> dict:
    """Real-time factor (transcription seconds / audio seconds) with a warm model."""
    from facelens.eval import media as sample_media
    from facelens.tools.speech import Transcriber

    t0 = time.perf_counter()
    tr = Transcriber(model, beam_size=beam_size).load()
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        if not files:
            files = [str(sample_media.write_audio(Path(tmp) / "speech.wav", _speech(seconds)))]
        tr.transcribe(np.zeros(16000, np.float32) + 0.0)  # warm-up
        rows = []
        for f in files:
            c0 = _cpu()
            t = tr.transcribe(f)
            rows.append(
                {
                    "file": Path(f).name,
                    "duration": t.duration,
                    "seconds": t.seconds,
                    "rtf": round(t.seconds / max(t.duration, 1e-9), 3),
                    "cpu_seconds": round(_cpu() - c0, 2),
                }
            )
            print(
                f"{Path(f).name}: {t.duration:.1f} s audio in {t.seconds:.2f} s (RTF {rows[-1]['rtf']:.2f})",
                file=sys.stderr,
            )
    audio = sum(r["duration"] for r in rows)
    proc = sum(r["seconds"] for r in rows)
    return {
        "model": f"{tr.backend}:{tr.model}",
        "beam_size": beam_size,
        "model_load_seconds": round(load_s, 2),
        "audio_seconds": round(audio, 2),
        "transcribe_seconds": round(proc, 2),
        "real_time_factor": round(proc / max(audio, 1e-9), 3),
        "cpu_seconds_per_audio_second": round(sum(r["cpu_seconds"] for r in rows) / max(audio, 1e-9), 3),
        "files": rows,
    }


def bench_ingest(file: str | None, seconds: float = 60.0, fps: float = 2.0, home: str | Path | None = None) -> dict:
    """Session ingest speed (media seconds per wall second) with warm models, plus its two halves.

    ``home``: the FACELENS_HOME the sessions are stored in (default: a throwaway one, deleted afterwards)."""
    import os

    from facelens.agent.sessions import ingest as sessions
    from facelens.eval import media as sample_media
    from facelens.tools import media, settings
    from facelens.tools.speech import Transcriber

    with tempfile.TemporaryDirectory() as tmp, settings.given(home=str(home or Path(tmp) / "home")):
        if file is None:
            audio = _speech(seconds)
            shots = [sample_media.Shot(seconds, "astronaut")]
            file = str(sample_media.make_video(Path(tmp) / "one-face.mp4", shots, audio))
        info = media.probe(file)
        tr = Transcriber().load()
        warm = sample_media.make_video(
            Path(tmp) / "warm.mp4",
            [sample_media.Shot(1.0, "astronaut")],
            _speech(1.0),
            size=(320, 240),
            fps=10,
            face_width=120,
        )
        sessions.ingest(warm, "warm-up", transcriber=tr)
        t0, c0 = time.perf_counter(), _cpu()
        rec = sessions.ingest(file, "bench", fps=fps, transcriber=tr)
        total, cpu = time.perf_counter() - t0, _cpu() - c0
        t0 = time.perf_counter()
        tracker = sessions.FaceTracker()
        n = sum(
            1
            for fr in media.iter_frames(file, fps=fps, max_side=sessions.MAX_SIDE)
            if tracker.step(fr.rgb, fr.time) is not None
        )
        frames_s = time.perf_counter() - t0
        asr_s = tr.transcribe(media.load_audio(file)).seconds if info.has_audio else 0.0
    return {
        "file": Path(file).name,
        "width": info.width,
        "height": info.height,
        "duration": info.duration,
        "fps_sampled": fps,
        "frames_sampled": n,
        "ingest_seconds": round(total, 2),
        # CPU time of all threads: what the ingest costs regardless of other load on the machine;
        # on an otherwise idle machine the wall time is at least cpu_seconds / cores
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_media_second": round(cpu / max(info.duration, 1e-9), 3),
        "speed_x_real_time": round(info.duration / max(total, 1e-9), 2),
        "video_only_seconds": round(frames_s, 2),
        "video_ms_per_frame": round(1000 * frames_s / max(n, 1), 1),
        "transcribe_only_seconds": round(asr_s, 2),
        "face_tracks": len(rec.people),
        "utterances": len(rec.transcript),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
