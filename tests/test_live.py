"""facelens live: a video file and a wav file stand in for camera and microphone.

Three recorded questions (calm, angry, sad; espeak-ng) are asked while the camera shows a calm face and a
photo of smiling people is under discussion: the mood of each turn fits the voice and words and the
speaker's own (calm) face, never the photo's smiling faces.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from facelens.agent.assistant import live
from facelens.agent.cli import main
from facelens.eval import media as gen
from facelens.eval.media import Shot
from facelens.tools.errors import InputError, MediaError
from facelens.tools.models import package_data_path

GAP = np.zeros(int(1.2 * live.SAMPLE_RATE), np.float32)
ANGRY = {"angry", "disgust"}


def _questions() -> list[np.ndarray]:
    calm = gen.speak("How many people are in this photo?")
    angry = gen.speak(
        "This is ridiculous, I am furious! How many people are in this photo?", amplitude=200, speed=210, pitch=70
    )
    sad = gen.speak("I feel so sad and lonely today. Who is in this photo?", speed=120, pitch=30, amplitude=60)
    return [calm, angry, sad]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> tuple[Path, Path, float]:
    folder = tmp_path_factory.mktemp("live")
    audio = np.concatenate([GAP] + [np.concatenate([q, GAP]) for q in _questions()])
    wav = gen.write_audio(folder / "questions.wav", audio)
    seconds = audio.size / live.SAMPLE_RATE
    video = gen.make_video(folder / "calm.mp4", [Shot(6.0, "hopper")])  # loops like a camera
    return wav, video, seconds


def test_turns_are_cut_by_voice_activity(recordings):
    wav, _, _ = recordings
    cut = list(live.turns(live.file_chunks(wav, realtime=False)))
    assert len(cut) == 3
    lengths = [a.size / live.SAMPLE_RATE for a, _ in cut]
    assert all(1.0 < s < 8.0 for s in lengths), lengths


def test_three_moods_with_a_calm_face_and_a_photo_of_smiling_people(recordings, capsys):
    wav, video, _ = recordings
    photo = str(package_data_path("examples", "group.jpg"))  # two of its four people smile broadly
    statuses: list[live.LiveStatus] = []
    report = live.run(camera=str(video), mic=str(wav), images=[photo], backend="offline", on_status=statuses.append)
    assert len(report.turns) == 3, [t.question for t in report.turns]
    calm, angry, sad = report.turns
    for t in report.turns:
        assert (
            "face" in t.mood_sources and t.face is not None and t.face != "happy"
        )  # the camera's face, not the photo's
    assert calm.mood_label not in ANGRY | {"sad", "fear"}
    assert angry.mood_label in ANGRY and "frustrating" in angry.reply
    assert sad.mood_label == "sad"
    assert "I count 4 people" in calm.reply  # the photo's question is still answered about the photo
    assert report.frames > 0 and report.camera in ("face found", "no face")
    assert any(s.camera == "face found" and s.expression for s in statuses)
    assert statuses[-1].state == "stopped"


def test_without_a_camera_the_reply_says_the_mood_is_from_voice_and_words(tmp_path):
    wav = gen.write_audio(tmp_path / "q.wav", np.concatenate([GAP, _questions()[0], GAP]))
    report = live.run(
        mic=str(wav), images=[str(package_data_path("examples", "group.jpg"))], backend="offline", realtime=False
    )
    assert len(report.turns) == 1
    t = report.turns[0]
    assert t.face is None and "face" not in t.mood_sources and "no camera" in t.reply


def test_cli_json_record_and_no_network(tmp_path, capsys, monkeypatch):
    """`facelens live --json --record DIR` with files; no connection is attempted (offline backend)."""

    def refuse(*a, **k):  # pragma: no cover - reached only on a regression
        raise AssertionError(f"network use in offline mode: {a}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    wav = gen.write_audio(tmp_path / "q.wav", np.concatenate([GAP, _questions()[2], GAP]))
    kept = tmp_path / "kept"
    assert main(["live", "--mic", str(wav), "--backend", "offline", "--json", "--record", str(kept)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(lines) == 1 and lines[0]["mood_label"] == "sad" and lines[0]["seconds_to_reply"] > 0
    assert sorted(p.name for p in kept.iterdir()) == ["turn-001.wav", "turns.jsonl"]


def test_silence_is_no_turn_and_a_clean_exit(tmp_path):
    wav = gen.write_audio(tmp_path / "quiet.wav", np.zeros(3 * live.SAMPLE_RATE, np.float32))
    assert live.run(mic=str(wav), backend="offline", realtime=False).turns == []


def test_bad_inputs_get_clear_errors(tmp_path, capsys):
    with pytest.raises(InputError):
        live.open_camera(str(tmp_path / "missing.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(MediaError):
        live.open_camera(str(broken))
    with pytest.raises(MediaError):
        live.open_camera(97)  # no such camera
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    assert main(["live", "--mic", str(bad_wav), "--backend", "offline"]) == 2
    assert main(["live", "--mic", str(tmp_path / "none.wav"), "--backend", "offline"]) == 2
    assert main(["live", "--camera", str(tmp_path / "none.mp4"), "--mic", str(bad_wav)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("facelens:") == 3


def test_smoothing_averages_the_last_seconds():
    w = live.FaceWatcher.__new__(live.FaceWatcher)  # no camera needed to test the window
    import threading
    from collections import deque

    w.readings, w.lock, w.window_s = deque(), threading.Lock(), 3.0
    import time

    now = time.monotonic()
    happy = {"happy": 0.9, "neutral": 0.1}
    neutral = {"neutral": 0.8, "happy": 0.2}
    w.readings.extend(
        [
            live.FaceReading(now - 10, True, happy),
            live.FaceReading(now - 1, True, neutral),
            live.FaceReading(now - 0.5, True, neutral),
            live.FaceReading(now, False),
        ]
    )
    est = w.smoothed()
    assert (
        est is not None and est.label == "neutral" and abs(est.scores["neutral"] - 0.8) < 1e-6
    )  # the old smile is gone
