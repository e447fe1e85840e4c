"""Understanding an analyst's question about stored sessions: its intent and slots, before any answer.

Intents: summary, overall_mood, change (and the compound overall_mood+change), compare, ranking,
before, when_emotion, said_at, mentions, people, transcript, and out_of_scope. Slots: the emotion
(everyday words: frustrated, mad, upset, smiling ...), a time ("1:30", "90 seconds"), a keyword
("the refund"), the sessions named, the role or name of a face track ("the customer"), and the scope:
the sessions named by id, or by their place in ``session list`` order ("session 2", "the second
call", "the last call": an id that matches wins), or every session ("did anyone mention a refund?",
"in any of the calls"), else the latest. A ranking has a direction: "most negative", "angriest",
"happiest" rank from the most; "calmest", "least angry" from the least.

The question is first tidied the way the photo planner tidies its questions (casual forms spelled
out, typos corrected towards the words of this domain), then exact rules decide: the cues of
these families are words, not meanings, so rules are exact where a sentence model would guess.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from facelens.agent.assistant.lexicon import SESSION_EMOTION_NAMES, SESSION_EMOTION_STEMS, Patterns
from facelens.agent.sessions.store import SessionRecord

#: words of this domain that typos are corrected towards
SESSION_WORDS = (
    "summarise",
    "summarize",
    "summary",
    "overview",
    "recap",
    "overall",
    "general",
    "mood",
    "change",
    "compare",
    "versus",
    "difference",
    "sessions",
    "session",
    "calls",
    "recordings",
    "meetings",
    "recording",
    "meeting",
    "conversation",
    "conversations",
    "mention",
    "mentioned",
    "transcript",
    "customer",
    "customers",
    "frustrated",
    "frustration",
    "angry",
    "happened",
    "before",
    "triggered",
    "refund",
    "people",
    "faces",
    "session",
    "said",
)
CASUAL = {
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "ppl": "people",
    "r": "are",
    "whats": "what is",
    "what's": "what is",
    "wat": "what",
    "w/": "with",
    "vs": "versus",
    "vs.": "versus",
    "thx": "thanks",
    "b4": "before",
    "cust": "customer",
    "convo": "conversation",
    "rec": "recording",
    "sesh": "session",
    "happend": "happened",
}

KEYWORD_STOP = {
    "it",
    "that",
    "this",
    "anything",
    "something",
    "before",
    "after",
    "when",
    "what",
    "at",
    "in",
    "to",
    "was",
    "where",
    "so",
    "the",
    "they",
    "he",
    "she",
    "i",
    "you",
    "we",
    "there",
    "here",
    "come",
    "came",
    "up",
    "around",
    "any",
    "of",
    "for",
    "during",
    "on",
    "by",
    "anyone",
    "anybody",
    "someone",
    "somebody",
    "ever",
    "has",
    "had",
    "been",
}
SESSION_NOUN = r"(?:sessions?|calls?|recordings?|meetings?|conversations?|videos?)"
ORDINALS = {
    "first": 1,
    "1st": 1,
    "one": 1,
    "second": 2,
    "2nd": 2,
    "two": 2,
    "third": 3,
    "3rd": 3,
    "three": 3,
    "fourth": 4,
    "4th": 4,
    "four": 4,
    "fifth": 5,
    "5th": 5,
    "five": 5,
    "sixth": 6,
    "6th": 6,
    "six": 6,
    "seventh": 7,
    "7th": 7,
    "eighth": 8,
    "8th": 8,
    "ninth": 9,
    "9th": 9,
    "tenth": 10,
    "10th": 10,
}
ORDINAL_WORDS = "|".join(sorted(ORDINALS, key=len, reverse=True))
PLACE_WORDS = "|".join(w for w in sorted(ORDINALS, key=len, reverse=True) if w[-2:] in ("st", "nd", "rd", "th"))
#: the cues of each intent and slot by name (`RE.compare`, `RE.numbered`), matched on the tidied question
RE = Patterns(
    {
        "compare": r"\b(compar\w*|versus|difference between|differ\w*)\b",
        "summary": (
            r"\b(summar\w*|overview|recap|sum (?:it |this |that |the \w+ )?up|tl;? ?dr|what happened|"
            r"how did (?:the|this|that) (?:session|call|meeting|conversation|recording) go)\b"
        ),
        "overall": r"\b(overall|in general|general (?:mood|vibe|tone)|mood|vibe|tone|how did (?:the|they|he|she) \w+ (?:feel|seem|look)|come across)\b",
        "change": (
            r"\b(chang\w*|shift\w*|switch\w*|swing\w*|turn(?:ed|ing|s)?|turning point|arc|evolv\w*|develop\w*|trend\w*|"
            r"drop\w*|declin\w*|fell|fall\w*|rose|ris(?:e|ing))\b"
        ),
        "ranking": (
            r"\b(?:which|what|in which|rank)\s+(?:\w+\s+)?(?:sessions?|calls?|recordings?|meetings?)\b|\bsessions\b|\bcalls\b|"
            r"\bmost\b|\brank\w*\b|\bworst\b"
        ),
        "before": r"\b(before|prior to|led to|lead to|leading up|led up|trigger\w*|caus\w*|right before|just before)\b",
        "say": r"\b(say|said|saying|talk\w*|spoken|speak\w*|hear|heard|discuss\w*)\b",
        "keyword": (
            r"\b(?:mention(?:ed|s)?(?:\s+of)?|say about|said about|talk(?:ed|ing)? about|ask(?:ed|ing)? (?:about|for)|(?:the )?word|say|said)\s+"
            r"(?:the\s+|a\s+|an\s+|any\s+)?['\"]?([a-z][a-z'-]+)"
        ),
        "passive_keyword": r"\b(?:the |a |an )?([a-z][a-z'-]+) (?:was |were |got |being |been )?(?:mentioned|brought up|talked about|c[oa]me up|coming up)\b",
        "people": (
            r"\b(who (?:was|were|is|are) (?:in|on|there|present|seen|visible|involved)|who (?:appeared|took part|participated|was seen)|"
            r"how many (?:people|faces|persons|participants|speakers)|how many\b.*\b(?:people|faces)|participants)\b"
        ),
        "transcript": (
            r"\b(transcript\w*|what was (?:said|talked about|discussed)|what did (?:they|he|she|the \w+|we|i) (?:say|talk about|discuss)|"
            r"what (?:they|we) (?:said|talked about)|what they talked about)\b"
        ),
        # "session 2", "call #2", "call number 2", "session two"
        "numbered": rf"\b(session|call|recording|meeting|conversation|video)\s*(?:#|no\.?\s*|number\s+)?(\d{{1,3}}|{ORDINAL_WORDS})\b",
        # "the second call", "the 2nd session", "the second one", "the last call", "the previous session"
        "ordinal": rf"\b(?:the\s+)?({PLACE_WORDS}|last|latest|final|previous|most recent|earliest)\s+(?:one\b|{SESSION_NOUN}\b)",
        # two by place: "the first and second calls", "sessions 1 and 3", "calls 2 & 4"
        "pair": (
            rf"\b(?:({PLACE_WORDS})\s+(?:and|&|vs\.?|versus)\s+(?:the\s+)?({PLACE_WORDS})\s+{SESSION_NOUN}|"
            rf"(?:sessions|calls|recordings|meetings|conversations)\s+(\d{{1,3}})\s*(?:and|&|,|vs\.?|versus)\s*(\d{{1,3}}))\b"
        ),
        # every session: "in any of the calls", "across the sessions", "which calls ...", "in all calls"
        "all": (
            rf"\b(?:any|all|every|each|across)\s+(?:of\s+)?(?:the\s+|my\s+|our\s+|these\s+)?(?:\w+\s+)?{SESSION_NOUN}\b|"
            rf"\b(?:which|what|in which)\s+(?:\w+\s+)?{SESSION_NOUN}\b|\b(?:sessions|calls|recordings|meetings|conversations)\b|"
            r"\bany\s+(?:of\s+the\s+)?(?:customers?|callers?|clients?)\b"
        ),
        # one session: "in this call", "the session", "that recording"
        "this": rf"\b(?:this|that|the|current)\s+{SESSION_NOUN[:-1].replace('s?', '')})\b",
        # rankings from the least: "calmest", "least angry", "most relaxed"
        "calm": r"\b(calm\w*|relax\w*|peaceful\w*|least|fewest)\b",
        "negative": r"\b(negativ\w*|worst|bad(?:ly)?|gloom\w*|unpleasant)\b",
        "positive": r"\b(positiv\w*|best|cheer\w*|pleasant)\b",
        # a superlative that makes "which call ..." a ranking ("happiest call?", "which call was the calmest")
        "superlative": r"\b(most|least|\w+iest|calmest|saddest|tensest|worst|best|rank\w*)\b|\b(?:customers|callers|clients)\b",
        # "search all calls for refund", "look for 'refund'"
        "search": r"\b(?:search|look|grep|find)\b.*?\bfor\s+(?:the\s+|a\s+|an\s+)?['\"]?([a-z][a-z'-]+)",
    }
)
#: the session vocabulary's own readings of emotion words: disappointment counts with frustration and
#: annoyance in the angry family (as the words' emotion does, tools/text_emotion.py)
EMOTION_STEMS = {**SESSION_EMOTION_STEMS, "disappoint": ("angry", "disgust")}
EMOTION_NAMES = {**SESSION_EMOTION_NAMES, "disappoint": "disappointed", "annoy": "annoyed"}
NEGATIVE_LABELS = ("angry", "disgust", "fear", "sad")
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
    scope: str = "latest"  # "named" (by id or place in the list), "all" (every session), "latest"
    order: str = "most"  # a ranking from the "most" or from the "least"
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
    for stem, labels in EMOTION_STEMS.items():
        if re.search(rf"\b{stem}", q):
            return EMOTION_NAMES.get(stem, labels[0] if labels[0] != "disgust" else "disgusted"), labels
    return None


def named_sessions(question: str, records: list[SessionRecord]) -> tuple[str, ...]:
    """Session ids the question names; an id that is only the noun of "call 2" / "the second call" is not one
    (with sessions "call" and "call-2" stored, "summarise call 2" names call-2)."""
    q = question.lower()
    ids = {r.session_id.lower(): r.session_id for r in records}
    places = [m.span() for rx in (RE.numbered, RE.ordinal) for m in rx.finditer(q)]
    found = [
        (m.start(), ids[i])
        for i in ids
        for m in [re.search(rf"(?<![\w.-]){re.escape(i)}(?![\w-])", q)]
        if m and not any(a <= m.start() < b and not (a == m.start() and b == m.end()) for a, b in places)
    ]
    return tuple(sid for _, sid in sorted(found))


def missing_place(question: str, records: list[SessionRecord]) -> int | None:
    """A place in ``session list`` order the question names that no stored session has ("session 9" of 4)."""
    q = question.lower()
    ids = {r.session_id.lower() for r in records}
    for m in RE.numbered.finditer(q):
        n = int(m[2]) if m[2].isdigit() else ORDINALS[m[2]]
        if not 1 <= n <= len(records) and not ({m[2], f"{m[1]}-{m[2]}", f"{m[1]}{m[2]}", f"{m[1]}_{m[2]}"} & ids):
            return n
    for m in RE.ordinal.finditer(q):
        if m[1] in ORDINALS and ORDINALS[m[1]] > len(records):
            return ORDINALS[m[1]]
    return None


def by_place(question: str, records: list[SessionRecord]) -> tuple[str, ...]:
    """Sessions named by their place in ``session list`` order ("session 2", "the second call", "the
    last call"); an id that matches the words ("session 2" with a session called "2" or "session-2") wins."""
    q = question.lower()
    ids = {r.session_id.lower(): r.session_id for r in records}
    order = [r.session_id for r in records]
    found: list[tuple[int, str]] = []
    for m in RE.numbered.finditer(q):
        noun, num = m[1], m[2]
        n = int(num) if num.isdigit() else ORDINALS[num]
        for cand in (num, f"{noun}-{num}", f"{noun}{num}", f"{noun}_{num}", f"{noun}s-{num}"):
            if cand in ids:
                found.append((m.start(), ids[cand]))
                break
        else:
            if 1 <= n <= len(order):
                found.append((m.start(), order[n - 1]))
    for m in RE.pair.finditer(q):
        for k, w in enumerate((m[1] or m[3], m[2] or m[4])):
            n = int(w) if w.isdigit() else ORDINALS[w]
            if 1 <= n <= len(order):
                found.append((m.start() + k, order[n - 1]))
    for m in RE.ordinal.finditer(q):
        word = m[1]
        if any(m.start() <= f < m.end() for f, _ in found):
            continue
        if word in ORDINALS:
            n = ORDINALS[word]
            if n <= len(order):
                found.append((m.start(), order[n - 1]))
        elif word == "previous" and len(order) >= 2:
            found.append((m.start(), order[-2]))
        elif word == "earliest" and order:
            found.append((m.start(), order[0]))
        elif order:
            found.append((m.start(), order[-1]))
    out: list[str] = []
    for _, sid in sorted(found):
        if sid not in out:
            out.append(sid)
    return tuple(out)


def ranking_emotion(t: str) -> tuple[str, tuple[str, ...], str] | None:
    """The emotion a ranking sorts by and its direction: "most negative", "calmest" (the least negative first),
    "least angry", "happiest", "most positive"."""
    calm = re.search(r"\b(calm\w*|relax\w*|peaceful\w*)\b", t)
    least, most = re.search(r"\b(least|fewest)\b", t), re.search(r"\bmost\b", t)
    if calm and not (least and least.start() < calm.start()):
        return "calm", NEGATIVE_LABELS, "least"  # "calmest", "most relaxed", "from calmest to most upset"
    least = bool(
        least and not (most and most.start() < least.start())
    )  # "from most to least negative" ranks from the most
    emo = parse_emotion(t)
    if emo:
        return emo[0], emo[1], "least" if least else "most"
    if RE.negative.search(t):
        return "negative", NEGATIVE_LABELS, "least" if least else "most"
    if RE.positive.search(t):
        return "positive", ("happy",), "least" if least else "most"
    return None


def parse(question: str, records: list[SessionRecord], session_id: str | None = None) -> SessionIntent:
    """The intent and slots of an analyst's question (no answer yet). ``session_id``: the session the
    asker chose, or "all" for every session (``--session all``, the UI's scope)."""
    raw = question.lower()
    t = tidy(question)
    named = tuple(dict.fromkeys(named_sessions(raw, records) + by_place(t, records)))
    one = bool(session_id) and session_id != "all"
    emo = parse_emotion(t)
    rank = ranking_emotion(t) if not one and not named and (RE.ranking.search(t) or RE.superlative.search(t)) else None
    role = next((r for r in ROLE_WORDS if re.search(rf"\b(?:the )?{r}s?\b", t)), None)
    time = parse_time(raw)
    scope = "named" if named or one else "all" if session_id == "all" or RE.all.search(t) else "latest"
    base = {
        "role": role,
        "sessions": named,
        "text": t,
        "scope": scope,
        "slots": {"missing_place": n} if (n := missing_place(t, records)) is not None else {},
    }
    e = {"emotion": emo[0], "labels": emo[1]} if emo else {}
    if RE.compare.search(t) or (len(named) >= 2 and re.search(r"\bversus\b|\band\b", t)):
        return SessionIntent("compare", **base)
    if (
        rank
        and not named
        and not RE.before.search(t)
        and not re.search(r"\bwhen\b", t)
        and ((emo and RE.ranking.search(t)) or RE.superlative.search(t))
    ):
        return SessionIntent("ranking", emotion=rank[0], labels=rank[1], order=rank[2], **{**base, "scope": "all"})
    kws = [m[1] for rx in (RE.keyword, RE.passive_keyword, RE.search) for m in rx.finditer(t)]
    keyword = next((k for k in kws if k not in KEYWORD_STOP and k not in ROLE_WORDS), None) if time is None else None
    if (
        keyword
        and not re.search(r"\b(mention\w*|about|word|refund|search|find|look|ask\w* for)\b", t)
        and not re.search(r"\bwhen\b|\bdid (?:they|anyone|someone)\b", t)
    ):
        keyword = None  # "what did they say" is no keyword question
    summary = bool(RE.summary.search(t))
    overall = bool(RE.overall.search(t)) and not emo
    change = bool(RE.change.search(t))
    if emo and RE.before.search(t):  # "what happened right before the customer got upset" is no summary
        return SessionIntent("before", **e, **base)
    if not keyword and (summary or overall or change):
        if summary:
            return SessionIntent("summary", **base)
        return SessionIntent(
            "overall_mood+change" if overall and change else "overall_mood" if overall else "change", **base
        )
    if time is not None and (RE.say.search(t) or re.search(r"\bat\b", t)):
        return SessionIntent("said_at", time=time, **base)
    if keyword:
        return SessionIntent("mentions", keyword=keyword, **base)
    if emo:
        return SessionIntent("when_emotion", **e, **base)
    if RE.people.search(t):
        return SessionIntent("people", **base)
    if RE.transcript.search(t):
        return SessionIntent("transcript", **base)
    return SessionIntent("out_of_scope", **base)
