"""The rule for prose (ARCHITECTURE.md, prompts/ row) in the session analyst: prompts/sessions.yaml holds
only what the LLM reads; every sentence of the offline answers is code (agent/sessions/wording.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from facelens import prompts
from facelens.agent.sessions import query as session_query
from facelens.agent.sessions import store, wording

ROOT = Path(__file__).resolve().parents[1]


def _renders_of_sessions() -> list[tuple[str, str, str]]:
    """(file, enclosing function, key) of every ``prompts.render("sessions", KEY, ...)`` in the code."""
    found = []
    for folder in ("agent", "eval", "ui", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for call in ast.walk(fn):
                    if (
                        isinstance(call, ast.Call)
                        and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "render"
                        and call.args
                        and isinstance(call.args[0], ast.Constant)
                        and call.args[0].value == "sessions"
                    ):
                        key = call.args[1].value if isinstance(call.args[1], ast.Constant) else "<not a constant>"
                        found.append((path.relative_to(ROOT).as_posix(), fn.name, key))
    return found


def test_sessions_yaml_is_rendered_only_for_the_llm():
    """No code renders a sessions.yaml entry as user text: every render is in answer_llm, of an entry that exists."""
    renders = _renders_of_sessions()
    assert renders, "answer_llm should render its prompts from prompts/sessions.yaml"
    assert {(f, fn) for f, fn, _ in renders} == {("agent/sessions/query.py", "answer_llm")}, renders
    assert {k for *_, k in renders} == set(prompts.load("sessions"))


def test_every_sessions_yaml_entry_reaches_the_llm(monkeypatch):
    """Each entry's fixed text is in the messages the LLM is sent (a loopback OpenAI-compatible server)."""
    from tests.loopback import chat_completion, openai_server

    store.save(_audio_call("call-x", 5.0, [("I want a refund.", "angry")]), [])
    seen: dict = {}

    def respond(req: dict) -> dict:
        seen.update(req)
        return chat_completion("ok", req["model"])

    monkeypatch.setenv("FACELENS_LLM_MODEL", "test-model")
    with openai_server(respond, monkeypatch):
        assert session_query.ask("what did they want?", backend="openai").answer == "ok"
    sent = "\n".join(m["content"] for m in seen["messages"])
    for key in prompts.load("sessions"):
        for fixed in re.split(r"\{\{.*?\}\}|\{%.*?%\}", prompts.text("sessions", key)):
            assert fixed.strip() in sent, (key, fixed)


def _audio_call(sid: str, duration: float, said: list[tuple[str, str]]) -> store.SessionRecord:
    """An audio-only session: one utterance every 4 s, 2 s long, with its words' emotion."""
    return store.SessionRecord(
        session_id=sid,
        source=f"{sid}.wav",
        created="2026-01-01T00:00:00+00:00",
        duration=duration,
        has_video=False,
        has_audio=True,
        fps=1.0,
        transcript=[
            store.SessionSegment(start=4.0 * i, end=4.0 * i + 2, text=t, emotion=e) for i, (t, e) in enumerate(said)
        ],
    )


def _solo() -> store.SessionRecord:
    """One face (named "customer"), neutral for 6 s then angry for 6 s, and one utterance."""
    looks = ["neutral"] * 6 + ["angry"] * 6
    return _audio_call("solo-1", 12.0, [("One line only.", "neutral")]).model_copy(
        update={
            "source": "solo-1.mp4",
            "has_video": True,
            "emotion_model": "emotion.onnx",
            "timeline": [
                store.TimelineEntry(start=float(i), end=i + 1.0, emotion=e, confidence=0.7, track=2)
                for i, e in enumerate(looks)
            ],
            "people": [store.TrackInfo(track=2, name="customer", first_seen=0.0, last_seen=12.0, seconds=12.0)],
        }
    )


def test_plurals_and_optional_clauses_of_the_offline_answers():
    """The sentences that were Jinja conditionals in sessions.yaml: one of a kind is singular."""
    from facelens.agent.sessions import summary

    rec = _solo()
    text = summary.summarise(rec).text
    assert text.splitlines()[:2] == [
        "Session solo-1: 0:12 of video and audio, 1 utterance transcribed.",
        "1 face track: customer (track 2) on screen 0:00–0:12.",
    ]
    assert "Overall, customer (track 2) looked mostly " in text  # half the time counts as "mostly"
    assert "Key moments (1 change of the face's look):" in text
    assert summary.compare(rec, rec).splitlines()[1].endswith("; 1 change of look.")
    store.save(rec, [])
    assert session_query.ask("who was in the session?", backend="offline").answer.startswith(
        "1 face track were seen: track 2 (customer) from 0:00 to 0:12"
    )
    assert session_query.ask("summarise session 9", backend="offline").answer == (
        "There is no session 9: 1 session is stored, in `facelens session list` order: 1. solo-1. "
        "Name one by its place or its id."
    )


def test_words_that_changed_without_a_face():
    """An audio-only call whose words went neutral -> angry -> neutral: the look did not change, the words did."""
    said = [("Hi.", "neutral"), ("This is bad.", "angry"), ("Ok.", "neutral")]
    store.save(_audio_call("aud-1", 10.0, said), [])
    answer = session_query.ask("did the mood change?", backend="offline").answer
    assert answer.startswith("Yes: ")
    assert (
        "\nThe face's look did not change in session aud-1; the words were angry at 0:04, neutral at 0:08.\n" in answer
    )


def test_no_sessions_answer():
    """An empty home: the fixed reply from wording."""
    a = session_query.ask("what was said?", backend="offline")
    assert (
        a.answer == "No sessions are stored yet. Ingest one with: facelens session ingest FILE" == wording.NO_SESSIONS
    )
