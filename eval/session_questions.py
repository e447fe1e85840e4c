"""The paraphrase evaluation of analysts' session questions: ``facelens eval session-questions``.

Four generated sessions are stored in a private, temporary FACELENS_HOME (the user's own sessions are
never touched), in ``session list`` order:

1. ``call-b``, a calm 20 s call (the face neutral) whose customer mentions a refund;
2. ``call-c``, a 40 s call whose customer's face looks happy, the happy score falling from 0.9 to 0.45,
   then sad from 0:20, saying "I am frustrated and disappointed" at 0:26;
3. ``call-d``, a 30 s call whose customer's face stays "happy" while its happy score falls from 0.9 to
   0.45, the words going from happy to sad (the top label never changes);
4. ``call-a`` (the latest), a 30 s call whose customer (face track 2, named "customer") looks neutral,
   then angry from 0:10, then happy from 0:20, with a transcript that mentions a refund.

The words' emotion of call-c and call-d is read by tools/text_emotion.py, as ingest reads it; the face's
per-second scores of both are stored as ingest stores them. Every phrasing in
``prompts/eval/session_questions_{split}.yaml`` is asked of the offline planner (the ``all_scope`` family
with the scope set to every session, as ``--session all`` and the UI do); the report gives, per split:

- ``intent_accuracy``: the understood intent (agent/sessions/intent.py) is the family's;
- ``scope``: the answer used exactly the sessions the question is about (its ``sessions`` field) and
  names each of them in its text;
- ``consistent``: the answer states what the stored data says (the family's check below);
- ``yes_no_form``: a yes/no question about whether something happened ("did the customer get
  angry?", "did they mention a refund?") is answered starting with "Yes" or "No";
- per family figures, and the failures.

The held-out split was written before any tuning and is never used to choose rules or words.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from facelens import prompts

SPLITS = ("tune", "heldout")
TARGETS = {"intent_accuracy": 0.95, "consistent": 0.95, "scope": 0.95}
SESSION_A, SESSION_B, SESSION_C, SESSION_D, AT = "call-a", "call-b", "call-c", "call-d", "0:07"
ALL_IDS = (SESSION_B, SESSION_C, SESSION_D, SESSION_A)  # session list order
YES_NO_FAMILIES = ("when_emotion", "mentions", "search_all", "mood_trend")


def _ranked(answer: str) -> list[str]:
    """The session ids of a ranking's numbered lines, in order."""
    return [m[1] for m in re.finditer(r"^\d+\. ([\w.-]+):", answer, re.M)]


#: what a right answer of each family contains (the stored data of call-a / call-b)
CHECKS: dict[str, Callable[[str], bool]] = {
    "summary": lambda a: "Session call-a" in a and "Key moments" in a,
    "overall_mood": lambda a: "Overall, customer (track 2)" in a,
    "change": lambda a: "went from looking neutral to looking angry" in a,
    "compare": lambda a: "side by side" in a and "call-a" in a and "call-b" in a,
    "ranking": lambda a: "call-a" in a and ("call-b" not in a or a.index("call-a") < a.index("call-b")),
    "before": lambda a: "third time" in a,
    "when_emotion": lambda a: any(t in a for t in ("0:06", "0:10", "0:20", "0:21")) and ("looked" in a or "were" in a),
    "said_at": lambda a: "third time" in a,
    "mentions": lambda a: '"refund"' in a.lower() and "0:17" in a,
    "people": lambda a: "face track" in a,
    "transcript": lambda a: "What was said" in a,
    "out_of_scope": lambda a: "can't answer" in a,
    # issue 24: questions over the four sessions
    "ordinal": lambda a: "Session call-c" in a and "Key moments" in a,
    "search_all": lambda a: all(
        x in a for x in ("call-b", "0:05", "ask for a refund", "call-a", "0:17", "I will refund you today")
    ),
    "rank_negative": lambda a: _ranked(a)[:1] == ["call-c"],
    "rank_calm": lambda a: _ranked(a)[:1] == ["call-b"],
    "rank_happy": lambda a: _ranked(a)[:1] == ["call-d"],
    "mood_trend": lambda a: (
        "call-d" in a
        and re.search(r"happy score \(smoothed\) fell from 0\.(?:8[5-9]|9\d?) to 0\.(?:4|50)", a) is not None
        and "to sad" in a
        and "did not change" not in a
    ),
    "frustrated": lambda a: sorted(_ranked(a)) == ["call-a", "call-c"],
    "all_scope": lambda a: all(x in a for x in ALL_IDS),
}
#: the intent each family expects, where it is not the family's own name
INTENTS = {
    "ordinal": ("summary",),
    "search_all": ("mentions",),
    "rank_negative": ("ranking",),
    "rank_calm": ("ranking",),
    "rank_happy": ("ranking",),
    "mood_trend": ("change", "overall_mood+change"),
    "frustrated": ("ranking",),
    "all_scope": ("when_emotion",),
    "overall_mood": ("overall_mood", "overall_mood+change"),
    "change": ("change", "overall_mood+change"),
}
#: the sessions each family's answer must use (None: no session, e.g. out of scope)
SCOPES: dict[str, tuple[str, ...]] = {
    "summary": (SESSION_A,),
    "overall_mood": (SESSION_A,),
    "change": (SESSION_A,),
    "compare": (SESSION_A, SESSION_B),
    "ranking": ALL_IDS,
    "before": (SESSION_A,),
    "when_emotion": (SESSION_A,),
    "said_at": (SESSION_A,),
    "mentions": ALL_IDS,
    "people": (SESSION_A,),
    "transcript": (SESSION_A,),
    "out_of_scope": (),
    "ordinal": (SESSION_C,),
    "search_all": ALL_IDS,
    "rank_negative": ALL_IDS,
    "rank_calm": ALL_IDS,
    "rank_happy": ALL_IDS,
    "mood_trend": (SESSION_D,),
    "frustrated": ALL_IDS,
    "all_scope": ALL_IDS,
}
#: families asked with the scope set to every session (``--session all``, the UI's "all sessions")
ASKED_OF_ALL = ("all_scope",)


