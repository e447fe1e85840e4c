"""Session questions the way analysts ask them (issue 24): which sessions an answer used, "session 2"
in list order, searches over every session, rankings both ways, mood changes beyond the top label,
the angry family of the words, ``--session all``, and track names in exports and plots.

The four generated sessions are the ones ``facelens eval session-questions`` stores (eval/session_questions.py):
1. call-b (calm, mentions a refund), 2. call-c (happy fading to sad, "I am frustrated and disappointed"),
3. call-d (the face stays "happy" while its score falls 0.9 -> 0.45, the words go happy -> sad), 4. call-a
(the latest: neutral -> angry -> happy, "I will refund you today" at 0:17). The words' emotion of call-c and
call-d is read by the real text-emotion model.
"""

from __future__ import annotations

import csv
import io

import pytest

from facelens.agent.cli import main
from facelens.agent.sessions import query as session_query
from facelens.agent.sessions import store

IDS = ["call-b", "call-c", "call-d", "call-a"]


@pytest.fixture(scope="module")
def four_home():
    """The eval's four sessions, stored once for the module in their own FACELENS_HOME (copied per test)."""
    import shutil
    import tempfile

    from facelens.eval import session_questions as sq

    keep = tempfile.mkdtemp(prefix="facelens-sq-test-")
    with sq._sessions(keep):  # stored in keep (the eval's home argument), not in a temporary folder
        pass
    yield keep
    shutil.rmtree(keep, ignore_errors=True)


@pytest.fixture
def four(four_home, monkeypatch, tmp_path):
    import shutil

    home = tmp_path / "four"
    shutil.copytree(four_home, home)
    monkeypatch.setenv("FACELENS_HOME", str(home))
    return home


def ask(q: str, session: str | None = None):
    return session_query.ask(q, session, backend="offline")


def test_list_order_is_the_stored_order(four):
    assert store.ids() == IDS and [r.session_id for r in store.load_all()] == IDS


@pytest.mark.parametrize(
    "question",
    ["summarise session 2", "summarize the second call", "what happened in the 2nd session?", "recap of call #2"],
)
def test_session_n_is_the_nth_in_list_order(four, question):
    a = ask(question)
    assert a.sessions == ["call-c"] and "Session call-c" in a.answer and "call-a" not in a.answer


def test_a_matching_id_wins_over_the_place(monkeypatch, tmp_path):
    from facelens.eval.session_questions import _record

    for sid, day in (
        ("call-3", 1),
        ("call-2", 2),
        ("call", 3),
    ):  # call-2 is second in list order by chance: make it not
        store.save(
            _record(
                sid, ["neutral"] * 5, [(0.0, 2.0, f"hello from {sid}", "neutral")], f"2026-01-0{day}T00:00:00+00:00"
            ),
            [],
        )
    store.save(
        _record("call-9", ["neutral"] * 5, [], "2025-12-31T00:00:00+00:00"), []
    )  # list order: call-9, call-3, call-2, call
    assert ask("summarise call 2").sessions == ["call-2"]  # the id "call-2", not the second in the list (call-3)
    assert ask("summarise session 2").sessions == ["call-3"]  # no id "session-2": the second in list order
    assert ask("summarise the last call").sessions == ["call"]


@pytest.mark.parametrize(
    "question", ["compare the first and second calls", "compare sessions 1 and 2", "session 1 vs session 2"]
)
def test_compare_by_place(four, question):
    a = ask(question)
    assert a.sessions == ["call-b", "call-c"] and "side by side" in a.answer


def test_a_place_no_session_has_is_said_not_replaced(four):
    a = ask("summarise session 9")
    assert (
        a.sessions == []
        and "There is no session 9" in a.answer
        and "4 sessions are stored" in a.answer
        and "2. call-c" in a.answer
    )
    assert "no session 5" in ask("what happened in the fifth call").answer
    assert "There is no session 0" in ask("summarise session 0").answer


@pytest.mark.parametrize(
    "question",
    [
        "did anyone mention a refund?",
        "which calls mention a refund",
        "search all calls for refund",
        "was a refund brought up in any session?",
    ],
)
def test_transcript_search_across_sessions(four, question):
    a = ask(question)
    assert a.sessions == IDS
    for part in (
        "call-b",
        "0:05",
        "I was going to ask for a refund",
        "call-a",
        "0:17",
        "I will refund you today",
        "Not said in: call-c, call-d",
    ):
        assert part in a.answer, (part, a.answer)
    assert {e.session_id for e in a.evidence} == {"call-b", "call-a"}
    if question.startswith(("did", "was")):
        assert a.answer.startswith("Yes: ")
    assert ask("did anyone mention a discount?").answer.startswith("No: ")


