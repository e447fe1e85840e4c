"""tools/settings.py (flag > environment > config.yaml > default, with sources) and tools/openai_client.py
(one factory for OpenAI-compatible clients; the host's key only to the endpoint the host configured)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from facelens.tools import config, settings
from facelens.tools.errors import ConfigError
from facelens.tools.openai_client import make_chat_model, make_client
from tests.test_agent_openai import FakeOpenAI

ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "FACELENS_BACKEND", "FACELENS_OPENAI_MODEL", "FACELENS_LLM_MODEL", "FACELENS_LOCAL_MODEL",
    "FACELENS_VLM", "FACELENS_VLM_MODEL", "FACELENS_VLM_BASE_URL", "FACELENS_VLM_API_KEY", "FACELENS_LOCAL_VLM",
    "FACELENS_LOCAL_VLM_DEVICE", "FACELENS_SPEECH_BACKEND", "FACELENS_SPEECH_MODEL", "FACELENS_TEXT_EMOTION",
    "FACELENS_IDENTITY_STORE", "FACELENS_EMBEDDER",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def write_config(text: str) -> None:
    (config.home() / "config.yaml").write_text(text, encoding="utf-8")


# (resolver, flag argument, field, environment variable, config.yaml key, default, three distinct valid values)
CASES = [
    (settings.resolve_llm, "backend", "backend", "FACELENS_BACKEND", "backend", "offline", ("local", "openai", "offline")),
    (settings.resolve_llm, "model", "model", "FACELENS_OPENAI_MODEL", "openai_model", "gpt-4o-mini", ("m-config", "m-env", "m-flag")),
    (settings.resolve_llm, "base_url", "base_url", "OPENAI_BASE_URL", "base_url", "", ("http://c/v1", "http://e/v1", "http://f/v1")),
    (settings.resolve_vlm, "backend", "backend", "FACELENS_VLM", "vlm", "auto", ("none", "local", "openai")),
    (settings.resolve_vlm, "model", "model", "FACELENS_VLM_MODEL", "vlm_model", "gpt-4o-mini", ("v-config", "v-env", "v-flag")),
    (settings.resolve_vlm, "base_url", "base_url", "FACELENS_VLM_BASE_URL", "vlm_base_url", "", ("http://c/v1", "http://e/v1", "http://f/v1")),
    (settings.resolve_vlm, "local_model", "local_model", "FACELENS_LOCAL_VLM", "local_vlm", "", ("/c", "/e", "/f")),
    (settings.resolve_speech, "backend", "backend", "FACELENS_SPEECH_BACKEND", "speech_backend", "faster-whisper", ("openai-whisper", "openai", "faster-whisper")),
    (settings.resolve_speech, "model", "model", "FACELENS_SPEECH_MODEL", "speech_model", "tiny.en", ("base.en", "small.en", "/models/w")),
    (settings.resolve_words, "model", "model", "FACELENS_TEXT_EMOTION", "text_emotion", "", ("lexicon", "minilm", "lexicon")),
    (settings.resolve_store, "identity_store", "identity_store", "FACELENS_IDENTITY_STORE", "identity_store", "faiss", ("milvus", "faiss", "milvus")),
    (settings.resolve_store, "embedder", "embedder", "FACELENS_EMBEDDER", "embedder", "sface", ("dlib", "onnx", "dlib")),
]


@pytest.mark.parametrize("resolver,arg,fld,env,key,default,values", CASES, ids=[f"{c[0].__name__}.{c[2]}" for c in CASES])
def test_flag_beats_env_beats_config_beats_default(monkeypatch, resolver, arg, fld, env, key, default, values) -> None:
    def got(**flag):
        r = resolver(**flag) if arg != "backend" else resolver(flag.get(arg))
        return getattr(r, fld), r.sources[fld if fld in r.sources else "reader"]

    conf_value, env_value, flag_value = values
    assert got() == (default, "default")
    write_config(f"{key}: {conf_value}\n")
    assert got() == (conf_value, "config")
    monkeypatch.setenv(env, env_value)
    assert got() == (env_value, "env")
    assert got(**{arg: flag_value}) == (flag_value, "flag")


def test_llm_backend_without_a_choice_follows_what_is_configured(monkeypatch) -> None:
    assert settings.resolve_llm().backend == "offline"
    monkeypatch.setenv("FACELENS_LOCAL_MODEL", "smollm2")
    s = settings.resolve_llm()
    assert (s.backend, s.model, s.sources["backend"]) == ("local", "smollm2", "env")
    write_config("base_url: http://127.0.0.1:1/v1\n")
    s = settings.resolve_llm()
    assert (s.backend, s.sources["backend"]) == ("openai", "config")  # an LLM server comes before a local model
    write_config("")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    s = settings.resolve_llm()
    assert (s.backend, s.api_key_source, s.sources["backend"]) == ("openai", "env:OPENAI_API_KEY", "env")


def test_llm_model_aliases_and_local_model(monkeypatch) -> None:
    monkeypatch.setenv("FACELENS_LLM_MODEL", "older-name")
    assert settings.resolve_llm("openai").model == "older-name"  # FACELENS_LLM_MODEL: still honoured
    monkeypatch.setenv("FACELENS_OPENAI_MODEL", "newer-name")
    assert settings.resolve_llm("openai").model == "newer-name"
    write_config("local_model: /models/tiny.gguf\n")
    assert settings.resolve_llm("local").model == "/models/tiny.gguf"
    assert settings.resolve_llm("local", model="smollm2").model == "smollm2"
    assert settings.resolve_speech("openai").model == "whisper-1"  # the openai speech backend's own default


@pytest.mark.parametrize("env,value,valid", [
    ("FACELENS_BACKEND", "gpt", "offline, openai, local"),
    ("FACELENS_SPEECH_BACKEND", "telepathy", "faster-whisper"),
    ("FACELENS_TEXT_EMOTION", "bert", "minilm, lexicon"),
    ("FACELENS_IDENTITY_STORE", "redis", "faiss, milvus"),
    ("FACELENS_EMBEDDER", "tensorrt", "onnx, dlib"),
])
def test_unknown_values_name_the_valid_ones(monkeypatch, env, value, valid) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=value) as err:
        settings.resolve()
    assert valid in err.value.hint and f"(from the environment; set by {env} /" in err.value.message


def test_bad_config_yaml_is_a_clear_error() -> None:
    write_config("backend: [offline\n")
    with pytest.raises(ConfigError, match="config.yaml"):
        settings.resolve()
    write_config("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        settings.resolve_llm()


def test_settings_are_json_and_never_hold_a_key(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    monkeypatch.setenv("FACELENS_VLM_API_KEY", "sk-vlm-secret")
    s = settings.resolve()
    text = json.dumps(s.to_dict())
    assert "secret" not in text and "secret" not in repr(s)
    assert s.to_dict()["llm"]["api_key_source"] == "env:OPENAI_API_KEY"
    assert s.to_dict()["vlm"]["api_key_source"] == "env:FACELENS_VLM_API_KEY"
    typed = settings.resolve_llm("openai", base_url="http://x/v1", api_key="sk-typed", environment_key=False)
    assert "sk-typed" not in repr(typed) + json.dumps(typed.to_dict()) and typed.api_key_source == "given"
    assert set(s.to_dict()) == {"llm", "vlm", "speech", "words", "store"}


def test_words_reader_follows_the_users_choice(monkeypatch) -> None:
    """The words' reader's rule: a choice decides; with none, only a key or URL in the environment means openai."""
    assert settings.words_llm() is None
    write_config("base_url: http://127.0.0.1:1/v1\n")
    assert settings.words_llm() is None  # config.yaml's base_url alone never sent words (unchanged)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert settings.words_llm().base_url == "http://127.0.0.1:1/v1"
    for choice in ("offline", "local", "misspelt"):
        monkeypatch.setenv("FACELENS_BACKEND", choice)
        assert settings.words_llm() is None, choice
    monkeypatch.delenv("FACELENS_BACKEND")
    write_config("backend: local\n")
    assert settings.words_llm() is None
    offline = settings.resolve_llm("offline")
    assert settings.words_llm(offline) is None and settings.words_llm("offline") is None
    flagged = settings.resolve_llm("openai", base_url="http://127.0.0.1:2/v1", model="m-flag")
    assert settings.words_llm(flagged) is flagged  # a chat's own settings reach its voice path as they are


def test_config_wrappers_keep_their_names(monkeypatch) -> None:
    assert config.embedder() == "sface" and config.identity_store() == "faiss"
    write_config("embedder: dlib\nidentity_store: milvus\n")
    assert config.embedder() == "dlib" and config.identity_store() == "milvus"
    from facelens.tools import speech, text_emotion

    assert settings.SPEECH_BACKENDS == speech.BACKENDS and settings.TEXT_EMOTION_MODELS == text_emotion.MODELS
    assert settings.EMBEDDERS == config.EMBEDDERS


# --- the one client factory ------------------------------------------------------------------------


@pytest.fixture
def server():
    srv = FakeOpenAI([])
    yield srv
    srv.close()


def _call(client) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_host_key_goes_to_the_configured_endpoint(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    _call(make_client(settings.resolve_llm("openai"), purpose="a test"))
    write_config(f"base_url: {server.url}\n")
    monkeypatch.delenv("OPENAI_BASE_URL")
    _call(make_client(settings.resolve_llm("openai"), purpose="a test"))  # config.yaml's endpoint is the host's too
    make_chat_model(settings.resolve_llm("openai"), model="m", purpose="a test").invoke("hi")
    assert server.authorization == ["Bearer sk-host"] * 3


def test_url_from_elsewhere_gets_only_its_own_key(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host")
    typed = settings.resolve_llm("openai", base_url=server.url, environment_key=False)
    _call(make_client(typed, purpose="a test"))
    with_key = settings.resolve_llm("openai", base_url=server.url, api_key="sk-typed", environment_key=False)
    _call(make_client(with_key, purpose="a test"))
    make_chat_model(typed, model="m", purpose="a test").invoke("hi")
    assert server.authorization == ["Bearer not-needed", "Bearer sk-typed", "Bearer not-needed"]


def test_no_key_and_no_server_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as err:
        make_client(settings.resolve_llm("openai"), purpose="the words' emotion")
    assert "the words' emotion" in err.value.message


def test_every_openai_caller_goes_through_the_factory() -> None:
    """No module builds an OpenAI or ChatOpenAI client itself: tools/openai_client.py is the one place."""
    root = Path(settings.__file__).resolve().parents[1]
    pattern = re.compile(r"\b(?:OpenAI|ChatOpenAI|AsyncOpenAI)\((?!-compatible)")  # a call, not "OpenAI(-compatible)"
    offenders = [
        str(p.relative_to(root)) for folder in ("agent", "tools", "ui", "eval", "facelens") for p in (root / folder).rglob("*.py")
        if p.name != "openai_client.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_callers_use_the_resolved_settings(server, monkeypatch) -> None:
    """The words' emotion, session answers, openai transcription and the vision model all reach the
    endpoint and model the resolver chose (config.yaml here), with the host's key."""
    from facelens.agent.assistant.backends.openai import OpenAIBackend
    from facelens.agent.sessions.affect import words_emotion
    from facelens.tools import speech
    from facelens.tools.vlm_backends import make_backend

    monkeypatch.setenv("OPENAI_API_KEY", "sk-host")
    write_config(f"backend: openai\nbase_url: {server.url}\nopenai_model: m-config\nvlm_model: v-config\nvlm_base_url: {server.url}\n")
    server.script = [("text", '{"scores": {"angry": 0.9, "neutral": 0.1}, "evidence": ["furious"]}')]
    assert words_emotion("I am furious").model == "openai:m-config"
    assert OpenAIBackend().model == "m-config" and OpenAIBackend(model="m-flag").model == "m-flag"
    _call(speech._openai_client())
    vlm = make_backend("openai")
    assert vlm.name == "openai:v-config@" + server.url and vlm.local
    _call(vlm._get_client())
    assert [r["model"] for r in server.requests] == ["m-config", "m", "m"]
    assert server.authorization == ["Bearer sk-host"] * 3