def questions(split: str) -> dict[str, list[str]]:
    """The family -> phrasings of one split, with the session ids and time filled in."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    text = prompts.read_text(f"eval/session_questions_{split}.yaml")
    data = yaml.safe_load(text)
    return {
        fam: [q.format(a=SESSION_A, b=SESSION_B, c=SESSION_C, d=SESSION_D, t=AT) for q in qs]
        for fam, qs in data.items()
    }


@contextlib.contextmanager
def _sessions(home: str | Path | None = None) -> Iterator[Path]:
    """Store the four generated sessions in the SQLite file of ``home`` (default: a temporary folder, deleted
    afterwards), whatever session store the configuration names, and give that home: the store functions
    and :func:`facelens.agent.sessions.query.ask` take it as their ``home`` (no process-wide setting)."""
    from facelens.agent.sessions import store

    with tempfile.TemporaryDirectory(prefix="facelens-sq-eval-") as tmp:
        where = Path(home or tmp)
        said_a = [
            (0.0, 4.0, "Hello, thanks for calling, how can I help?", "neutral"),
            (6.0, 9.5, "This is the third time the delivery failed.", "angry"),
            (17.0, 19.5, "I will refund you today.", "neutral"),
            (21.0, 24.0, "Thank you, that is great.", "happy"),
        ]
        looks_a = ["neutral"] * 10 + ["angry"] * 10 + ["happy"] * 10
        said_b = [
            (0.0, 3.0, "Everything arrived on time, thanks.", "happy"),
            (5.0, 9.0, "I was going to ask for a refund, but there is no need now.", "neutral"),
        ]
        b = _record(SESSION_B, ["neutral"] * 20, said_b, "2026-01-01T00:00:00+00:00")
        c, c_secs = _faded(
            SESSION_C,
            40,
            20,
            [
                (0.0, 4.0, "Hi, I am really happy with the new plan, thank you!"),
                (12.0, 16.0, "But the bill is higher than I expected."),
                (26.0, 29.0, "I am frustrated and disappointed."),
                (33.0, 37.0, "I am so sad about this."),
            ],
            "2026-01-02T00:00:00+00:00",
        )
        d, d_secs = _faded(
            SESSION_D,
            30,
            None,
            [
                (0.0, 3.0, "This is great, I love it!"),
                (6.0, 9.0, "Thanks, that is really helpful."),
                (16.0, 20.0, "Actually I am sad it took so long."),
                (24.0, 28.0, "That makes me really sad."),
            ],
            "2026-01-03T00:00:00+00:00",
        )
        a = _record(SESSION_A, looks_a, said_a, "2026-01-04T00:00:00+00:00")
        for rec, secs in ((b, []), (c, c_secs), (d, d_secs), (a, [])):
            store.save(rec, secs, home=where)
        yield where


def _record(sid: str, looks: list[str], said: list[tuple[float, float, str, str]], created: str):  # type: ignore[no-untyped-def]
    from facelens.agent.sessions import store

    timeline = [
        store.TimelineEntry(start=float(i), end=i + 1.0, emotion=e, confidence=0.7, track=2)
        for i, e in enumerate(looks)
    ]
    timeline += [
        store.TimelineEntry(start=float(i), end=i + 1.0, emotion="happy", confidence=0.8, track=1)
        for i in range(0, len(looks), 2)
    ]
    people = [
        store.TrackInfo(track=1, first_seen=0.0, last_seen=float(len(looks)), seconds=len(looks) / 2),
        store.TrackInfo(
            track=2, name="customer", first_seen=0.0, last_seen=float(len(looks)), seconds=float(len(looks))
        ),
    ]
    transcript = [store.SessionSegment(start=s, end=e, text=t, emotion=em) for s, e, t, em in said]
    return store.SessionRecord.of_video(
        sid,
        float(len(looks)),
        1.0,
        created=created,
        timeline=timeline,
        people=people,
        transcript=transcript,
        emotion_model="emotion.onnx",
    )


def _faded(sid: str, length: int, sad_from: int | None, said: list[tuple[float, float, str]], created: str):  # type: ignore[no-untyped-def]
    """A call whose customer's (track 2) happy score falls linearly from 0.9 to 0.45 (the label stays
    "happy"), then, from ``sad_from``, looks sad; the words' emotion read by tools/text_emotion.py."""
    from facelens.agent.sessions import store
    from facelens.tools.schema import EMOTIONS
    from facelens.tools.text_emotion import classify_texts

    fade = sad_from or length
    secs, looks = [], []  # looks: (label, confidence) per second
    for i in range(length):
        if i < fade:
            happy = 0.9 - 0.45 * i / max(1, fade - 1)
            rest = (1.0 - happy) / (len(EMOTIONS) - 1)
            scores = {e: round(happy if e == "happy" else rest, 4) for e in EMOTIONS}
        else:
            scores = {e: round(0.6 if e == "sad" else 0.4 / (len(EMOTIONS) - 1), 4) for e in EMOTIONS}
        label = max(scores, key=scores.get)  # type: ignore[arg-type]
        secs.append(store.SecondScores(track=2, t=float(i), label=label, confidence=scores[label], scores=scores))
        looks.append((label, scores[label]))
    texts = [t for _, _, t in said]
    words = classify_texts(texts, [None] + texts[:-1])
    rec = _record(sid, [lab for lab, _ in looks], [(s, e, t, w.label) for (s, e, t), w in zip(said, words)], created)
    from facelens.agent.sessions.ingest import timeline_of

    timeline = [x for x in rec.timeline if x.track != 2] + timeline_of(
        secs, [], 1.0
    )  # track 2's seconds merged as ingest merges them
    return rec.model_copy(update={"timeline": timeline}), secs


