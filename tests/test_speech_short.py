"""Short spoken questions (``Transcriber.transcribe(short=True)``) and the transcribe-short benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.eval import media as sample_media
from facelens.eval import speech as speech_bench
from facelens.tools import speech
from facelens.tools.errors import ConfigError, DependencyError


@pytest.fixture(scope="module")
def transcriber() -> speech.Transcriber:
    return speech.Transcriber().load()


def say(text: str, **kw) -> np.ndarray:
    try:
        return sample_media.speak(text, **kw)
    except DependencyError:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); no generated speech")


def test_normalise_and_edits():
    assert speech_bench.normalise("Is face 2 happy?") == ["is", "face", "two", "happy"]
    assert speech_bench.normalise("427.") == ["four", "two", "seven"]
    assert speech_bench.normalise("Four-two, seven!") == ["four", "two", "seven"]
    assert speech_bench.edits(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert speech_bench.edits([], ["a"]) == 1


def test_corpus_splits_are_fixed_and_disjoint():
    tune, held = speech_bench.corpus("tune"), speech_bench.corpus("heldout")
    assert len(tune) == 65 and len(held) == 35
    assert speech_bench.corpus("tune") == tune  # reproducible
    assert not {t for k, t in tune if k == "question"} & {t for k, t in held if k == "question"}
    assert all(1 <= len(t.split()) <= 4 for k, t in tune + held if k == "digits")
    with pytest.raises(ValueError):
        speech_bench.corpus("test")


def test_bad_short_options_are_a_config_error():
    for bad in (
        {"pad_seconds": -1},
        {"vad_threshold": 1.5},
        {"beam_size": 0},
        {"temperatures": ()},
        {"max_seconds": 0},
    ):
        with pytest.raises(ConfigError):
            speech.ShortOptions(**bad)


@pytest.mark.slow
@pytest.mark.parametrize("text", ["how many people are smiling", "is face two happy", "four two seven"])
def test_short_questions_at_16_and_8_khz(transcriber, tmp_path, text):
    from facelens.tools import media

    audio = say(text)
    tel = media.load_audio(sample_media.write_audio(tmp_path / "tel.wav", audio, rate=8000))
    for clip in (audio, tel):
        t = transcriber.transcribe(clip, short=True)
        ref, hyp = speech_bench.normalise(text), speech_bench.normalise(t.text)
        assert speech_bench.edits(ref, hyp) <= 1, (text, t.text)
        assert t.segments and all(0 <= s.start <= s.end <= t.duration for s in t.segments)  # padding taken off
        assert all(0 <= w.start <= w.end <= t.duration for w in t.words)


def test_silence_and_noise_do_not_become_the_prompt(transcriber):
    rng = np.random.default_rng(0)
    for clip in (
        np.zeros(32000, np.float32),
        0.02 * rng.standard_normal(48000).astype(np.float32),
        0.2 * rng.standard_normal(16000).astype(np.float32),
    ):
        assert transcriber.transcribe(clip, short=True).text == ""


def test_long_clips_keep_the_long_recording_settings(transcriber, monkeypatch):
    seen = []
    monkeypatch.setattr(
        speech.Transcriber,
        "_faster_whisper",
        lambda self, audio, words, short=None: (seen.append(short), ([], "en"))[1],
    )
    n = int(speech.SHORT_OPTIONS.max_seconds * 16000)
    transcriber.transcribe(np.zeros(n + 16000, np.float32), short=True)
    transcriber.transcribe(np.zeros(16000, np.float32), short=True)
    transcriber.transcribe(np.zeros(16000, np.float32))
    assert seen == [None, speech.SHORT_OPTIONS, None]


def test_voice_path_uses_the_short_settings(monkeypatch):
    from facelens.agent.assistant import voice_input

    seen = {}

    class Fake:
        def transcribe(self, audio, **kw):
            seen.update(kw)
            return speech.Transcript(text="", segments=(), duration=1.0, language="en")

    voice_input.understand_speech(np.zeros(16000, np.float32), Fake())
    assert seen.get("short") is True


@pytest.mark.slow
def test_bench_evaluates_clips(transcriber):
    say("yes")
    clips = [c for c in speech_bench.make_clips(("heldout",), rates=(8000,)) if c.text in ("no", "quit")]
    res = speech_bench.evaluate(clips, transcriber)
    assert res["heldout/question/8000"]["clips"] == 4 and 0 <= res["heldout/all"]["word_accuracy"] <= 1


def test_cli_lists_transcribe_short(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "transcribe-short", "--help"])
    assert "--split" in capsys.readouterr().out


def test_trailing_thank_you_is_dropped_only_after_other_speech(monkeypatch):
    from types import SimpleNamespace as NS

    def fake_model(texts):
        segs = [NS(start=i, end=i + 1, text=t, words=[]) for i, t in enumerate(texts)]
        return NS(transcribe=lambda audio, **kw: (iter(segs), NS(language="en")))

    tr = speech.Transcriber()
    for texts, want in (
        (["How many people are smiling?", " Thank you."], "How many people are smiling?"),
        ([" Thank you."], "Thank you."),
    ):
        monkeypatch.setattr(speech, "_faster_whisper_model", lambda *a, texts=texts: fake_model(texts))
        assert tr.transcribe(np.zeros(32000, np.float32), short=True).text == want
    assert tr.transcribe(np.zeros(32000, np.float32)).text == "Thank you."  # long-recording path unchanged