def test_the_ui_scope_all_sessions_and_session_all(four, capsys):
    a = ask("did they mention a refund?", "All")  # the UI's "all sessions" passes "all" (any case)
    assert a.sessions == IDS and a.answer.startswith("Yes: ") and "call-b" in a.answer
    a = ask("when did the customer look sad?", "all")
    assert a.sessions == IDS and all(f"{s} (" in a.answer for s in IDS) and "The face looked sad" in a.answer
    assert main(["session", "ask", "did anyone mention a refund?", "--session", "all", "--backend", "offline"]) == 0
    out = capsys.readouterr().out
    assert "call-b" in out and "I will refund you today" in out
    assert ask("summarise this session", "call-b").sessions == ["call-b"]  # one session chosen: only that one
    a = ask("did any customer look sad?")  # "any customer": every session, per session
    assert a.sessions == IDS and a.answer.startswith("Yes: ") and "call-c (0:40): " in a.answer
    a = ask("did the customer look sad?")  # no session named, none asked across: the latest only
    assert a.sessions == ["call-a"] and a.answer.startswith("No: ") and "(session call-a" in a.answer


def test_session_all_with_nothing_stored():
    assert "No sessions are stored yet" in ask("did anyone mention a refund?", "all").answer


@pytest.mark.parametrize(
    "question,first",
    [
        ("which call was most negative?", "call-c"),
        ("which session was the worst", "call-c"),
        ("which call was the angriest?", "call-a"),
        ("which call was the calmest?", "call-b"),
        ("which session was least angry", "call-b"),
        ("which call was the happiest?", "call-d"),
        ("what was the most positive call", "call-d"),
        ("rank the calls from most to least negative", "call-c"),
    ],
)
def test_rankings_both_ways(four, question, first):
    from facelens.eval.session_questions import _ranked

    a = ask(question)
    assert a.sessions == IDS and _ranked(a.answer)[:1] == [first], a.answer


def test_ranking_from_the_least_lists_every_session(four):
    from facelens.eval.session_questions import _ranked

    a = ask("which call was the calmest?")
    assert (
        sorted(_ranked(a.answer)) == sorted(IDS)
        and _ranked(a.answer)[-1] == "call-c"
        and "from the least negative" in a.answer
    )


def test_mood_change_from_the_smoothed_scores_and_the_words(four):
    """The issue's example: the top label stays "happy" while the happy score falls 0.9 -> 0.45 and the words go happy -> sad."""
    from facelens.agent.sessions.summary import mood_arc

    d = store.load("call-d")
    assert {p.emotion for p in mood_arc(d) if p.track == 2} == {"happy"}  # no change of the top label
    a = ask("when did the mood change in call-d?")
    assert a.sessions == ["call-d"] and "did not change" not in a.answer
    assert "The face's happy score (smoothed) fell from 0.8" in a.answer and "to 0.4" in a.answer
    assert "The words went from happy (0:00) to sad (0:16" in a.answer and "(session call-d" in a.answer
    assert ask("did the mood change in the third call?").answer.startswith("Yes: ")
    s = ask("summarise call-d").answer
    assert "happy score (smoothed) fell" in s and "The face's look did not change" not in s


def test_a_steady_session_did_not_change(four):
    a = ask("did the mood change in session 1?")
    assert (
        a.answer.startswith("No: ")
        and "did not change" in a.answer
        and "(session call-b" in a.answer
        and a.sessions == ["call-b"]
    )


def test_score_trend_needs_a_real_move():
    from facelens.agent.sessions.summary import score_trends
    from facelens.tools.schema import EMOTIONS

    def secs(values):
        out = []
        for i, h in enumerate(values):
            sc = {e: (h if e == "happy" else (1 - h) / 6) for e in EMOTIONS}
            out.append(store.SecondScores(track=1, t=float(i), label="happy", confidence=h, scores=sc))
        return out

    rec = store.SessionRecord(
        session_id="x", source="x", created=store.now(), duration=30.0, has_video=True, has_audio=False, fps=1.0
    )
    steady = [0.8 + (0.03 if i % 2 else -0.03) for i in range(30)]  # noise around 0.8
    assert score_trends(rec, secs(steady)) == []
    falling = [0.9 - 0.45 * i / 29 for i in range(30)]
    (tr,) = [t for t in score_trends(rec, secs(falling)) if t.emotion == "happy"]
    assert tr.direction == "fell" and tr.before > 0.85 and tr.after < 0.5 and tr.start < 3 and tr.end > 26
    assert score_trends(rec, []) == [] and score_trends(rec, secs([0.9, 0.1])) == []  # no scores, too short


def test_frustrated_and_disappointed_words_read_angry():
    from facelens.tools.text_emotion import classify_lexicon, classify_text

    for text in ("I am frustrated and disappointed.", "I am disappointed.", "This is so annoying."):
        assert classify_text(text).label == "angry", text
        assert classify_lexicon(text).label == "angry", text
    assert classify_text("I am not disappointed at all.").label != "angry"
    assert classify_text("I am so sad and disappointed.").scores["sad"] > 0  # a sad word keeps its sadness


