"""The paraphrase evaluation of analysts' session questions: ``facelens eval session-questions``.

Two generated sessions are stored in a private, temporary FACELENS_HOME (the user's own sessions are
never touched): ``call-a``, a 30 s call whose customer (face track 2, named "customer") looks neutral,
then angry from 0:10, then happy from 0:20, with a transcript that mentions a refund; and ``call-b``, a
calm 20 s call. Every phrasing in ``prompts/eval/session_questions_{split}.yaml`` is asked of the
offline planner; the report gives, per split:

- ``intent_accuracy``: the understood intent (agent/session_intent.py) is the family's;
- ``consistent``: the answer states what the stored data says (the family's check below);
- ``yes_no_form``: a yes/no question about whether something happened ("did the customer get
  angry?", "did they mention a refund?") is answered starting with "Yes" or "No";
- per family figures, and the failures.

The held-out split was written before any tuning and is never used to choose rules or words.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator

import yaml

from facelens import prompts

SPLITS = ("tune", "heldout")
TARGETS = {"intent_accuracy": 0.95, "consistent": 0.95}
SESSION_A, SESSION_B, AT = "call-a", "call-b", "0:07"

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
}


def questions(split: str) -> dict[str, list[str]]:
    """The family -> phrasings of one split, with the session ids and time filled in."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    text = prompts.read_text(f"eval/session_questions_{split}.yaml")
    data = yaml.safe_load(text)
    return {fam: [q.format(a=SESSION_A, b=SESSION_B, t=AT) for q in qs] for fam, qs in data.items()}


@contextlib.contextmanager
def _sessions() -> Iterator[None]:
    """Store the two generated sessions in a temporary FACELENS_HOME for the duration."""
    from facelens.agent import session_store as store

    old = os.environ.get("FACELENS_HOME")
    with tempfile.TemporaryDirectory(prefix="facelens-sq-eval-") as home:
        os.environ["FACELENS_HOME"] = home
        try:
            said_a = [(0.0, 4.0, "Hello, thanks for calling, how can I help?", "neutral"),
                      (6.0, 9.5, "This is the third time the delivery failed.", "angry"),
                      (17.0, 19.5, "I will refund you today.", "neutral"),
                      (21.0, 24.0, "Thank you, that is great.", "happy")]
            looks_a = ["neutral"] * 10 + ["angry"] * 10 + ["happy"] * 10
            b = _record(SESSION_B, ["neutral"] * 20, [(0.0, 3.0, "Everything arrived on time, thanks.", "happy")], "2026-01-01T00:00:00+00:00")
            a = _record(SESSION_A, looks_a, said_a, "2026-01-02T00:00:00+00:00")
            store.save(b, [])
            store.save(a, [])
            yield
        finally:
            if old is None:
                os.environ.pop("FACELENS_HOME", None)
            else:
                os.environ["FACELENS_HOME"] = old


def _record(sid: str, looks: list[str], said: list[tuple[float, float, str, str]], created: str):  # type: ignore[no-untyped-def]
    from facelens.agent import session_store as store

    timeline = [store.TimelineEntry(start=float(i), end=i + 1.0, emotion=e, confidence=0.7, track=2) for i, e in enumerate(looks)]
    timeline += [store.TimelineEntry(start=float(i), end=i + 1.0, emotion="happy", confidence=0.8, track=1) for i in range(0, len(looks), 2)]
    people = [store.TrackInfo(track=1, first_seen=0.0, last_seen=float(len(looks)), seconds=len(looks) / 2),
              store.TrackInfo(track=2, name="customer", first_seen=0.0, last_seen=float(len(looks)), seconds=float(len(looks)))]
    transcript = [store.SessionSegment(start=s, end=e, text=t, emotion=em) for s, e, t, em in said]
    return store.SessionRecord(session_id=sid, source=f"{sid}.mp4", created=created, duration=float(len(looks)), has_video=True,
                               has_audio=True, fps=1.0, timeline=timeline, people=people, transcript=transcript,
                               emotion_model="emotion.onnx")


def _expected_intent(family: str, intent: str) -> bool:
    return intent == family or (family in ("overall_mood", "change") and intent == "overall_mood+change")


def evaluate(split: str = "heldout") -> dict[str, object]:
    """Ask every phrasing of ``split``; intent accuracy, consistent answers, per family, failures."""
    from facelens.agent import session_intent, session_query
    from facelens.agent import session_store as store

    qs = questions(split)
    rows = []
    with _sessions():
        records = store.load_all()
        for family, phrasings in qs.items():
            for q in phrasings:
                intent = session_intent.parse(q, records).intent
                answer = session_query.ask(q, backend="offline").answer
                yn = family in ("when_emotion", "mentions") and session_query.yes_no(session_intent.tidy(q))
                rows.append({"family": family, "question": q, "intent": intent,
                             "intent_ok": _expected_intent(family, intent), "consistent": bool(CHECKS[family](answer)),
                             "yes_no": yn, "yes_no_ok": not yn or answer.startswith(("Yes", "No")), "answer": answer})
    n = len(rows)
    by_family = {}
    for fam in qs:
        mine = [r for r in rows if r["family"] == fam]
        by_family[fam] = {"n": len(mine), "intent_accuracy": round(sum(r["intent_ok"] for r in mine) / len(mine), 3),
                          "consistent": round(sum(r["consistent"] for r in mine) / len(mine), 3)}
    return {
        "split": split, "questions": n,
        "intent_accuracy": round(sum(r["intent_ok"] for r in rows) / n, 4),
        "consistent": round(sum(r["consistent"] for r in rows) / n, 4),
        "yes_no_form": round(sum(r["yes_no_ok"] for r in yn) / len(yn), 4) if (yn := [r for r in rows if r["yes_no"]]) else None,
        "yes_no_questions": len(yn),
        "by_family": by_family, "targets": TARGETS,
        "failures": [r for r in rows if not (r["intent_ok"] and r["consistent"] and r["yes_no_ok"])],
    }
