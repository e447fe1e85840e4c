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
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "FACELENS_BACKEND",
    "FACELENS_OPENAI_MODEL",
    "FACELENS_LLM_MODEL",
    "FACELENS_LOCAL_MODEL",
    "FACELENS_VLM",
    "FACELENS_VLM_MODEL",
    "FACELENS_VLM_BASE_URL",
    "FACELENS_VLM_API_KEY",
    "FACELENS_LOCAL_VLM",
    "FACELENS_LOCAL_VLM_DEVICE",
    "FACELENS_SPEECH_BACKEND",
    "FACELENS_SPEECH_MODEL",
    "FACELENS_TEXT_EMOTION",
    "FACELENS_IDENTITY_STORE",
    "FACELENS_EMBEDDER",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def write_config(text: str) -> None:
    (config.home() / "config.yaml").write_text(text, encoding="utf-8")


# (resolver, flag argument, field, environment variable, config.yaml key, default, three distinct valid values)
CASES = [
    (
        settings.resolve_llm,
        "backend",
        "backend",
        "FACELENS_BACKEND",
        "backend",
        "offline",
        ("local", "openai", "offline"),
    ),
    (
        settings.resolve_llm,
        "model",
        "model",
        "FACELENS_OPENAI_MODEL",
        "openai_model",
        "gpt-4o-mini",
        ("m-config", "m-env", "m-flag"),
    ),
    (
        settings.resolve_llm,
        "base_url",
        "base_url",
        "OPENAI_BASE_URL",
        "base_url",
        "",
        ("http://c/v1", "http://e/v1", "http://f/v1"),
    ),
    (settings.resolve_vlm, "backend", "backend", "FACELENS_VLM", "vlm", "auto", ("none", "local", "openai")),
    (
        settings.resolve_vlm,
        "model",
        "model",
        "FACELENS_VLM_MODEL",
        "vlm_model",
        "gpt-4o-mini",
        ("v-config", "v-env", "v-flag"),
    ),
    (
        settings.resolve_vlm,
        "base_url",
        "base_url",
        "FACELENS_VLM_BASE_URL",
        "vlm_base_url",
        "",
        ("http://c/v1", "http://e/v1", "http://f/v1"),
    ),
    (settings.resolve_vlm, "local_model", "local_model", "FACELENS_LOCAL_VLM", "local_vlm", "", ("/c", "/e", "/f")),
    (
        settings.resolve_speech,
        "backend",
        "backend",
        "FACELENS_SPEECH_BACKEND",
        "speech_backend",
        "faster-whisper",
        ("openai-whisper", "openai", "faster-whisper"),
    ),
    (
        settings.resolve_speech,
        "model",
        "model",
        "FACELENS_SPEECH_MODEL",
        "speech_model",
        "tiny.en",
        ("base.en", "small.en", "/models/w"),
    ),
    (
        settings.resolve_words,
        "model",
        "model",
        "FACELENS_TEXT_EMOTION",
        "text_emotion",
        "",
        ("lexicon", "minilm", "lexicon"),
    ),
    (
        settings.resolve_store,
        "identity_store",
        "identity_store",
        "FACELENS_IDENTITY_STORE",
        "identity_store",
        "faiss",
        ("milvus", "faiss", "milvus"),
    ),
    (
        settings.resolve_store,
        "embedder",
        "embedder",
        "FACELENS_EMBEDDER",
        "embedder",
        "sface",
        ("dlib", "onnx", "dlib"),
    ),
]


@pytest.mark.parametrize(
    "resolver,arg,fld,env,key,default,values", CASES, ids=[f"{c[0].__name__}.{c[2]}" for c in CASES]
)
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


