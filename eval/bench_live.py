"""``facelens bench live``: the live assistant's speed (issue 26's targets: >= 10 frames/s of the face loop
at 640x480 with one face; end of a 3-second spoken question -> reply text <= 1.5 s, median of 10).

Inputs are generated (a public-domain face in a 640x480 video, espeak-ng speech), so the figures can be
reproduced anywhere; warm models (the first turn's model loading is not counted, as in a running loop).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
QUESTION = "How many people are in this photo?"


def _question_audio(seconds: float = 3.0) -> np.ndarray:
    """A spoken question padded with quiet to ``seconds`` (espeak-ng)."""
    from facelens.eval import media as gen

    speech = gen.speak(QUESTION, speed=130)
    pad = max(0, int(seconds * SAMPLE_RATE) - speech.size)
    return np.concatenate([speech, np.zeros(pad, np.float32)])[: max(speech.size, int(seconds * SAMPLE_RATE))]


def face_loop(frames: int = 100) -> dict:
    """Frames per second of :func:`facelens.agent.assistant.live.read_face` on a 640x480 video with one face."""
    import cv2

    from facelens.agent.assistant import live
    from facelens.eval import media as gen
    from facelens.eval.media import Shot

    with tempfile.TemporaryDirectory(prefix="facelens-bench-live-") as tmp:
        path = gen.make_video(
            Path(tmp) / "face.mp4", [Shot(max(2.0, frames / 25 + 1), "hopper")], size=(640, 480), face_width=160
        )
        cap = cv2.VideoCapture(str(path))
        rgbs = []
        while len(rgbs) < frames:
            ok, bgr = cap.read()
            if not ok:
                break
            rgbs.append(np.ascontiguousarray(bgr[:, :, ::-1]))
        cap.release()
    for rgb in rgbs[:3]:  # warm: models loaded
        live.read_face(rgb)
    found = 0
    start = time.perf_counter()
    for rgb in rgbs:
        found += live.read_face(rgb).found
    wall = time.perf_counter() - start
    return {
        "frames": len(rgbs),
        "size": "640x480",
        "fps": round(len(rgbs) / wall, 2),
        "ms_per_frame": round(1000 * wall / len(rgbs), 1),
        "face_found": round(found / len(rgbs), 3),
        "detector": live.LIVE_DETECTOR,
    }


def turns(n: int = 10, speak: bool = False) -> dict:
    """Seconds from the end of a 3-second spoken question to the reply text (and first audio with speak)."""
    from facelens.agent.assistant import live
    from facelens.eval import media as gen
    from facelens.tools.models import package_data_path

    question = _question_audio(3.0)
    gap = np.zeros(int(1.0 * SAMPLE_RATE), np.float32)
    with tempfile.TemporaryDirectory(prefix="facelens-bench-live-") as tmp:
        wav = gen.write_audio(
            Path(tmp) / "questions.wav", np.concatenate([gap] + [np.concatenate([question, gap])] * (n + 1))
        )
        report = live.run(
            mic=str(wav),
            images=[str(package_data_path("examples", "group.jpg"))],
            backend="offline",
            speak=speak,
            realtime=False,
        )
    done = report.turns[1:]  # the first turn loads the models
    silence = live.SILENCE_MS / 1000
    to_reply = [t.seconds_to_reply for t in done]
    out = {
        "turns": len(done),
        "question_seconds": 3.0,
        "endpoint_silence_s": silence,
        "processing_s_median": round(statistics.median(to_reply), 3) if to_reply else None,
        "end_of_speech_to_reply_s_median": round(statistics.median(to_reply) + silence, 3) if to_reply else None,
        "end_of_speech_to_reply_s_max": round(max(to_reply) + silence, 3) if to_reply else None,
        "heard": done[0].question if done else None,
    }
    if speak:
        audio = [t.seconds_to_audio for t in done if t.seconds_to_audio is not None]
        out["end_of_speech_to_first_audio_s_median"] = round(statistics.median(audio) + silence, 3) if audio else None
    return out


def bench_live(frames: int = 100, n_turns: int = 10, speak: bool = False) -> dict:
    import os

    return {"cpu_cores": os.cpu_count(), "face_loop": face_loop(frames), "turns": turns(n_turns, speak)}
