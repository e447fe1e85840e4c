"""A user who chose the offline backend never has their words sent anywhere, even with OPENAI_API_KEY set.

Every test here turns any TCP/UDP connection (and any name lookup) into a failure, sets OPENAI_API_KEY
(and in most tests OPENAI_BASE_URL, as a user with a cloud key in their shell would have), chooses offline,
and runs an offline path: `chat --voice --backend offline` end to end with a generated recording as the
microphone, `ask --backend offline`, `session ask --backend offline`, transcription with --affect,
`analyze`, the words' emotion, and the backend setting from the environment and config.yaml.
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

    def lookup(host: object, *a: object, **k: object) -> list:
        attempts.append(("getaddrinfo", host))  # even a name lookup would tell a resolver where we meant to go
        raise AssertionError(f"name lookup of {host} on an offline path")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: guarded(self, address) or 0)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: guarded(socket.socket(), address))
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
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

    from facelens.agent.assistant.voice_input import understand_speech
    from facelens.agent.cli.assistant import input_source

    monkeypatch.delenv("FACELENS_BACKEND", raising=False)  # only the flag says offline
    captured = {}

    class FakeVoiceInput:  # the microphone itself is not available in tests: keep what chat would pass
        def __init__(self, mode, **kw):
            captured.update(kw)

    monkeypatch.setattr("facelens.agent.assistant.voice_input.VoiceInput", FakeVoiceInput)
    input_source(argparse.Namespace(voice="vad", json=False), "offline")
    assert captured["words_backend"] == "offline"
    utt = understand_speech(_speech("This is ridiculous, I am furious!"), words_backend=captured["words_backend"])
    assert (
        utt.text
        and utt.affect.label
        and not any(c.source.startswith("openai") for c in utt.affect.channels if hasattr(c, "source"))
    )


def test_backend_setting_offline_keeps_words_local(no_network, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from facelens.agent.sessions.affect import words_emotion
    from facelens.tools import config, settings

    for how in ("env", "config"):
        if how == "env":
            monkeypatch.setenv("FACELENS_BACKEND", "offline")
        else:
            monkeypatch.delenv("FACELENS_BACKEND", raising=False)
            (config.home() / "config.yaml").write_text("backend: offline\n")
        assert settings.words_llm() is None
        r = words_emotion("This is unacceptable, I am furious.")
        assert r.label == "angry" and not r.model.startswith("openai")


def test_transcribe_affect_and_session_questions_offline(
    no_network, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
) -> None:
    from facelens.agent.cli import main
    from facelens.agent.sessions import ingest as sessions
    from facelens.agent.sessions import query as session_query

    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    wav = media.write_audio(tmp_path / "call.wav", _speech("No, this is unacceptable. The delivery failed again."))
    assert main(["transcribe", str(wav), "--affect", "--json"]) == 0
    capsys.readouterr()
    sessions.ingest(wav, "call")
    a = session_query.ask("summarise this session")
    assert a.backend == "offline" and "Session call" in a.answer


@pytest.fixture
def key_only(no_network, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Only OPENAI_API_KEY: a leak would go to api.openai.com itself."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("FACELENS_BACKEND", raising=False)
    return no_network


def fake_microphone(monkeypatch: pytest.MonkeyPatch, tmp_path, text: str) -> None:
    """The chat's microphone plays a generated recording (a wav file, read back), then the user stops (Ctrl-C)."""
    from facelens.agent.assistant import voice_input as voice
    from facelens.tools import media as audio_io

    wav = media.write_audio(tmp_path / "spoken.wav", _speech(text))
    takes = [audio_io.load_audio(wav)]

    def record(mode: str = "vad", **kw: object) -> np.ndarray:
        if not takes:
            raise KeyboardInterrupt
        return takes.pop(0)

    class Device:  # sounddevice's input check passes; nothing else of it is used once record is replaced
        @staticmethod
        def check_input_settings(**kw: object) -> None:
            return None

    monkeypatch.setattr(voice, "record", record)
    monkeypatch.setattr(voice, "_sounddevice", lambda: Device)


@pytest.mark.parametrize("with_url", [False, True], ids=["key-only", "key-and-url"])
def test_cli_chat_voice_backend_offline_end_to_end(
    with_url, key_only, monkeypatch: pytest.MonkeyPatch, tmp_path, group_jpg, capsys
) -> None:
    """`facelens chat PHOTO --voice --backend offline --json`, the whole way: microphone (a generated
    recording), transcription, voice cues, the words' emotion, fusion, the planner's answer; no socket opens."""
    from facelens.agent.cli import main

    if with_url:
        monkeypatch.setenv("OPENAI_BASE_URL", "http://203.0.113.7:9/v1")
    fake_microphone(monkeypatch, tmp_path, "How many people are in this photo?")
    assert main(["chat", str(group_jpg[0]), "--voice", "--backend", "offline", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "facelens chat (offline)" in err and '"affect"' in err  # the fused estimate, as JSON on stderr
    assert "4 people" in out and "offline planner" in out  # the spoken question answered by the planner
    assert "openai" not in err.split("facelens chat (offline)")[1].lower()


def test_cli_ask_and_analyze_backend_offline(key_only, group_jpg, capsys) -> None:
    import json

    from facelens.agent.cli import main

    assert main(["ask", str(group_jpg[0]), "who looks happiest?", "--backend", "offline", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "offline"
    assert main(["analyze", str(group_jpg[0]), "--json"]) == 0
    capsys.readouterr()


def test_cli_session_ask_backend_offline(key_only, tmp_path, capsys) -> None:
    """`session ingest` and `session ask --backend offline` with only OPENAI_API_KEY set (no FACELENS_BACKEND)."""
    import json

    from facelens.agent.cli import main

    wav = media.write_audio(tmp_path / "call.wav", _speech("No, this is unacceptable. The delivery failed again."))
    assert main(["session", "ingest", str(wav), "--id", "call"]) == 0
    capsys.readouterr()
    assert main(["session", "ask", "summarise this session", "--backend", "offline", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["backend"] == "offline" and "Session call" in got["answer"]


def test_config_yaml_offline_covers_every_words_path(key_only, tmp_path, capsys) -> None:
    """backend: offline in config.yaml (no flag, no FACELENS_BACKEND): transcribe --affect, session ask,
    words' emotion and the resolved settings all stay on this machine."""
    from facelens.agent.cli import main
    from facelens.agent.sessions import ingest as sessions
    from facelens.agent.sessions import query as session_query
    from facelens.agent.sessions.affect import words_emotion
    from facelens.tools import config, settings

    (config.home() / "config.yaml").write_text("backend: offline\n")
    s = settings.resolve()
    assert (s.llm.backend, s.llm.sources["backend"], s.words.reader) == ("offline", "config", "offline")
    assert not words_emotion("I am furious about this.").model.startswith("openai")
    wav = media.write_audio(tmp_path / "call.wav", _speech("This is great, thank you so much."))
    assert main(["transcribe", str(wav), "--affect", "--json"]) == 0
    capsys.readouterr()
    sessions.ingest(wav, "thanks")
    assert session_query.ask("what was the overall mood?").backend == "offline"