@pytest.mark.parametrize(
    "env,value,valid",
    [
        ("FACELENS_BACKEND", "gpt", "offline, openai, local"),
        ("FACELENS_SPEECH_BACKEND", "telepathy", "faster-whisper"),
        ("FACELENS_TEXT_EMOTION", "bert", "minilm, lexicon"),
        ("FACELENS_IDENTITY_STORE", "redis", "faiss, milvus"),
        ("FACELENS_EMBEDDER", "tensorrt", "onnx, dlib"),
    ],
)
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
    from facelens.tools import speech, text_emotion, vlm_backends

    assert settings.SPEECH_BACKENDS == speech.BACKENDS and settings.TEXT_EMOTION_MODELS == text_emotion.MODELS
    assert settings.EMBEDDERS == config.EMBEDDERS
    assert settings.VLM_CHOICES == vlm_backends.BACKEND_CHOICES  # `facelens describe --vlm` offers the registry's


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
        str(p.relative_to(root))
        for folder in ("agent", "tools", "ui", "eval", "facelens")
        for p in (root / folder).rglob("*.py")
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
    write_config(
        f"backend: openai\nbase_url: {server.url}\nopenai_model: m-config\nvlm_model: v-config\nvlm_base_url: {server.url}\n"
    )
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
    assert (
        main(
            [
                "chat",
                str(group_jpg[0]),
                "--voice",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--model",
                "m-voice",
            ]
        )
        == 0
    )
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


# --- the table ---------------------------------------------------------------------------------------

ROOT = Path(settings.__file__).resolve().parents[1]


def test_configuration_reference_is_generated_from_the_table() -> None:
    """docs/configuration.md is `python -m facelens.tools.settings --markdown`: regenerate it when the table changes."""
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == settings.markdown(), (
        "docs/configuration.md is out of date: python -m facelens.tools.settings --markdown > docs/configuration.md"
    )
    for s in settings.SETTINGS:
        assert all(f"`{var}`" in doc for var in s.env) and (not s.key or f"`{s.key}`" in doc) and s.help in doc


def test_table_entries_are_complete_and_unique() -> None:
    variables = [v for s in settings.SETTINGS for v in s.env if v.startswith("FACELENS_")]
    assert len(variables) == len(set(variables)), "a FACELENS_ variable belongs to two settings"
    keys = [s.key for s in settings.SETTINGS if s.key]
    assert len(keys) == len(set(keys))
    for s in settings.SETTINGS:
        assert s.env and s.help.endswith(".") and s.group, s.name
        assert s.type in ("str", "int", "float", "bool", "choice", "path", "url", "secret"), s.name
        assert bool(s.choices) == (s.type == "choice"), s.name
        if s.type == "choice" and s.default_value():
            assert s.default_value() in s.choices, s.name


def test_every_facelens_variable_is_in_the_table_and_read_through_it() -> None:
    """Every FACELENS_* name the code mentions is a setting of the table, and only tools/settings.py reads one
    from the environment (the others ask the table, when the value is used)."""
    known = {v for s in settings.SETTINGS for v in s.env}
    reads = re.compile(
        r"""os\.(?:environ\.get\(|getenv\()\s*["']FACELENS_|os\.environ\[\s*["']FACELENS_\w+["']\s*\](?!\s*=)"""
    )
    unknown, readers = set(), []
    for folder in ("agent", "tools", "ui", "eval", "facelens"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            unknown |= {n for n in re.findall(r"FACELENS_[A-Z0-9_]*[A-Z0-9]\b", text) if n not in known}
            if path.name != "settings.py" and reads.search(text):
                readers.append(str(path.relative_to(ROOT)))
    assert unknown == set() and readers == []


@pytest.mark.parametrize("name", [s.name for s in settings.SETTINGS if s.type in ("int", "float")])
def test_a_malformed_number_is_a_config_error_naming_its_variable(monkeypatch, name) -> None:
    var = settings.setting(name).env[0]
    monkeypatch.setenv(var, "lots")
    with pytest.raises(ConfigError, match=f"{var} must be a .*number.*'lots'") as err:
        settings.value(name)
    assert "docs/configuration.md" in err.value.hint
    monkeypatch.setenv(var, "  ")  # blank: unset, the default
    assert settings.lookup(name) == (settings.setting(name).default_value(), "default")


def test_nothing_is_read_at_import(tmp_path) -> None:
    """Malformed limits in the environment do not break an import; they are read, and refused, when used."""
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        FACELENS_HOME=str(tmp_path),
        FACELENS_IDENTITY_THRESHOLD="x",
        FACELENS_VLM_MAX_SIDE="x",
        FACELENS_VLM_MAX_IMAGE_BYTES="x",
        FACELENS_VLM_MAX_IMAGES="x",
        FACELENS_MAX_IMAGE_BYTES="x",
        FACELENS_MAX_IMAGE_PIXELS="x",
    )
    code = (
        "import facelens.tools.identity, facelens.tools.vlm_backends.openai_vision, facelens.tools.config as c\n"
        "from facelens.tools.errors import ConfigError\n"
        "try:\n    c.max_image_bytes()\nexcept ConfigError as e:\n    print(e.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "FACELENS_MAX_IMAGE_BYTES must be a whole number, not 'x'." in out.stdout, (
        out.stderr[-2000:]
    )


