"""Voice measurements and cues on espeak-ng speech with known loudness, rate and pitch settings."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.eval import media
from facelens.tools import prosody as voice

TEXT = "I would like to ask about my order from last week, it has not arrived yet."
N_WORDS = len(TEXT.split())


@pytest.fixture(scope="module")
def normal() -> voice.VoiceFeatures:
    return voice.measure(media.speak(TEXT), words=N_WORDS)


def cues(normal, **espeak) -> list[str]:
    ssml = "range" in espeak
    text = f'<speak><prosody range="{espeak.pop("range")}">{TEXT}</prosody></speak>' if ssml else TEXT
    f = voice.measure(media.speak(text, ssml=ssml, **espeak), words=N_WORDS)
    return voice.cues_from(f, baseline=normal).cues


def test_plain_voice_has_no_cues_against_itself(normal):
    assert normal.pitch_hz is not None and 70 < normal.pitch_hz < 200
    assert normal.voiced_seconds > 1.0 and normal.rate_wpm is not None
    assert voice.cues_from(normal, baseline=normal).cues == []


@pytest.mark.parametrize(
    "espeak,expected",
    [
        ({"amplitude": 200}, "raised voice"),
        ({"amplitude": 30}, "quiet"),
        ({"speed": 300}, "fast"),
        ({"speed": 90}, "slow"),
        ({"range": "x-low"}, "flat"),
        ({"range": "x-high"}, "animated"),
        ({"pitch": 95}, "high pitch"),
    ],
)
def test_cues_relative_to_baseline(normal, espeak, expected):
    assert expected in cues(normal, **dict(espeak))


def test_absolute_cues_and_baseline_of_history(normal):
    loud = voice.measure(media.speak(TEXT, amplitude=200), words=N_WORDS)
    assert "raised voice" in voice.cues_from(loud).cues  # no baseline: absolute level
    assert voice.baseline_of([]) is None
    base = voice.baseline_of([normal, normal, loud])
    assert base is not None and base.loudness_dbfs == pytest.approx(normal.loudness_dbfs)
    res = voice.analyze_voice(media.speak(TEXT, amplitude=200), words=N_WORDS, history=[normal, normal])
    assert res.baseline and "raised voice" in res.cues and res.arousal > 0


def test_pitch_of_a_pure_tone():
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    f0, voiced = voice.pitch_track(tone)
    assert voiced.mean() > 0.9
    assert np.median(f0[voiced]) == pytest.approx(150, rel=0.03)


def test_silence_and_empty_input():
    assert voice.analyze_voice(np.zeros(16000, np.float32)).cues == ["no voice"]
    f = voice.measure(np.zeros(0, np.float32))
    assert f.duration == 0 and f.pitch_hz is None
    assert voice.cues_from(f).describe() == "no voice"


# --- microphone input (agent/assistant/voice_input.py): end-pointing on real speech, clear errors without a device ---


def _chunks(audio: np.ndarray, size: int = 480) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, audio.size, size)]


def test_endpointing_cuts_one_utterance():
    from facelens.agent.assistant import voice_input as mic

    speech = media.speak("Who looks happiest in this photo?")
    noise = (np.random.default_rng(1).standard_normal(16000) * 0.001).astype(np.float32)
    later = media.speak("This second sentence must not be included.")
    stream = np.concatenate([noise, speech, np.zeros(16000, np.float32), later])
    cut = mic.endpoint(_chunks(stream), silence_ms=800)
    assert speech.size / 16000 - 0.2 < cut.size / 16000 < speech.size / 16000 + 1.4
    assert mic.endpoint(_chunks(np.zeros(16000 * 3, np.float32)), start_timeout=2.0).size == 0


def test_understand_and_adaptive_reply():
    from facelens.agent.assistant import voice_input as mic

    audio = media.speak("This photo app is useless and I am furious!", amplitude=200)
    utt = mic.understand_speech(audio, history=[voice.measure(media.speak(TEXT), words=N_WORDS)])
    assert "useless" in utt.text.lower() and utt.affect.label == "angry"
    assert "raised voice" in utt.cues.cues and utt.affect.tone == "de-escalate"
    said: list[str] = []

    class Source:
        last = utt

    write = mic.adaptive_writer(Source(), said.append)
    write("Face 1 looks happy.")
    write("Second reply.")
    assert said[0].startswith("I can hear this is frustrating") and said[0].endswith("Face 1 looks happy.")
    assert said[1] == "Second reply."  # only the first reply to each utterance opens with the tone


def test_microphone_errors_are_clear(monkeypatch):
    import sys

    from facelens.agent.assistant import voice_input as mic
    from facelens.tools.errors import DependencyError, FacelensError, InputError

    with pytest.raises(InputError, match="Unknown recording mode"):
        mic.record("telepathy")
    if not mic.input_devices():
        with pytest.raises(FacelensError, match="microphone|PortAudio"):
            mic.record("vad")
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(DependencyError, match="sounddevice"):
        mic.record("vad")
