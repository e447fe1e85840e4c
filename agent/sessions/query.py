"""Answer questions about stored sessions: offline from the stored data, or with an LLM when configured.

The offline planner recognises the analysts' question families:
- "when did the customer look angry?" (face timeline and the words' emotion),
- "what did they say at 1:30?",
- "what was said just before they got angry?",
- "which sessions had the most frustration?",
- "when did they mention the refund?", "who was in the session?", "what was said?".
Anything else gets a plain "can't answer offline" with the families it can answer. With an LLM
(``backend="openai"``, or automatically when OPENAI_API_KEY / OPENAI_BASE_URL is set), the stored
transcript and timelines are sent as text (never images or face embeddings) with the question.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from facelens import prompts
from facelens.agent.sessions import store, wording
from facelens.agent.sessions.clock import mmss, span  # noqa: F401 - also the public query.mmss/span of callers
from facelens.agent.sessions.intent import ROLE_WORDS
from facelens.agent.sessions.store import SessionRecord, SessionSegment, TrackInfo
from facelens.tools.errors import BackendError, ConfigError, InputError
from facelens.tools.schema import Result

if TYPE_CHECKING:
    from facelens.tools.settings import LLMSettings

BEFORE_WINDOW = 15.0  # seconds before an onset searched for what was said
MIN_CONFIDENCE = 0.35  # face intervals below this are too uncertain to report


class Evidence(Result):
    session_id: str
    start: float  # seconds
    end: float
    kind: str  # "face", "words", "transcript", "ranking", "people"
    text: str  # what the evidence says


class SessionAnswer(Result):
    answer: str
    backend: str  # "offline" or "openai:<model>"
    sessions: list[str] = Field(default_factory=list)  # the sessions consulted
    evidence: list[Evidence] = Field(default_factory=list)  # the stored facts behind the answer


def _evidence(rec: SessionRecord, start: float, end: float, kind: str, text: str) -> Evidence:
    """One stored fact of session ``rec`` behind an answer."""
    return Evidence(session_id=rec.session_id, start=start, end=end, kind=kind, text=text)


def _said(rec: SessionRecord, said: SessionSegment, kind: str = "transcript") -> Evidence:
    """An utterance of ``rec`` as evidence (``kind`` "words": for its words' emotion)."""
    return _evidence(rec, said.start, said.end, kind, said.text)


def _spans(items: list[tuple[float, float, str]]) -> str:
    return ", ".join(f"{span(a, b)}{f' ({x})' if x else ''}" for a, b, x in items[:8]) + (
        f" and {len(items) - 8} more" if len(items) > 8 else ""
    )


def _face_spans(rec: SessionRecord, labels: tuple[str, ...]) -> list:
    return [t for t in rec.timeline if t.emotion in labels and (t.confidence or 0) >= MIN_CONFIDENCE]


def _track_note(rec: SessionRecord, track: int, conf: float | None) -> str:
    who = next((p.name for p in rec.people if p.track == track and p.name), None)
    parts = ([who] if who else [f"track {track}"] if len(rec.people) > 1 else []) + (
        [f"{conf:.0%}"] if conf is not None else []
    )
    return ", ".join(parts)


def _which_session(rec: SessionRecord) -> str:
    """The end of a one-session answer: which session it was about, and its length."""
    return f"(session {rec.session_id}, {mmss(rec.duration)} long)"


def named_track(rec: SessionRecord, question: str) -> TrackInfo | None:
    """The face track the question names ("the customer", "Alice"), from the session's track names."""
    q = question.lower()
    for p in sorted((p for p in rec.people if p.name), key=lambda p: -len(p.name or "")):
        if re.search(rf"\b{re.escape((p.name or '').lower())}\b", q):
            return p
    return None


def unnamed_role(rec: SessionRecord, question: str) -> str | None:
    """A role the question asks about ("the customer") that no track of a multi-face session carries."""
    if len(rec.people) < 2:
        return None
    m = re.search(rf"\bthe ({'|'.join(ROLE_WORDS)})s?\b", question.lower())
    return m[1] if m else None


class _Planner:
    def __init__(self, question: str, records: list[SessionRecord], home: Path | None = None) -> None:
        self.q = question
        self.records = records
        self.home = home  # the store the records came from (None: the configured one)
        self.evidence: list[Evidence] = []

    def when(self, rec: SessionRecord, name: str, labels: tuple[str, ...]) -> str:
        out = []
        if not rec.has_video:
            out.append(wording.NO_VIDEO)
        elif rec.emotion_model is None:
            out.append(wording.FACE_NOT_RECORDED)
        else:
            face = _face_spans(rec, labels)
            for t in face:
                self.evidence.append(
                    _evidence(rec, t.start, t.end, "face", f"looked {t.emotion} ({t.confidence:.0%}), track {t.track}")
                )
            spans = _spans([(t.start, t.end, _track_note(rec, t.track, t.confidence)) for t in face])
            out.append(
                f"The face looked {name} at {spans}."
                if face
                else f"The face never looked {name} in the sampled frames."
            )
        words = [s for s in rec.transcript if s.emotion in labels]
        for s in words:
            self.evidence.append(_said(rec, s, "words"))
        if rec.transcript:
            spans = _spans([(s.start, s.end, f'"{s.text}"') for s in words])
            out.append(f"The words were {name} at {spans}." if words else f"No utterance's words read as {name}.")
        return " ".join(out)

    def said_at(self, rec: SessionRecord, t: float) -> str:
        if not rec.transcript:
            return wording.NO_TRANSCRIPT
        if t > rec.duration + 0.5:
            last = rec.transcript[-1]
            self.evidence.append(_said(rec, last))
            return (
                f"The session is only {mmss(rec.duration)} long, so nothing was said at {mmss(t)}. The last utterance, "
                f'at {span(last.start, last.end)}: "{last.text}"'
            )
        hit = next((s for s in rec.transcript if s.start - 0.5 <= t <= s.end + 0.5), None)
        if hit is not None:
            said = f'At {mmss(t)} ({span(hit.start, hit.end)}): "{hit.text}"'
        else:
            hit = min(rec.transcript, key=lambda s: min(abs(s.start - t), abs(s.end - t)))
            if min(abs(hit.start - t), abs(hit.end - t)) > 10:
                return f"Nothing was said within 10 seconds of {mmss(t)}."
            said = (
                f"Nothing was being said at {mmss(t)}. The nearest utterance, at {span(hit.start, hit.end)}: "
                f'"{hit.text}"'
            )
        self.evidence.append(_said(rec, hit))
        return said

    def before(self, rec: SessionRecord, name: str, labels: tuple[str, ...]) -> str:
        # onsets: the first second of each face interval with the emotion, else the first emotional utterance
        onsets = [(t.start, "face") for t in _face_spans(rec, labels)]
        onsets = [o for i, o in enumerate(onsets) if i == 0 or o[0] - onsets[i - 1][0] > BEFORE_WINDOW][:3]
        if not onsets:
            onsets = [(s.start, "words") for s in rec.transcript if s.emotion in labels][:1]
        if not onsets:
            return f"Neither the face nor the words turned {name} in this session."
        out = []
        for onset, source in onsets:
            said = [
                s for s in rec.transcript if s.end <= onset + 0.5 and s.end >= onset - BEFORE_WINDOW and s.start < onset
            ][-2:]
            for s in said:
                self.evidence.append(_said(rec, s))
            what = "face" if source == "face" else "words"
            if said:
                lines = " ".join(f'{mmss(s.start)} "{s.text}"' for s in said)
                out.append(f"Before the {what} turned {name} at {mmss(onset)}: {lines}")
            else:
                out.append(
                    f"Nothing was said in the {int(BEFORE_WINDOW)} seconds before the {what} turned {name} at "
                    f"{mmss(onset)}."
                )
        return " ".join(out)

    def ranking(self, name: str, labels: tuple[str, ...], order: str = "most") -> str:
        """Every session scored by the share of watched time the face looked ``labels`` plus half the share of
        utterances whose words expressed them. From the most: the sessions that showed it (the rest named after);
        from the least ("calmest", "least angry"): every session, ties broken by the fewest negative moments."""
        from facelens.agent.sessions.intent import NEGATIVE_LABELS

        def score(rec: SessionRecord, labs: tuple[str, ...]) -> tuple[float, str]:
            face_s = sum(t.end - t.start for t in _face_spans(rec, labs))
            watched = sum(p.seconds for p in rec.people) or rec.duration
            face_frac = face_s / watched if rec.emotion_model and watched else 0.0
            words = [s for s in rec.transcript if s.emotion in labs]
            word_frac = len(words) / len(rec.transcript) if rec.transcript else 0.0
            details = []
            if rec.emotion_model and rec.has_video:
                details.append(f"face {face_s:.0f} s of {watched:.0f} s ({face_frac:.0%})")
            elif rec.has_video:
                details.append("no facial emotion recorded")
            details.append(f"{len(words)} of {len(rec.transcript)} utterances")
            return face_frac + 0.5 * word_frac, "; ".join(details)

        rows = []
        for rec in self.records:
            sc, details = score(rec, labels)
            tie = score(rec, NEGATIVE_LABELS)[0] if order == "least" else 0.0
            rows.append((sc, tie, rec, details))
        if order == "least":
            rows.sort(key=lambda r: (r[0], r[1], r[2].session_id))
            shown, without = rows, []
            lines = [
                f"Sessions ranked from the least {'negative' if name == 'calm' else name} (share of time the face "
                "looked it, and utterances whose words expressed it; negative = angry, disgust, fear or sad):"
            ]
        else:
            rows.sort(key=lambda r: -r[0])
            if not any(sc > 0 for sc, *_ in rows):
                return (
                    f"None of the {len(rows)} sessions showed {name} in the face or the words."
                    + " "
                    + ", ".join(r[2].session_id for r in rows)
                    + "."
                )
            shown, without = [r for r in rows if r[0] > 0], [r for r in rows if r[0] <= 0]
            lines = [
                f"Sessions ranked by how {name} people were (share of time the face looked it, and utterances "
                "whose words expressed it):"
            ]
        for i, (sc, _, rec, details) in enumerate(shown[:10], 1):
            lines.append(f"{i}. {rec.session_id}: {details}")
            self.evidence.append(_evidence(rec, 0.0, rec.duration, "ranking", f"score {sc:.3f}: {details}"))
        if len(shown) > 10:
            lines.append(f"... and {len(shown) - 10} more.")
        if without:
            lines.append(f"No {name} in: {', '.join(r[2].session_id for r in without)}.")
        return "\n".join(line.strip() for line in lines)

    def mentions(self, rec: SessionRecord, keyword: str) -> str:
        hits = [s for s in rec.transcript if re.search(rf"\b{re.escape(keyword)}", s.text, re.I)]
        for s in hits:
            self.evidence.append(_said(rec, s))
        spans = _spans([(s.start, s.end, f'"{s.text}"') for s in hits])
        return (
            f'"{keyword}" was said at {spans}.'
            if hits
            else f'"{keyword}" was not said in this session (as transcribed).'
        )

    def people(self, rec: SessionRecord) -> str:
        if not rec.people:
            return wording.NO_PEOPLE
        details = "; ".join(
            f"track {p.track}{f' ({p.name})' if p.name else ''} from {mmss(p.first_seen)} to {mmss(p.last_seen)}"
            + (f", mostly looked {p.dominant_emotion}" if p.dominant_emotion else "")
            for p in rec.people
        )
        return f"{len(rec.people)} face track{wording.plural(len(rec.people))} were seen: {details}."

    def transcript(self, rec: SessionRecord) -> str:
        if not rec.transcript:
            return wording.NO_TRANSCRIPT
        lines = " ".join(f'{mmss(s.start)} "{s.text}"' for s in rec.transcript[:40])
        return f"What was said ({len(rec.transcript)} utterances): {lines}"


def _targets(it, records: list[SessionRecord], session_id: str | None) -> list[SessionRecord]:  # type: ignore[no-untyped-def]
    """The sessions a question is about: those it names (by id, or by place in ``session list`` order),
    else the one the asker chose, else every session ("all", "did anyone mention ...", "in any of the
    calls"), else the latest."""
    from facelens.agent.sessions.intent import RE

    by_id = {r.session_id: r for r in records}
    if it.sessions:
        return [by_id[s] for s in it.sessions if s in by_id]
    if session_id and session_id != ALL:
        return [by_id[session_id]]  # answer_offline checked that it is stored
    if session_id == ALL or it.scope == "all" or (it.intent == "mentions" and not RE.this.search(it.text)):
        return list(records)
    return [records[-1]]  # the most recently ingested


ALL = store.RESERVED_ID  # --session all, the UI's "all sessions": every stored session


def answer_offline(question: str, session_id: str | None = None, *, home: Path | None = None) -> SessionAnswer:
    """Answer with the deterministic planner from the stored data (intent and slots: agent/sessions/intent.py).
    ``session_id``: one session, or "all" for every stored session. Every answer names the sessions it used.
    ``home``: read the sessions stored under this FACELENS_HOME (:func:`facelens.agent.sessions.store.backend`)."""
    from facelens.agent.sessions import intent as session_intent

    records = store.load_all(home=home)
    if session_id and session_id != ALL:
        store.load(session_id, home=home)  # NotFoundError with the stored ids
    if not records:
        return SessionAnswer(answer=wording.NO_SESSIONS, backend="offline")
    it = session_intent.parse(question, records, session_id)
    if (
        n := it.slots.get("missing_place")
    ) is not None:  # "summarise session 9" with four stored: say so, never another one
        listing = ", ".join(f"{i}. {r.session_id}" for i, r in enumerate(records[-20:], max(1, len(records) - 19)))
        return SessionAnswer(
            answer=f"There is no session {n}: {len(records)} session{wording.plural(len(records))} "
            f"{'is' if len(records) == 1 else 'are'} stored, in `facelens session list` order: {listing}. Name one by "
            "its place or its id.",
            backend="offline",
            sessions=[],
        )
    if it.intent == "compare":
        return _compare(it, records)
    if it.intent == "out_of_scope":
        return SessionAnswer(answer=wording.UNSUPPORTED, backend="offline", sessions=[])
    p = _Planner(question, records, home)
    if it.intent == "ranking":
        return SessionAnswer(
            answer=p.ranking(it.emotion, it.labels, it.order),
            backend="offline",  # type: ignore[arg-type]
            sessions=[r.session_id for r in records],
            evidence=p.evidence,
        )
    targets = _targets(it, records, session_id)
    if it.intent == "mentions" and len(targets) > 1:
        return _mentions_across(p, it, targets)
    answers = [_answer_one(p, it, rec) for rec in targets]
    if len(answers) == 1:
        return answers[0]
    yn = yes_no(it.text) and it.intent in ("when_emotion", "change", "overall_mood+change")
    parts = []
    for rec, ans in zip(targets, answers):
        text = re.sub(r"^(?:Yes|No): ", "", ans.answer) if yn else ans.answer
        text = re.sub(r"\s*\((?:session|) ?" + re.escape(rec.session_id) + r", [^)]*\)\s*$", "", text.strip())
        parts.append(f"{rec.session_id} ({mmss(rec.duration)}): {text}")
    text = "\n".join(parts)
    if yn:
        text = ("Yes: " if any(a.answer.startswith("Yes") for a in answers) else "No: ") + text
    return SessionAnswer(
        answer=text,
        backend="offline",
        sessions=[r.session_id for r in targets],
        evidence=[e for a in answers for e in a.evidence],
    )


def _mentions_across(p: _Planner, it, targets: list[SessionRecord]) -> SessionAnswer:  # type: ignore[no-untyped-def]
    """A transcript search over several sessions: which sessions said the word, when, and the sentence."""
    kw = it.keyword
    hits = {}
    for rec in targets:
        found = [s for s in rec.transcript if re.search(rf"\b{re.escape(kw)}", s.text, re.I)]
        for s in found:
            p.evidence.append(_said(rec, s))
        if found:
            hits[rec.session_id] = found
    ids = [r.session_id for r in targets]
    if hits:
        details = "; ".join(
            f"{sid} at {_spans([(s.start, s.end, chr(34) + s.text + chr(34)) for s in found])}"
            for sid, found in hits.items()
        )
        text = f'"{kw}" was said in {len(hits)} of {len(targets)} sessions: {details}.'
        if missing := [sid for sid in ids if sid not in hits]:
            text += f" Not said in: {', '.join(missing)}."
    else:
        text = f'"{kw}" was not said in any of the {len(targets)} sessions (as transcribed): {", ".join(ids)}.'
    if yes_no(it.text):
        text = ("Yes: " if hits else "No: ") + text
    return SessionAnswer(answer=text, backend="offline", sessions=ids, evidence=p.evidence)


def _answer_one(p: _Planner, it, rec: SessionRecord) -> SessionAnswer:  # type: ignore[no-untyped-def]
    """The answer of a one-session intent about ``rec``; it ends with the session's id and length."""
    emo = (it.emotion, it.labels) if it.emotion else None
    q = it.text
    p.evidence = []
    who = named_track(rec, q)
    role = None if who else unnamed_role(rec, q)
    # "when did the customer look angry?": only the customer's face track counts
    faces = rec.model_copy(update={"timeline": [x for x in rec.timeline if x.track == who.track]}) if who else rec
    if it.intent in ("summary", "overall_mood", "change", "overall_mood+change"):
        return _summary_answer(
            it.intent,
            faces,
            rec,
            yes_no="change" in it.intent and yes_no(q),
            track=who.track if who else None,
            home=p.home,
        )
    if it.intent == "before":
        text = p.before(faces, *emo)  # type: ignore[misc]
    elif it.intent == "said_at":
        text = p.said_at(rec, it.time)
    elif it.intent == "mentions":
        text = p.mentions(rec, it.keyword)
    elif it.intent == "when_emotion":
        text = p.when(faces, *emo)  # type: ignore[misc]
    elif it.intent == "people":
        text = p.people(rec)
    else:
        text = p.transcript(rec)
    if who and emo:
        text = f"({who.name} is face track {who.track}; only that face is counted.) {text}"
    elif role and (emo or re.search(r"\b(who|say|said)\b", q)):
        text += (
            f' (No face track is named "{role}", so all {len(rec.people)} faces are counted. Name it with: '
            f"facelens session name {rec.session_id} TRACK {role})"
        )
    if re.search(rf"\bwhat did (?:the )?({'|'.join(ROLE_WORDS)}|he|she) say\b", q) and rec.transcript:
        text += " " + wording.SPEAKERS_NOT_SEPARATED
    head = _which_session(rec)
    if it.intent in ("when_emotion", "mentions") and yes_no(q):  # "did the customer get angry?" -> "Yes: ..."
        seen = any(
            e.kind in (("face", "words") if it.intent == "when_emotion" else ("transcript",)) for e in p.evidence
        )
        text = ("Yes: " if seen else "No: ") + text
    return SessionAnswer(
        answer=f"{text} {head}", backend="offline", sessions=[rec.session_id], evidence=list(p.evidence)
    )


#: a yes/no question about a session ("did the customer get angry?", "was anyone frustrated in this call?")
YES_NO_RE = re.compile(
    r"^(?:did|was|were|is|are|does|do|has|have|had|any|anyone|anybody|has there been|was there|were there)\b"
)
#: ... unless it asks about one moment or the whole session, which "ever" evidence does not answer
MOMENT_RE = re.compile(
    r"\b(?:at the (?:end|start|beginning|close)|the whole|all the time|all along|throughout|the entire|always|at \d|"
    r"at (?:first|last)|by the end|still|when|before|after)\b"
)


def yes_no(q: str) -> bool:
    """True for a yes/no question whose answer is "did it happen at all" (the when/mentions evidence decides it)."""
    return bool(YES_NO_RE.match(q)) and not MOMENT_RE.search(q)


def _summary_answer(
    intent: str,
    faces: SessionRecord,
    rec: SessionRecord,
    yes_no: bool = False,
    track: int | None = None,
    home: Path | None = None,
) -> SessionAnswer:
    """Summary, overall mood and "when did it change" questions (agent/sessions/summary.py); ``yes_no``:
    "did the mood change?" starts with Yes (the face's look changed at least once, its smoothed scores rose
    or fell, or the words' emotion changed) or No. ``track``: only that face's scores count."""
    from facelens.agent.sessions import summary as summ

    s = summ.summarise(faces)
    secs = (
        [x for x in store.seconds(rec.session_id, home=home) if track is None or x.track == track]
        if rec.emotion_model
        else []
    )
    trends = summ.trend_lines(faces, secs)
    evidence = [
        _evidence(
            rec,
            m.time,
            m.time,
            "face",
            f"track {m.track} went from looking {m.before} to looking {m.after} ({m.confidence:.0%})",
        )
        for m in s.moments
    ]
    if intent == "summary":
        text = s.text
        if trends:  # the top label stayed, the scores moved: say how instead of "did not change"
            text = (
                "\n".join(ln for ln in text.splitlines() if not ln.startswith("The face's look did not"))
                + "\n"
                + "\n".join(trends)
            )
        return SessionAnswer(answer=text, backend="offline", sessions=[rec.session_id], evidence=evidence)
    lines = s.text.splitlines()
    keep = []
    if "overall" in intent:
        keep += [
            ln
            for ln in lines
            if ln.startswith(("Overall,", "The words were", "Facial emotion was not", "Nothing was said"))
        ]
    if "change" in intent:
        keep += [
            ln
            for ln in lines
            if ln.startswith(("Mood arc", "Key moments", "- ", "... and"))
            or (ln.startswith("The face's look did not") and not trends)
        ]
        keep += trends
        if not s.moments and not trends and not any(ln.startswith("The face's look did not") for ln in keep):
            words = ", ".join(f"{u.emotion} at {mmss(u.start)}" for u in _word_changes(rec)) or None
            keep.append(
                f"The face's look did not change in session {rec.session_id}"
                f"{'; the words were ' + words if words else ''}."
            )
    head = _which_session(rec)
    text = "\n".join(keep or lines) + "\n" + head
    if yes_no:
        changed = (
            s.moments or trends or (not rec.has_video and _word_changes(rec))
        )  # trends: the face's scores and the words' arc
        text = ("Yes: " if changed else "No: ") + text
    return SessionAnswer(answer=text, backend="offline", sessions=[rec.session_id], evidence=evidence)


def _word_changes(rec: SessionRecord) -> list[SessionSegment]:
    """Utterances whose words' emotion differs from the one before (for audio-only sessions)."""
    return [s for i, s in enumerate(rec.transcript) if i and s.emotion != rec.transcript[i - 1].emotion][:8]


def _compare(it, records: list[SessionRecord]) -> SessionAnswer:  # type: ignore[no-untyped-def]
    from facelens.agent.sessions import summary as summ

    if len(it.sessions) < 2:
        all_ids = [r.session_id for r in records]
        return SessionAnswer(
            answer=f'To compare, name two sessions, e.g. "compare sessions {all_ids[0]} and {all_ids[-1]}". Stored '
            f"sessions: {', '.join(all_ids[-10:])}.",
            backend="offline",
            sessions=all_ids,
        )
    by_id = {r.session_id: r for r in records}
    a, b = by_id[it.sessions[0]], by_id[it.sessions[1]]
    return SessionAnswer(answer=summ.compare(a, b), backend="offline", sessions=[a.session_id, b.session_id])


def session_text(rec: SessionRecord) -> str:
    """The stored analysis of one session as compact text for an LLM (no embeddings, no images)."""
    lines = [f"Session {rec.session_id} ({mmss(rec.duration)}, {'video' if rec.has_video else 'audio only'}):"]
    lines += [
        f'  {mmss(s.start)}-{mmss(s.end)} said: "{s.text}" [words: {s.emotion}{"; voice: " + ", ".join(s.cues) if s.cues else ""}]'
        for s in rec.transcript
    ]
    if rec.has_video and rec.emotion_model is None:
        lines.append("  (facial emotion not recorded: no emotion model at ingest)")
    names = {p.track: p.name for p in rec.people if p.name}
    lines += [
        f"  {mmss(t.start)}-{mmss(t.end)} face track {t.track}{f' ({names[t.track]})' if t.track in names else ''} looked {t.emotion} ({t.confidence:.0%})"
        for t in rec.timeline if t.emotion
    ]  # fmt: skip
    return "\n".join(lines)


def answer_llm(
    question: str,
    session_id: str | None = None,
    model: str | None = None,
    settings: LLMSettings | None = None,
    *,
    home: Path | None = None,
) -> SessionAnswer:
    """Answer with an OpenAI(-compatible) chat model over the stored sessions' text.

    ``settings``: the resolved LLM (default: :func:`facelens.tools.settings.resolve_llm` for openai).
    ``home``: as for :func:`answer_offline`.
    """
    from facelens.tools.openai_client import make_client
    from facelens.tools.settings import resolve_llm

    llm = settings or resolve_llm("openai")
    client = make_client(llm, purpose="answers about sessions", timeout=600.0)
    records = (
        [store.load(session_id, home=home)] if session_id and session_id != ALL else store.load_all(home=home)[-20:]
    )
    if not records:
        return SessionAnswer(answer=wording.NO_SESSIONS, backend="offline")
    model = model or llm.model or "gpt-4o-mini"
    # session text (transcripts, track names) goes as a delimited JSON data block, never as prompt text
    data = prompts.data_block(
        "sessions", [{"session": r.session_id, "lines": session_text(r).splitlines()} for r in records]
    )
    try:
        reply = client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": prompts.render("sessions", "llm_system")},
                {"role": "user", "content": prompts.render("sessions", "llm_user", data=data, question=question)},
            ],
            temperature=0,
        )
        text = (reply.choices[0].message.content or "").strip()
    except Exception as exc:
        raise BackendError(
            f"The LLM call failed: {exc}", hint="Check OPENAI_API_KEY / OPENAI_BASE_URL, or use --backend offline."
        ) from exc
    return SessionAnswer(answer=text, backend=f"openai:{model}", sessions=[r.session_id for r in records])