def _expected_intent(family: str, intent: str) -> bool:
    return intent in INTENTS.get(family, (family,))


def _scope_ok(family: str, answer) -> bool:  # type: ignore[no-untyped-def]
    """The answer used the family's sessions and names each of them in its text."""
    want = SCOPES[family]
    return sorted(answer.sessions) == sorted(want) and all(s in answer.answer for s in answer.sessions)


def evaluate(split: str = "heldout", home: str | Path | None = None) -> dict[str, object]:
    """Ask every phrasing of ``split``; intent accuracy, consistent answers, per family, failures.

    ``home``: where the generated sessions are stored (default: a temporary folder, deleted afterwards)."""
    from facelens.agent.sessions import intent as session_intent
    from facelens.agent.sessions import query as session_query
    from facelens.agent.sessions import store

    qs = questions(split)
    rows = []
    with _sessions(home) as where:
        records = store.load_all(home=where)
        for family, phrasings in qs.items():
            for q in phrasings:
                scope = "all" if family in ASKED_OF_ALL else None
                intent = session_intent.parse(q, records, scope).intent
                ans = session_query.ask(q, scope, backend="offline", home=where)
                answer = ans.answer
                yn = family in YES_NO_FAMILIES and session_query.yes_no(session_intent.tidy(q))
                rows.append(
                    {
                        "family": family,
                        "question": q,
                        "intent": intent,
                        "sessions": ans.sessions,
                        "intent_ok": _expected_intent(family, intent),
                        "consistent": bool(CHECKS[family](answer)),
                        "scope_ok": _scope_ok(family, ans),
                        "yes_no": yn,
                        "yes_no_ok": not yn or answer.startswith(("Yes", "No")),
                        "answer": answer,
                    }
                )
    n = len(rows)
    by_family = {}
    for fam in qs:
        mine = [r for r in rows if r["family"] == fam]
        by_family[fam] = {
            "n": len(mine),
            "intent_accuracy": round(sum(r["intent_ok"] for r in mine) / len(mine), 3),
            "consistent": round(sum(r["consistent"] for r in mine) / len(mine), 3),
            "scope": round(sum(r["scope_ok"] for r in mine) / len(mine), 3),
        }
    return {
        "split": split,
        "questions": n,
        "intent_accuracy": round(sum(r["intent_ok"] for r in rows) / n, 4),
        "consistent": round(sum(r["consistent"] for r in rows) / n, 4),
        "scope": round(sum(r["scope_ok"] for r in rows) / n, 4),
        "yes_no_form": round(sum(r["yes_no_ok"] for r in yn) / len(yn), 4)
        if (yn := [r for r in rows if r["yes_no"]])
        else None,
        "yes_no_questions": len(yn),
        "by_family": by_family,
        "targets": TARGETS,
        "failures": [r for r in rows if not (r["intent_ok"] and r["consistent"] and r["scope_ok"] and r["yes_no_ok"])],
    }
