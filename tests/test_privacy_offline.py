"""A user who chose the offline backend never has their words sent anywhere, even with OPENAI_API_KEY set.

Every test here turns any TCP/UDP connection into a failure, sets OPENAI_API_KEY and OPENAI_BASE_URL
(as a user with a cloud key in their shell would have), chooses offline, and runs an offline path:
spoken chat turns, the UI's voice path, transcription with --affect, session questions.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from facelens.eval import media
from facelens.tools.errors import DependencyError


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple]]:
    attempts: list[tuple] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append((self.family, address))
            raise AssertionError(f"network connection attempted to {address} on an offline path")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: guarded(self, address) or 0)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: guarded(socket.socket(), address))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-cloud-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://203.0.113.7:9/v1")  # TEST-NET-3: never reachable
    yield attempts
    assert attempts == []


def _speech(text: str) -> np.ndarray:
    try:
        return np.concatenate([media.speak(text), np.zeros(6000, np.float32)])
    except DependencyError as exc:
        pytest.skip(f"needs espeak-ng: {exc}")


def test_chat_voice_backend_offline_keeps_words_local(no_network, monkeypatch: pytest.MonkeyPatch) -> None:
    """`facelens chat --voice --backend offline`: the voice input reads the words offline."""
    import argparse

    from facelens.agent.cli.assistant import input_source
    from facelens.agent.voice_input import understand

    monkeypatch.delenv("FACELENS_BACKEND", raising=False)  # only the flag says offline
    captured = {}

    class FakeVoiceInput:  # the microphone itself is not available in tests: keep what chat would pass
        def __init__(self, mode, **kw):
            captured.update(kw)

    monkeypatch.setattr("facelens.agent.voice_input.VoiceInput", FakeVoiceInput)
    input_source(argparse.Namespace(voice="vad", json=False), "offline")
    assert captured["words_backend"] == "offline"
    utt = understand(_speech("This is ridiculous, I am furious!"), words_backend=captured["words_backend"])
    assert utt.text and utt.affect.label and not any(c.source.startswith("openai") for c in utt.affect.channels if hasattr(c, "source"))


def test_backend_setting_offline_keeps_words_local(no_network, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from facelens.agent.affect import words_emotion
    from facelens.tools import config

    for how in ("env", "config"):
        if how == "env":
            monkeypatch.setenv("FACELENS_BACKEND", "offline")
        else:
            monkeypatch.delenv("FACELENS_BACKEND", raising=False)
            (config.home() / "config.yaml").write_text("backend: offline\n")
        assert config.text_backend() == "offline"
        r = words_emotion("This is unacceptable, I am furious.")
        assert r.label == "angry" and not r.model.startswith("openai")


def test_transcribe_affect_and_session_questions_offline(no_network, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    from facelens.agent import session_query, sessions
    from facelens.agent.cli import main

    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    wav = media.write_audio(tmp_path / "call.wav", _speech("No, this is unacceptable. The delivery failed again."))
    assert main(["transcribe", str(wav), "--affect", "--json"]) == 0
    capsys.readouterr()
    sessions.ingest(wav, "call")
    a = session_query.ask("summarise this session")
    assert a.backend == "offline" and "Session call" in a.answer