def test_values_are_read_when_used(monkeypatch) -> None:
    from facelens.tools import identity, media
    from facelens.tools.vlm_backends import openai_vision

    assert identity.DEFAULT_THRESHOLD == 0.53 and media.max_bytes() == 2 * 1024**3
    monkeypatch.setenv("FACELENS_IDENTITY_THRESHOLD", "0.6")
    monkeypatch.setenv("FACELENS_MAX_MEDIA_BYTES", "1000")
    monkeypatch.setenv("FACELENS_VLM_MAX_IMAGES", "1")
    assert identity.DEFAULT_THRESHOLD == 0.6 and media.max_bytes() == 1000
    import numpy as np

    from facelens.tools.errors import InputError
    from facelens.tools.vlm_backends import turn

    face = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError, match="2 images in one VLM request; the limit is 1"):
        openai_vision.OpenAIVision("m", base_url="http://127.0.0.1:9/v1").messages([turn("user", "who?", face, face)])


def test_yes_no_settings_and_the_stores_urls(monkeypatch) -> None:
    write_config("allow_cloud_images: true\nmilvus_uri: http://milvus:19530\nsessions_url: postgresql://u:p@db/s\n")
    assert config.cloud_images_allowed() is True
    monkeypatch.setenv("FACELENS_ALLOW_CLOUD_IMAGES", "")  # set but blank: no, whatever config.yaml says (as always)
    assert config.cloud_images_allowed() is False
    monkeypatch.setenv("FACELENS_ALLOW_CLOUD_IMAGES", "yes")
    assert config.cloud_images_allowed() is True and config.cloud_images_allowed(False) is False
    assert config.milvus_uri() == "http://milvus:19530" and config.sessions_url() == "postgresql://u:p@db/s"
    monkeypatch.setenv("FACELENS_MILVUS_URI", "http://other:19530")
    assert config.milvus_uri() == "http://other:19530"
    write_config("")
    monkeypatch.delenv("FACELENS_MILVUS_URI")
    assert config.milvus_uri() == str(config.home() / "gallery" / "milvus.db") and config.sessions_url() == ""
    assert config.milvus_token() is None


def test_current_lists_what_is_set_and_hides_secrets(monkeypatch, capsys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hidden")
    monkeypatch.setenv("FACELENS_SPEECH_MODEL", "base.en")
    write_config("milvus_token: user:hunter2\nvlm: none\n")
    shown = {c.setting.name: (c.value, c.source, c.where) for c in settings.current()}
    assert shown["speech_model"] == ("base.en", "env", "FACELENS_SPEECH_MODEL") and shown["vlm"] == (
        "none",
        "config",
        "vlm in config.yaml",
    )
    assert shown["openai_api_key"] == ("(set)", "env", "OPENAI_API_KEY") and shown["milvus_token"][:2] == (
        "(set)",
        "config",
    )
    assert settings.main([]) == 0
    out = capsys.readouterr().out
    assert "FACELENS_SPEECH_MODEL = base.en\n" in out and "vlm in config.yaml = none\n" in out
    assert "sk-hidden" not in out and "hunter2" not in out


def test_given_values_leave_the_environment_alone(monkeypatch, tmp_path) -> None:
    """A throwaway FACELENS_HOME given for a block (eval/bench_media.py's ingest bench): seen by every reader
    in the block, never written to os.environ, the one before back afterwards, also after an error."""
    import os

    from facelens.agent.sessions import store

    def facelens_environ() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("FACELENS_")}

    before, environ = config.home(), facelens_environ()
    with settings.given(home=str(tmp_path / "block-home")):
        assert config.home() == tmp_path / "block-home" and store.ids() == []
        assert facelens_environ() == environ
    assert config.home() == before
    with pytest.raises(RuntimeError), settings.given(home=str(tmp_path / "other")):
        assert config.home() == tmp_path / "other"
        raise RuntimeError
    assert config.home() == before and facelens_environ() == environ
    with pytest.raises(KeyError, match="no_such_setting"), settings.given(no_such_setting=1):
        pass
