"""The assistant end to end with the offline backend: Python API, conversation, CLI, bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from facelens.agent.assistant import api
from facelens.agent.assistant.chat import Assistant, chat_loop, choose_backend
from facelens.agent.cli import main
from facelens.tools.errors import ConfigError, InputError, NotFoundError


@pytest.fixture(autouse=True)
def no_llm_env(monkeypatch):
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "FACELENS_BACKEND",
        "FACELENS_LOCAL_MODEL",
        "FACELENS_ALLOW_CLOUD_IMAGES",
    ):
        monkeypatch.delenv(var, raising=False)


def test_ask_api_returns_typed_answer(group_jpg):
    a = api.ask(group_jpg[0], "who is second from the left?")
    assert a.backend == "offline" and a.llm_calls == 0
    assert [f.id for f in a.faces] == [2] and a.faces[0].clothing == "red"
    assert a.tool_calls[0].name == "analyze_scene" and a.tool_calls[0].ms >= 0
    assert set(a.model_dump()) == {"answer", "backend", "faces", "tool_calls", "llm_calls"}
    assert "offline planner" in a.text()


def test_chat_keeps_images_and_focus(group_jpg):
    chat = api.Chat([group_jpg[0]])
    assert chat.ask("what is the person on the far left feeling?").faces[0].id == 1
    a = chat.ask("and the person next to her?")
    assert [f.id for f in a.faces] == [2]
    assert chat.ask("is she the one in red?").answer.startswith("Yes")
    # the image was analysed once: later turns find it in the conversation cache (no new analysis time)
    assert sum(1 for c in chat.box.calls if c.name == "analyze_scene") == 3
    assert len(chat.box._scenes) == 1


def test_chat_loop_with_scripted_input(group_jpg, hopper_jpg):
    lines = iter(
        ["how many people?", "", f"/image {hopper_jpg}", "how many people?", "/image /nope.jpg", "quit", "never read"]
    )
    out: list[str] = []
    n = chat_loop(Assistant([group_jpg[0]]), lambda: next(lines, None), out.append)
    assert n == 2
    assert "I count 4 people" in out[0] and "I count 1 person" in out[2]
    assert out[3].startswith("facelens: The image /nope.jpg does not exist")


def test_backend_choice_order(monkeypatch):
    assert choose_backend().name == "offline"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert choose_backend().name.startswith("openai:")
    assert choose_backend("offline").name == "offline"  # the explicit choice wins
    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    assert choose_backend().name == "offline"
    with pytest.raises(NotFoundError, match="Choose one of"):
        choose_backend("gpt")


def test_every_list_of_backend_names_is_the_registrys(monkeypatch):
    """One registry (name -> factory): the settings' valid values, --backend's choices (ask, chat, live), the
    service's validation and the web app's select box are its names; each factory builds its backend."""
    import argparse

    from facelens.agent.assistant import backends
    from facelens.agent.cli import add_commands
    from facelens.agent.cli import assistant as cli_assistant
    from facelens.agent.cli import live as cli_live
    from facelens.tools import settings

    assert backends.NAMES == settings.LLM_BACKENDS == settings.setting("backend").choices
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_commands(sub, cli_assistant.COMMANDS)
    add_commands(sub, cli_live.COMMANDS)
    for command in ("ask", "chat", "live"):
        option = next(a for a in sub.choices[command]._actions if "--backend" in a.option_strings)
        assert tuple(option.choices) == backends.NAMES, command
    pytest.importorskip("fastapi")
    from facelens.agent.service import routes_photo

    assert routes_photo.BACKENDS == backends.NAMES
    with pytest.raises(InputError, match="offline, openai, local"):
        routes_photo._backend("gpt")
    pytest.importorskip("streamlit")
    from facelens.ui import common

    assert common.BACKEND_CHOICES == ("auto", *backends.NAMES)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert backends.create(settings.resolve_llm("offline")).name == "offline"
    assert backends.create(settings.resolve_llm("openai", model="m")).name == "openai:m"
    with pytest.raises(
        NotFoundError, match="/no/such/model.gguf does not exist"
    ):  # the local factory loads the model it is given
        backends.create(settings.resolve_llm("local", model="/no/such/model.gguf"))


def test_openai_without_key_is_a_config_error():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        choose_backend("openai")


def test_local_without_model_is_a_config_error():
    with pytest.raises(ConfigError, match="FACELENS_LOCAL_MODEL"):
        choose_backend("local")
    with pytest.raises(NotFoundError):
        choose_backend("local", model="/no/such/model.gguf")


@pytest.mark.parametrize("question", ["", "   ", "x" * 3000])
def test_bad_questions(group_jpg, question):
    with pytest.raises(InputError):
        api.ask(group_jpg[0], question)


def test_cli_ask_json(group_jpg, capsys):
    assert main(["ask", str(group_jpg[0]), "how many people look happy?", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"answer", "backend", "faces", "tool_calls", "llm_calls"}
    assert data["backend"] == "offline" and data["llm_calls"] == 0
    assert set(data["tool_calls"][0]) == {"name", "args", "ms"}


def test_cli_ask_text_names_the_backend(group_jpg, capsys):
    assert main(["ask", str(group_jpg[0]), "who is on the far right?", "--detector", "hog"]) == 0
    out = capsys.readouterr().out
    assert "Face 4 (far right, yellow clothing)" in out and "[answered by the offline planner (no LLM)]" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ask", "/no/such.jpg", "hi"], "does not exist"),
        (["ask", "{img}", ""], "The question is empty"),
        (["ask", "{img}", "hi", "--backend", "openai"], "OPENAI_API_KEY"),
        (["ask", "{img}", "hi", "--audio", "/no/such.wav"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line(group_jpg, capsys, argv, message):
    argv = [a.replace("{img}", str(group_jpg[0])) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 40])
def test_cli_bad_images(tmp_path, capsys, content):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    assert main(["ask", str(bad), "how many people?", "--json"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and json.loads(captured.out)["error"]


def test_cli_unknown_backend_and_detector(group_jpg):
    for extra in (["--backend", "gpt"], ["--detector", "nope"]):
        with pytest.raises(SystemExit) as exc:
            main(["ask", str(group_jpg[0]), "hi", *extra])
        assert exc.value.code == 2


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_transcript_questions_with_real_speech(tmp_path, group_jpg):
    from facelens.eval import media

    wav = media.write_audio(tmp_path / "talk.wav", media.speak("The budget meeting moves to Tuesday morning."))
    chat = Assistant([group_jpg[0]], audio=wav)
    a = chat.ask("did anyone mention the budget?")
    assert a.answer.startswith('Yes, "budget" comes up') and a.tool_calls[-1].name == "transcribe_audio"
    assert chat.ask("did they talk about holidays?").answer.startswith('No, "holidays" does not come up')
    assert "Tuesday" in api.ask(None, "what was said in the audio?", audio=wav).answer
    # an audio file in the image slot is taken as the audio (facelens ask talk.wav "...")
    assert "Tuesday" in api.ask(wav, "what was said?").answer
