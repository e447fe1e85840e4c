"""The agent loop with a scripted chat model (no server): tool calls run, results flow back,
failures become readable errors, calls are counted, the conversation goes on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from facelens.agent.assistant.backends.openai import OpenAIBackend
from facelens.agent.assistant.chat import Assistant


class ScriptedChatModel(BaseChatModel):
    """Replies from a script; a callable step gets the messages so it can read tool results."""

    script: list[Any]
    seen: list[list[BaseMessage]] = []
    bound_tools: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, **kwargs):
        self.bound_tools = [getattr(t, "name", None) or t["function"]["name"] for t in tools]
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.seen.append(list(messages))
        step = self.script.pop(0)
        msg = step(messages) if callable(step) else step
        return ChatResult(generations=[ChatGeneration(message=msg)])


def call(name: str, args: dict, i: int = 1) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"c{i}", "type": "tool_call"}])


def last_tool(messages) -> str:
    return [m for m in messages if isinstance(m, ToolMessage)][-1].content


@pytest.fixture
def chat(group_jpg):
    def make(script):
        model = ScriptedChatModel(script=script, seen=[])
        return Assistant([group_jpg[0]], backend=OpenAIBackend("scripted", chat_model=model)), model

    return make


def test_tool_call_then_answer(chat):
    assistant, model = chat(
        [
            call("find_people", {"description": "the one in green"}),
            lambda m: AIMessage(content=f"Found: {last_tool(m)}"),
        ]
    )
    a = assistant.ask("who wears green?")
    assert a.llm_calls == 2 and [c.name for c in a.tool_calls] == ["analyze_scene", "find_people"]
    assert '"faces": [3]' in a.answer and a.tool_calls[1].args == {"description": "the one in green"}
    assert "find_people" in model.bound_tools and "compare_faces" in model.bound_tools


def test_failing_tool_becomes_error_text(chat):
    assistant, _ = chat([call("compare_faces", {"face_a": 1, "face_b": 12}), lambda m: AIMessage(content=last_tool(m))])
    a = assistant.ask("are face 1 and face 12 the same?")
    assert json.loads(a.answer)["error"].startswith("There is no face 12")


def test_transcribe_without_audio_is_readable(chat):
    assistant, _ = chat([call("transcribe_audio", {}), lambda m: AIMessage(content=last_tool(m))])
    assert "No audio was given" in assistant.ask("what did they say?").answer


def test_session_tool_without_sessions_is_readable(chat):
    assistant, model = chat(
        [
            call("query_sessions", {"question": "when did the customer get angry?"}),
            lambda m: AIMessage(content=last_tool(m)),
        ]
    )
    a = assistant.ask("when did the customer get angry?")
    assert "query_sessions" in model.bound_tools and a.tool_calls[-1].name == "query_sessions"
    assert "No sessions are stored yet" in a.answer  # a fresh FACELENS_HOME


def test_images_stay_local_by_default(chat):
    assistant, model = chat(
        [call("describe_person", {"face": 2, "question": "glasses?"}), lambda m: AIMessage(content=last_tool(m))]
    )
    a = assistant.ask("does the person in red wear glasses?")
    assert assistant.box.allow_cloud_images is False
    assert '"images_left_machine": false' in a.answer and "sent to" not in a.answer


def test_answer_says_when_a_crop_left_the_machine(chat, monkeypatch):
    from facelens.tools import vlm

    def fake_describe(image, face_id, **kw):  # stands in for a cloud VLM; checks the permission is passed on
        assert kw["allow_cloud"] is True
        return vlm.FaceDescription(
            face_id=face_id, backend="openai:gpt-4o", status="ok", expression="smiling", images_left_machine=True
        )

    monkeypatch.setattr(vlm, "describe_face", fake_describe)
    monkeypatch.setenv("FACELENS_ALLOW_CLOUD_IMAGES", "1")
    assistant, _ = chat([call("describe_person", {"face": 2}), AIMessage(content="Face 2 is smiling.")])
    a = assistant.ask("what is face 2 doing?")
    assert a.answer.startswith("Face 2 is smiling.") and "a crop of the photo was sent to openai:gpt-4o" in a.answer


def test_conversation_carries_history_and_focus(chat):
    assistant, model = chat(
        [
            AIMessage(content="Face 1 (far left, blue clothing)."),
            AIMessage(content="Face 2 (second from left, red clothing)."),
        ]
    )
    assert [f.id for f in assistant.ask("who is on the far left?").faces] == [1]
    a = assistant.ask("and the person next to her?")
    assert [f.id for f in a.faces] == [2] and a.llm_calls == 1
    texts = [m.content for m in model.seen[1]]
    assert "who is on the far left?" in texts and "Face 1 (far left, blue clothing)." in texts
    # the facts of the image are computed once and reused
    assert len(assistant.box._scenes) == 1