def test_chat_flags_reach_the_voice_path(server, monkeypatch, tmp_path, capsys, group_jpg) -> None:
    """`chat --voice --backend openai --base-url URL --model M`: the spoken words' emotion goes to URL with
    model M (the chat's own settings), not to OPENAI_BASE_URL or api.openai.com; nothing else is contacted."""
    from facelens.agent.cli import main
    from tests.test_privacy_offline import fake_microphone

    real_connect = socket.socket.connect
    elsewhere: list[object] = []

    def loopback_only(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            elsewhere.append(address)
            raise AssertionError(f"connection to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host")
    fake_microphone(monkeypatch, tmp_path, "This is ridiculous, I am furious.")
    server.script = [("text", '{"scores": {"angry": 1.0}, "evidence": ["furious"]}'), ("text", "I hear you.")]
    assert main(["chat", str(group_jpg[0]), "--voice", "--backend", "openai", "--base-url", server.url, "--model", "m-voice"]) == 0
    assert "I hear you." in capsys.readouterr().out
    assert elsewhere == [] and [r["model"] for r in server.requests] == ["m-voice", "m-voice"]


def test_config_yaml_is_parsed_once_and_again_when_it_changes(monkeypatch) -> None:
    """One question read config.yaml three times; now it is parsed once per process, and an edit is seen."""
    import yaml

    path = config.home() / "config.yaml"
    path.write_text("backend: offline\nopenai_model: a\n", encoding="utf-8")
    calls = []
    real = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda text: calls.append(1) or real(text))
    first = config.settings()
    first["openai_model"] = "changed by a caller"  # callers get copies: the cache is not theirs to change
    assert config.settings()["openai_model"] == "a" and len(calls) == 1
    path.write_text("backend: offline\nopenai_model: b\n", encoding="utf-8")  # same size, same second
    assert config.settings()["openai_model"] == "b" and len(calls) == 2
    path.unlink()
    assert config.settings() == {}
    path.write_text("- not\n- a mapping\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        config.settings()
