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

    store.save(
        store.SessionRecord(
            session_id="call-x",
            source="call-x.wav",
            created="2026-01-01T00:00:00+00:00",
            duration=5.0,
            has_video=False,
            has_audio=True,
            fps=1.0,
            transcript=[store.SessionSegment(start=0.0, end=2.0, text="I want a refund.", emotion="angry")],
        ),
        [],
    )
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


def test_the_offline_answers_words_are_code():
    """The sentences that were Jinja conditionals in sessions.yaml: plurals and optional clauses."""
    assert wording.people(1, "track 1 from 0:00 to 0:05") == "1 face track were seen: track 1 from 0:00 to 0:05."
    assert wording.summary_people(2, "a; b") == "2 face tracks: a; b."
    assert wording.no_such_place(9, 1, "1. call-a").startswith("There is no session 9: 1 session is stored, in ")
    assert wording.no_such_place(9, 4, "...").startswith("There is no session 9: 4 sessions are stored, in ")
    assert wording.changes_none("call-a", None) == "The face's look did not change in session call-a."
    assert wording.changes_none("call-a", "") == "The face's look did not change in session call-a."
    assert (
        wording.changes_none("call-a", "sad at 0:10")
        == "The face's look did not change in session call-a; the words were sad at 0:10."
    )
    assert wording.summary_track_mood("the face", True, "happy", "happy 80%").startswith(
        "Overall, the face looked mostly happy (happy 80% of"
    )
    assert wording.summary_track_mood("the face", False, "sad", "sad 40%").startswith(
        "Overall, the face most often looked sad (sad 40% of"
    )
    assert wording.summary_head("call-a", "0:30", "audio only", 1).endswith("audio only, 1 utterance transcribed.")
    assert wording.summary_moments_head(2) == "Key moments (2 changes of the face's look):"
    assert wording.compare_line("call-a", "0:30", "x", "10%", "n/a", "n/a", 1).endswith("; 1 change of look.")


def test_no_sessions_answer(tmp_path):
    """An empty home: the fixed reply from wording, unchanged."""
    a = session_query.ask("what was said?", backend="offline")
    assert (
        a.answer == "No sessions are stored yet. Ingest one with: facelens session ingest FILE" == wording.NO_SESSIONS
    )
