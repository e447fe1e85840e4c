"""Words' emotion (offline lexicon) and the fusion of face, voice and words."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.agent.sessions.affect import fuse, words_emotion
from facelens.eval import media
from facelens.tools.prosody import VoiceCues, VoiceFeatures, analyze_voice
from facelens.tools.schema import EMOTIONS, EmotionEstimate
from facelens.tools.text_emotion import classify_text


def face(label: str, p: float = 0.85) -> EmotionEstimate:
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return EmotionEstimate(label=label, scores={e: (p if e == label else rest) for e in EMOTIONS}, model="test")


def cues(*names: str, arousal: float = 0.5) -> VoiceCues:
    f = VoiceFeatures(
        duration=2,
        voiced_seconds=1.5,
        loudness_dbfs=-10,
        peak_dbfs=-3,
        pitch_hz=180,
        pitch_range_semitones=3,
        words=6,
        rate_wpm=200,
    )
    return VoiceCues(features=f, cues=list(names), arousal=arousal)


@pytest.mark.parametrize(
    "text,label",
    [
        ("I am really angry about this terrible service!", "angry"),
        ("This is great, thank you so much, I love it", "happy"),
        ("I am so disappointed and sad", "sad"),
        ("I'm scared and worried about the results", "fear"),
        ("The meeting is at three in room four.", "neutral"),
        ("That is disgusting, gross", "disgust"),
        ("Wow, that is unexpected", "surprise"),
    ],
)
def test_text_emotion_labels(text, label):
    r = classify_text(text)
    assert r.label == label, r
    assert abs(sum(r.scores.values()) - 1) < 1e-3
    assert (r.evidence == []) == (label == "neutral")


def test_negation_and_intensifiers():
    lex = lambda t: classify_text(t, model="lexicon")  # noqa: E731 - the lexicon's own rules
    assert lex("I am not happy with this at all").label == "sad"
    assert lex("I am not angry").label == "neutral"
    assert lex("I am very angry").scores["angry"] > lex("I am angry").scores["angry"]
    assert lex("").label == "neutral"


def test_conflict_smiling_but_negative_words():
    r = fuse(face=face("happy"), words=classify_text("This is terrible, I hate it, I want a refund"))
    assert "smiling, but the words are negative" in r.conflicts
    assert r.tone == "acknowledge-mixed"
    assert {c.channel for c in r.channels} == {"face", "words"}
    assert "Mixed signals" in r.summary


def test_agreeing_channels_and_voice_arousal():
    r = fuse(
        face=face("angry", 0.6),
        voice=cues("raised voice", "fast", arousal=0.8),
        words=classify_text("This is unacceptable, I am furious"),
    )
    assert r.label == "angry" and not r.conflicts and r.tone == "de-escalate"
    assert r.arousal > 0.4 and r.valence < -0.5
    calm = fuse(face=face("angry", 0.6), words=classify_text("This is unacceptable, I am furious"))
    assert r.scores["angry"] >= calm.scores["angry"]  # a raised voice tilts towards high arousal
    voice_ch = next(c for c in r.channels if c.channel == "voice")
    assert voice_ch.label is None and voice_ch.summary == "raised voice, fast"


def test_other_conflicts_and_single_channels():
    assert (
        "positive words in a flat voice (fatigue or sarcasm?)"
        in fuse(voice=cues("flat", arousal=-0.3), words=classify_text("Great, just wonderful")).conflicts
    )
    assert (
        "the words are positive, but the face looks sad"
        in fuse(face=face("sad"), words=classify_text("I am happy, thanks")).conflicts
    )
    only_face = fuse(face=face("surprise"))
    assert only_face.label == "surprise" and only_face.tone == "clarify"
    nothing = fuse()
    assert nothing.label == "neutral" and nothing.channels == [] and "No face" in nothing.summary
    assert isinstance(nothing.model_dump_json(), str)


def test_fusing_real_speech():
    text = "I am furious, this is the third time my order is late"
    audio = media.speak(text, amplitude=200)
    calm = [
        VoiceFeatures(
            duration=3,
            voiced_seconds=2,
            loudness_dbfs=-24,
            peak_dbfs=-12,
            pitch_hz=110,
            pitch_range_semitones=3,
            words=10,
            rate_wpm=180,
        )
    ] * 3
    r = fuse(voice=analyze_voice(audio, words=len(text.split()), history=calm), words=words_emotion(text))
    assert r.label == "angry"
    ch = {c.channel: c for c in r.channels}
    assert "raised voice" in ch["voice"].summary and "furious" in ch["words"].summary


def test_fusion_with_the_real_emotion_model(astronaut):
    from facelens.tools import emotion, faces

    if not emotion.available():
        pytest.skip("the facial emotion model (tools/data/models/emotion.onnx) is not installed yet")
    found, _ = faces.find_faces(astronaut, embeddings=False)
    est = emotion.classify(astronaut, [found[0].landmarks])[0]
    r = fuse(face=est, words=classify_text("This is awful, I hate waiting"))
    if est.label == "happy":
        assert "smiling, but the words are negative" in r.conflicts
    assert r.channels[0].channel == "face" and r.channels[0].label == est.label


def test_words_emotion_from_an_openai_compatible_server(monkeypatch):
    from facelens.agent.sessions.affect import words_emotion
    from tests.loopback import chat_completion, openai_server

    replies = iter(
        [
            '{"scores": {"angry": 0.7, "neutral": 0.2, "sad": 0.1}, "evidence": ["ridiculous"]}',
            "I think they are angry.",
        ]
    )
    seen: list[dict] = []

    def respond(req: dict) -> dict:
        seen.append(req)
        return chat_completion(next(replies))

    with openai_server(respond, monkeypatch):
        r = words_emotion("This is ridiculous.")
        assert r.label == "angry" and r.model.startswith("openai:") and r.evidence[0].word == "ridiculous"
        assert r.valence < 0 and abs(sum(r.scores.values()) - 1) < 1e-3
        assert '"This is ridiculous."' in seen[0]["messages"][-1]["content"]
        fallback = words_emotion("I love it")  # the server's second reply is not JSON: the offline estimate
        assert not fallback.model.startswith("openai:") and fallback.label == "happy"
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert words_emotion("I love it").model == classify_text("").model


def test_cli_transcribe_affect(tmp_path, capsys):
    import json

    from facelens.agent.cli import main

    parts = [media.speak(t) for t in ("Hello, I have a question about my bill.", "The bill arrived on Monday.")]
    parts.append(media.speak("This is ridiculous, I am furious!", amplitude=200))
    audio = np.concatenate([np.concatenate([p, np.zeros(8000, np.float32)]) for p in parts])
    wav = media.write_audio(tmp_path / "call.wav", audio)
    assert main(["transcribe", str(wav), "--affect", "--json"]) == 0
    turns = json.loads(capsys.readouterr().out)[0]["affect"]
    assert turns and [t["start"] for t in turns] == sorted(t["start"] for t in turns)
    last = next(t for t in turns if "furious" in t["text"].lower())["affect"]
    assert last["label"] == "angry" and {c["channel"] for c in last["channels"]} == {"words", "voice"}