def test_which_sessions_had_a_frustrated_customer(four):
    from facelens.eval.session_questions import _ranked

    c = store.load("call-c")
    assert next(s for s in c.transcript if "frustrated" in s.text).emotion == "angry"
    for q in (
        "which sessions had a frustrated customer",
        "which calls had a disappointed customer?",
        "which sessions had an annoyed customer",
    ):
        a = ask(q)
        assert sorted(_ranked(a.answer)) == ["call-a", "call-c"] and "No " in a.answer and "call-b" in a.answer, (
            a.answer
        )


@pytest.mark.parametrize(
    "question",
    [
        "summarise session 2",
        "did anyone mention a refund?",
        "which call was most negative?",
        "when did the customer look angry?",
        "what did they say at 0:07?",
        "who was in the call?",
        "compare call-a and call-b",
        "what was the overall mood?",
        "show the transcript",
        "what caused the frustration",
    ],
)
def test_every_answer_names_its_sessions(four, question):
    a = ask(question)
    assert a.sessions and all(s in a.answer for s in a.sessions), a.answer


def test_csv_export_and_plot_use_track_names(four, tmp_path, monkeypatch):
    from facelens.agent.sessions import report as session_report

    rows = list(csv.DictReader(io.StringIO(session_report.export("call-d", "csv"))))
    faces = [r for r in rows if r["kind"] == "face"]
    assert {r["name"] for r in faces if r["track"] == "2"} == {"customer"} and {
        r["name"] for r in faces if r["track"] == "1"
    } == {""}
    labels = []
    import matplotlib.figure

    real = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **kw):
        labels.extend(ax.get_ylabel() for ax in fig.axes)
        return real(fig, *a, **kw)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    out = session_report.plot("call-d", tmp_path / "d.png")
    assert out.stat().st_size > 0 and any(lab.startswith("customer (track 2)") for lab in labels), labels


def test_ui_scope_all_sessions_searches_every_session(four, monkeypatch):
    """The Sessions page with the scope "all sessions": the transcript search finds the first call's refund."""
    from pathlib import Path

    testing = pytest.importorskip("streamlit.testing.v1")
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FACELENS_LOCAL_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    at = testing.AppTest.from_file(str(Path(__file__).resolve().parents[1] / "ui" / "app.py"), default_timeout=90)
    at.run()
    at.sidebar.radio(key="nav_page").set_value("Sessions").run()
    at.radio(key="ses_scope").set_value("all sessions").run()
    at.chat_input(key="ses_question").set_value("did they mention a refund?").run()
    assert not at.exception, [e.value for e in at.exception]
    reply = at.chat_message[-1]
    answer = reply.markdown[0].value
    assert answer.startswith("Yes") and "call-b" in answer and "call-a" in answer
    assert all(s in reply.caption[0].value for s in IDS)  # "answered by ... from call-b, call-c, call-d, call-a"


def test_track_names_follow_the_people_name_rules(tmp_path):
    """A track name with a Hangul filler (U+3164) or a Cyrillic look-alike is refused like a person's name."""
    from facelens.agent.sessions import store
    from facelens.tools.errors import InputError

    rec = store.SessionRecord(
        session_id="t1",
        source="x.wav",
        created=store.now(),
        duration=10.0,
        has_video=True,
        has_audio=False,
        fps=1.0,
        people=[
            store.TrackInfo(track=1, first_seen=0.0, last_seen=5.0, seconds=5),
            store.TrackInfo(track=2, first_seen=0.0, last_seen=5.0, seconds=5),
        ],
    )
    store.save(rec, [])
    assert store.name_track("t1", 1, "Ａｌｉｃｅ").people[0].name == "Alice"  # NFKC
    for bad in ("custo\u3164mer", "\u2800", "Аlice"):
        with pytest.raises(InputError):
            store.name_track("t1", 2, bad)


def test_the_eval_home_is_passed_down_not_configured(monkeypatch, tmp_path):
    """The eval's sessions live in the SQLite file of its own home, given to the store and to ask() as
    ``home``: a configured session store (FACELENS_SESSIONS_URL) is neither written nor read, and the
    process's FACELENS_HOME is left as it was."""
    from pathlib import Path

    from facelens.eval import session_questions as sq
    from facelens.tools import config

    users = tmp_path / "users.sqlite"
    monkeypatch.setenv("FACELENS_SESSIONS_URL", f"sqlite:///{users}")
    before = config.home()
    with sq._sessions(tmp_path / "eval-home") as home:
        assert home == tmp_path / "eval-home" and (home / "sessions.sqlite").is_file()
        assert config.home() == before and store.ids() == []  # the configured store: untouched
        assert [r.session_id for r in store.load_all(home=home)] == IDS
        ans = session_query.ask("summarise session 2", backend="offline", home=home)
        assert ans.sessions == ["call-c"] and "Key moments" in ans.answer
        assert store.seconds("call-c", home=Path(home))
    assert not users.exists()  # nothing was written to the configured store