def ask(
    question: str,
    session_id: str | None = None,
    backend: str | LLMSettings | None = None,
    *,
    home: Path | None = None,
) -> SessionAnswer:
    """Answer a question about stored sessions.

    Args:
        question: the analyst's question.
        session_id: restrict to one session, or "all" for every stored session (default: the sessions the question
            names, by id or place in ``session list`` order, else every session for "which / any" questions, else the latest).
        backend: "offline", "openai", resolved LLM settings, or None = the user's backend setting
            (FACELENS_BACKEND, config.yaml), else openai when OPENAI_API_KEY/OPENAI_BASE_URL is set, else offline
            (:func:`facelens.tools.settings.words_llm`).
        home: read the sessions stored under this FACELENS_HOME (an evaluation's own), whatever store the
            configuration names (default: the configured store).
    """
    if not question or not question.strip():
        raise InputError("The question is empty.", hint='Ask e.g. "when did the customer look angry?"')
    if session_id and session_id.lower() == ALL:
        session_id = ALL
    if session_id and session_id != ALL:
        store.check_id(session_id)
    from facelens.tools.settings import words_llm

    if isinstance(backend, str) and backend not in ("offline", "openai"):
        raise ConfigError(f"Unknown backend '{backend}'.", hint="Choose offline or openai.")
    llm = words_llm(backend)
    if llm is None:
        return answer_offline(question, session_id, home=home)
    return answer_llm(question, session_id, settings=llm, home=home)
