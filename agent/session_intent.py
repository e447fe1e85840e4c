"""Understanding an analyst's question about stored sessions: its intent and slots, before any answer.

Intents: summary, overall_mood, change (and the compound overall_mood+change), compare, ranking,
before, when_emotion, said_at, mentions, people, transcript, and out_of_scope. Slots: the emotion
(everyday words: frustrated, mad, upset, smiling ...), a time ("1:30", "90 seconds"), a keyword
("the refund"), the sessions named, the role or name of a face track ("the customer").

The question is first tidied the way the photo planner tidies its questions (casual forms spelled
out, typos corrected towards the words of this domain), then exact rules decide: the cues of
these families are words, not meanings, so rules are exact where a sentence model would guess.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from facelens.agent.lexicon import SESSION_EMOTION_NAMES, SESSION_EMOTION_STEMS
from facelens.agent.session_store import SessionRecord

#: words of this domain that typos are corrected towards
SESSION_WORDS = ("summarise", "summarize", "summary", "overview", "recap", "overall", "general", "mood", "change",
                 "compare", "versus", "difference", "sessions", "session", "calls", "recordings", "meetings",
                 "mention", "mentioned", "transcript", "customer", "customers", "frustrated", "frustration", "angry",
                 "happened", "before", "triggered", "refund", "people", "faces", "session", "said")
CASUAL = {"u": "you", "ur": "your", "pls": "please", "plz": "please", "ppl": "people", "r": "are", "whats": "what is",
          "what's": "what is", "wat": "what", "w/": "with", "vs": "versus", "vs.": "versus", "thx": "thanks", "b4": "before",
          "cust": "customer", "convo": "conversation", "rec": "recording", "sesh": "session", "happend": "happened"}

COMPARE_RE = re.compile(r"\b(compar\w*|versus|difference between|differ\w*)\b")
SUMMARY_RE = re.compile(r"\b(summar\w*|overview|recap|sum (?:it |this |that |the \w+ )?up|tl;?dr|what happened|"
                        r"how did (?:the|this|that) (?:session|call|meeting|conversation|recording) go)\b")
OVERALL_RE = re.compile(r"\b(overall|in general|general (?:mood|vibe|tone)|mood|vibe|tone|how did (?:the|they|he|she) \w+ (?:feel|seem|look)|come across)\b")
CHANGE_RE = re.compile(r"\b(chang\w*|shift\w*|switch\w*|swing\w*|turn(?:ed|ing)? (?:point|around)|turning point|arc)\b")
RANKING_RE = re.compile(r"\b(?:which|what|in which|rank)\s+(?:\w+\s+)?(?:sessions?|calls?|recordings?|meetings?)\b|\bsessions\b|\bcalls\b|"
                        r"\bmost\b|\brank\w*\b|\bworst\b")
BEFORE_RE = re.compile(r"\b(before|prior to|led to|lead to|leading up|led up|trigger\w*|caus\w*|right before|just before)\b")
SAY_RE = re.compile(r"\b(say|said|saying|talk\w*|spoken|speak\w*|hear|heard|discuss\w*)\b")
KEYWORD_RE = re.compile(r"\b(?:mention(?:ed|s)?|say about|said about|talk(?:ed|ing)? about|ask(?:ed)? about|(?:the )?word|say|said)\s+"
                        r"(?:the\s+|a\s+|an\s+|any\s+)?['\"]?([a-z][a-z'-]+)")
PASSIVE_KEYWORD_RE = re.compile(r"\b(?:the |a |an )?([a-z][a-z'-]+) (?:was |were |got |being |been )?(?:mentioned|brought up|talked about)\b")
KEYWORD_STOP = {"it", "that", "this", "anything", "something", "before", "after", "when", "what", "at", "in", "to", "was", "where",
                "so", "the", "they", "he", "she", "i", "you", "we", "there", "here", "come", "came", "up", "around"}
PEOPLE_RE = re.compile(r"\b(who (?:was|were|is|are) (?:in|on|there|present|seen|visible|involved)|who (?:appeared|took part|participated|was seen)|"
                       r"how many (?:people|faces|persons|participants|speakers)|how many\b.*\b(?:people|faces)|participants)\b")
TRANSCRIPT_RE = re.compile(r"\b(transcript\w*|what was (?:said|talked about|discussed)|what did (?:they|he|she|the \w+|we|i) (?:say|talk about|discuss)|"
                           r"what (?:they|we) (?:said|talked about)|what they talked about)\b")
ROLE_WORDS = ("customer", "client", "caller", "agent", "user", "interviewer", "interviewee", "patient", "host", "guest")


@dataclass(frozen=True)
class SessionIntent:
    intent: str  # one of the families above ("overall_mood+change" for the compound)
    emotion: str | None = None  # the word the answer uses ("frustrated")
    labels: tuple[str, ...] = ()  # the stored labels that emotion means
    time: float | None = None  # seconds
    keyword: str | None = None
    sessions: tuple[str, ...] = ()  # session ids named in the question, in order
    role: str | None = None  # "customer", when the question names one
    text: str = ""  # the tidied question
    slots: dict[str, object] = field(default_factory=dict)


def tidy(question: str) -> str:
    """Lower-case, casual forms spelled out, typos corrected towards the session vocabulary (times kept)."""
    out = []
    for tok in re.findall(r"\d{1,3}:\d{2}(?::\d{2})?|[\w'./+-]+|[?!,;:]", question.lower().replace("’", "'")):
        low = tok.strip(".") if not re.match(r"\d", tok) else tok
        if low in CASUAL:
            out.append(CASUAL[low])
            continue
        if low.isalpha() and len(low) >= 5 and low not in SESSION_WORDS:
            close = difflib.get_close_matches(low, SESSION_WORDS, n=1, cutoff=0.86)
            low = close[0] if close else low
        out.append(low)
    return re.sub(r"\s+([?!,;:])", r"\1", " ".join(out))


def parse_time(question: str) -> float | None:
    """A time in the question: "1:30", "at 90 seconds", "1 minute 30", "2 min"."""
    q = question.lower()
    if m := re.search(r"\b(\d{1,3}):([0-5]\d)(?::([0-5]\d))?\b", q):
        a, b, c = int(m[1]), int(m[2]), m[3]
        return a * 3600 + b * 60 + int(c) if c else a * 60 + b
    if m := re.search(r"\b(\d+)\s*(?:m|min|mins|minutes?)\b(?:\s*(?:and\s*)?(\d+)\s*(?:s|sec|secs|seconds?)\b)?", q):
        return int(m[1]) * 60 + (int(m[2]) if m[2] else 0)
    if m := re.search(r"\b(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", q):
        return float(m[1])
    return None


def parse_emotion(question: str) -> tuple[str, tuple[str, ...]] | None:
    q = question.lower()
    for stem, labels in SESSION_EMOTION_STEMS.items():
        if re.search(rf"\b{stem}", q):
            return SESSION_EMOTION_NAMES.get(stem, labels[0] if labels[0] != "disgust" else "disgusted"), labels
    return None


def named_sessions(question: str, records: list[SessionRecord]) -> tuple[str, ...]:
    q = question.lower()
    ids = {r.session_id.lower(): r.session_id for r in records}
    found = [(m.start(), ids[i]) for i in ids for m in [re.search(rf"(?<![\w.-]){re.escape(i)}(?![\w-])", q)] if m]
    return tuple(sid for _, sid in sorted(found))


def parse(question: str, records: list[SessionRecord], session_id: str | None = None) -> SessionIntent:
    """The intent and slots of an analyst's question (no answer yet)."""
    raw = question.lower()
    t = tidy(question)
    emo = parse_emotion(t)
    named = named_sessions(raw, records)
    role = next((r for r in ROLE_WORDS if re.search(rf"\b(?:the )?{r}s?\b", t)), None)
    time = parse_time(raw)
    base = {"role": role, "sessions": named, "text": t}
    e = {"emotion": emo[0], "labels": emo[1]} if emo else {}
    if COMPARE_RE.search(t) or (len(named) >= 2 and re.search(r"\bversus\b|\band\b", t)):
        return SessionIntent("compare", **base)
    if emo and RANKING_RE.search(t) and not session_id and not BEFORE_RE.search(t) and not re.search(r"\bwhen\b", t):
        return SessionIntent("ranking", **e, **base)
    kw = KEYWORD_RE.search(t) or PASSIVE_KEYWORD_RE.search(t)
    keyword = kw[1] if kw and kw[1] not in KEYWORD_STOP and kw[1] not in ROLE_WORDS and time is None else None
    if keyword and not re.search(r"\b(mention\w*|about|word|refund)\b", t) and not re.search(r"\bwhen\b|\bdid (?:they|anyone|someone)\b", t):
        keyword = None  # "what did they say" is no keyword question
    summary = bool(SUMMARY_RE.search(t))
    overall = bool(OVERALL_RE.search(t)) and not emo
    change = bool(CHANGE_RE.search(t))
    if emo and BEFORE_RE.search(t):  # "what happened right before the customer got upset" is no summary
        return SessionIntent("before", **e, **base)
    if not keyword and (summary or overall or change):
        if summary:
            return SessionIntent("summary", **base)
        return SessionIntent("overall_mood+change" if overall and change else "overall_mood" if overall else "change", **base)
    if time is not None and (SAY_RE.search(t) or re.search(r"\bat\b", t)):
        return SessionIntent("said_at", time=time, **base)
    if keyword:
        return SessionIntent("mentions", keyword=keyword, **base)
    if emo:
        return SessionIntent("when_emotion", **e, **base)
    if PEOPLE_RE.search(t):
        return SessionIntent("people", **base)
    if TRANSCRIPT_RE.search(t):
        return SessionIntent("transcript", **base)
    return SessionIntent("out_of_scope", **base)
