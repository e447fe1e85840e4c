"""What an analyst wants first from a recorded session: its summary, overall mood, and when the mood changed.

Everything is computed from the stored record (agent/sessions/store.py), offline:

- **mood arc**: per face track, consecutive timeline intervals with the same (confident) emotion are
  merged into phases; phases shorter than :data:`MIN_PHASE_S` are blips of a noisy per-frame model
  and are folded into their neighbours;
- **key moments**: each change from one phase to the next, with what was said just before it and the
  words' own emotion at that time, face and words side by side;
- **overall mood**: per track, the share of watched time with each emotion; for the words, the share
  of utterances and their mean valence.

Faces are described as appearance ("looked angry"), never as what someone felt.
"""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from facelens.agent.sessions import wording
from facelens.agent.sessions.clock import mmss
from facelens.agent.sessions.store import SessionRecord, SessionSegment, TimelineEntry
from facelens.tools.schema import Result

MIN_CONFIDENCE = 0.35  # face intervals below this are too uncertain to count (as in session_query)
MIN_PHASE_S = 2.0  # a phase shorter than this is a blip, not a change of mood
BEFORE_WINDOW_S = 15.0  # how far back "what was said just before" looks
MAX_MOMENTS = 12  # key moments listed in a summary (the rest are counted)
NEGATIVE = ("angry", "disgust", "fear", "sad")


class MoodPhase(Result):
    track: int
    name: str | None = None  # the track's name ("customer"), when one was given
    start: float  # seconds
    end: float
    emotion: str  # what the face looked like
    confidence: float  # mean confidence over the phase


class Utterance(Result):
    start: float
    end: float
    text: str
    emotion: str  # what the words express


class KeyMoment(Result):
    time: float  # seconds: when the new phase starts
    track: int
    name: str | None = None
    before: str  # the face's emotion in the previous phase
    after: str  # ... and in the new one
    confidence: float  # of the new phase
    said_before: list[Utterance] = Field(default_factory=list)  # up to two utterances just before
    words_now: str | None = None  # the words' emotion of what was being said at that time


class TrackMood(Result):
    track: int
    name: str | None = None
    seconds: float  # watched, with a confident emotion
    shares: dict[str, float]  # emotion -> share of those seconds
    dominant: str | None = None


class WordsMood(Result):
    utterances: int
    shares: dict[str, float]  # emotion -> share of utterances
    valence: float  # mean valence of the words, -1..+1
    dominant: str | None = None


class SessionSummary(Result):
    session_id: str
    duration: float
    has_video: bool
    has_audio: bool
    tracks: list[TrackMood] = Field(default_factory=list)
    words: WordsMood | None = None
    arc: list[MoodPhase] = Field(default_factory=list)
    moments: list[KeyMoment] = Field(default_factory=list)
    more_moments: int = 0  # changes not listed in ``moments``
    text: str = ""  # the summary in words


def _name(rec: SessionRecord, track: int) -> str | None:
    return next((p.name for p in rec.people if p.track == track and p.name), None)


def mood_arc(rec: SessionRecord) -> list[MoodPhase]:
    """The face phases of every track, in time order (see the module docstring)."""
    phases: list[MoodPhase] = []
    for track in sorted({t.track for t in rec.timeline}):
        entries = sorted(
            (t for t in rec.timeline if t.track == track and t.emotion and (t.confidence or 0) >= MIN_CONFIDENCE),
            key=lambda t: t.start,
        )
        mine = _merge(entries, track, _name(rec, track))
        # fold blips: a short phase between two others takes no part in the arc
        kept = [p for p in mine if p.end - p.start >= MIN_PHASE_S] or mine[:1]
        phases += _merge_phases(kept)
    return sorted(phases, key=lambda p: (p.start, p.track))


def _merge(entries: list[TimelineEntry], track: int, name: str | None) -> list[MoodPhase]:
    out: list[MoodPhase] = []
    weight: list[float] = []
    for t in entries:
        d = max(t.end - t.start, 1e-3)
        if out and out[-1].emotion == t.emotion and t.start - out[-1].end <= 2.0:
            p = out[-1]
            total = weight[-1] + d
            out[-1] = p.model_copy(
                update={"end": t.end, "confidence": (p.confidence * weight[-1] + (t.confidence or 0) * d) / total}
            )
            weight[-1] = total
        else:
            out.append(
                MoodPhase(
                    track=track,
                    name=name,
                    start=t.start,
                    end=t.end,
                    emotion=str(t.emotion),
                    confidence=float(t.confidence or 0),
                )
            )
            weight.append(d)
    return out


def _merge_phases(phases: list[MoodPhase]) -> list[MoodPhase]:
    out: list[MoodPhase] = []
    for p in phases:
        if out and out[-1].emotion == p.emotion:
            q = out[-1]
            out[-1] = q.model_copy(update={"end": p.end, "confidence": (q.confidence + p.confidence) / 2})
        else:
            out.append(p)
    return out


def _said_before(rec: SessionRecord, t: float) -> list[Utterance]:
    said = [s for s in rec.transcript if s.start < t and s.end >= t - BEFORE_WINDOW_S]
    return [_utt(s) for s in said[-2:]]


def _utt(s: SessionSegment) -> Utterance:
    return Utterance(start=s.start, end=s.end, text=s.text, emotion=s.emotion)


def key_moments(rec: SessionRecord, arc: list[MoodPhase] | None = None) -> list[KeyMoment]:
    """Every change of a track's face phase, with the words around it, in time order."""
    arc = mood_arc(rec) if arc is None else arc
    out = []
    for track in sorted({p.track for p in arc}):
        mine = [p for p in arc if p.track == track]
        for prev, cur in zip(mine, mine[1:]):
            now = next((s for s in rec.transcript if s.start - 0.5 <= cur.start <= s.end + 0.5), None)
            out.append(
                KeyMoment(
                    time=cur.start,
                    track=track,
                    name=cur.name,
                    before=prev.emotion,
                    after=cur.emotion,
                    confidence=cur.confidence,
                    said_before=_said_before(rec, cur.start),
                    words_now=now.emotion if now else None,
                )
            )
    return sorted(out, key=lambda m: (m.time, m.track))


def overall_mood(rec: SessionRecord) -> tuple[list[TrackMood], WordsMood | None]:
    """Per track, the share of confidently read time with each facial emotion; the words' shares and valence."""
    tracks = []
    for track in sorted({t.track for t in rec.timeline}):
        secs: Counter[str] = Counter()
        for t in rec.timeline:
            if t.track == track and t.emotion and (t.confidence or 0) >= MIN_CONFIDENCE:
                secs[t.emotion] += max(t.end - t.start, 0.0)
        total = sum(secs.values())
        shares = {e: round(s / total, 3) for e, s in secs.most_common()} if total else {}
        tracks.append(
            TrackMood(
                track=track,
                name=_name(rec, track),
                seconds=round(total, 1),
                shares=shares,
                dominant=next(iter(shares), None),
            )
        )
    words = None
    if rec.transcript:
        counts = Counter(s.emotion for s in rec.transcript)
        n = len(rec.transcript)
        shares = {e: round(c / n, 3) for e, c in counts.most_common()}
        words = WordsMood(
            utterances=n,
            shares=shares,
            valence=round(sum(s.valence for s in rec.transcript) / n, 3),
            dominant=next(iter(shares), None),
        )
    return tracks, words


def _who(track: int, name: str | None, n_tracks: int) -> str:
    if name:
        return f"{name} (track {track})"
    return "the face" if n_tracks == 1 else f"track {track}"


def _shares(shares: dict[str, float], k: int = 3) -> str:
    return ", ".join(f"{e} {s:.0%}" for e, s in list(shares.items())[:k])


def summarise(rec: SessionRecord, *, max_moments: int = MAX_MOMENTS) -> SessionSummary:
    """The whole summary of one session, with its text."""
    arc = mood_arc(rec)
    moments = key_moments(rec, arc)
    tracks, words = overall_mood(rec)
    n = len({t.track for t in rec.timeline}) or len(rec.people)
    media = "video and audio" if rec.has_video and rec.has_audio else "video only" if rec.has_video else "audio only"
    said = len(rec.transcript)
    lines = [
        f"Session {rec.session_id}: {mmss(rec.duration)} of {media}, {said} utterance{wording.plural(said)} transcribed."
    ]
    if rec.people:
        people = "; ".join(
            f"{_who(p.track, p.name, len(rec.people))} on screen {mmss(p.first_seen)}–{mmss(p.last_seen)}"
            for p in rec.people
        )
        lines.append(f"{len(rec.people)} face track{wording.plural(len(rec.people))}: {people}.")
    elif rec.has_video:
        lines.append(wording.SUMMARY_NO_FACES)
    if rec.has_video and rec.people and rec.emotion_model is None:
        lines.append(wording.FACE_NOT_RECORDED)
    for tm in tracks:
        if tm.shares:
            looked = "looked mostly" if tm.shares[tm.dominant or ""] >= 0.5 else "most often looked"
            lines.append(
                f"Overall, {_who(tm.track, tm.name, n)} {looked} {tm.dominant} ({_shares(tm.shares)} of the time the "
                "face was read confidently)."
            )
    if words:
        tone = "negative" if words.valence <= -0.15 else "positive" if words.valence >= 0.15 else "mostly neutral"
        lines.append(
            f"The words were {_shares(words.shares)} of utterances; their tone was {tone} (valence {words.valence:+.2f})."
        )
    elif rec.has_audio:
        lines.append(wording.NO_TRANSCRIPT)
    if arc:
        parts = []
        for track in sorted({p.track for p in arc}):
            mine = [p for p in arc if p.track == track]
            seq = " → ".join(f"{p.emotion} ({mmss(p.start)})" for p in mine[:10]) + (" → …" if len(mine) > 10 else "")
            parts.append(f"{_who(track, mine[0].name, n)}: {seq}")
        lines.append(f"Mood arc (face): {'; '.join(parts)}.")
    shown = moments[:max_moments]
    if shown:
        lines.append(f"Key moments ({len(moments)} change{wording.plural(len(moments))} of the face's look):")
        for m in shown:
            before = " ".join(f'{mmss(u.start)} "{u.text}" (words: {u.emotion})' for u in m.said_before) or (
                "nothing in the 15 seconds before"
            )
            lines.append(
                f"- {mmss(m.time)}: {_who(m.track, m.name, n)} went from looking {m.before} to looking {m.after} "
                f"({m.confidence:.0%}). Said just before: {before}."
                + (f" Words at that moment: {m.words_now}." if m.words_now else "")
            )
        if len(moments) > len(shown):
            lines.append(
                f"... and {len(moments) - len(shown)} more changes (see facelens session report for all of them)."
            )
    elif rec.has_video and rec.emotion_model and arc:
        lines.append(wording.SUMMARY_NO_CHANGE)
    return SessionSummary(
        **rec.model_dump(include={"session_id", "duration", "has_video", "has_audio"}),
        tracks=tracks,
        words=words,
        arc=arc,
        moments=shown,
        more_moments=len(moments) - len(shown),
        text="\n".join(line.strip() for line in lines),
    )


def compare(a: SessionRecord, b: SessionRecord) -> str:
    """Two sessions side by side: length, each face's dominant look, negative share of face and words, changes."""
    rows = []
    for rec in (a, b):
        tracks, words = overall_mood(rec)
        face_neg = [sum(tm.shares.get(e, 0) for e in NEGATIVE) for tm in tracks if tm.shares]
        faces = (
            ", ".join(f"{_who(tm.track, tm.name, len(tracks))} mostly {tm.dominant}" for tm in tracks if tm.dominant)
            or "no facial emotion"
        )
        face_negative = f"{max(face_neg):.0%}" if face_neg else "n/a"
        words_negative = f"{sum(words.shares.get(e, 0) for e in NEGATIVE):.0%}" if words else "n/a"
        valence = f"{words.valence:+.2f}" if words else "n/a"
        changes = len(key_moments(rec))
        rows.append(
            f"- {rec.session_id}: {mmss(rec.duration)} long; {faces}; face negative {face_negative}; words negative "
            f"{words_negative} (valence {valence}); {changes} "
            f"change{wording.plural(changes)} of look."
        )
    return wording.COMPARE_HEAD + "\n" + "\n".join(rows)


TREND_WINDOW_S = 5.0  # the moving average that smooths the face's per-second scores
TREND_MIN = 0.25  # a smoothed score that rises or falls by at least this much is a change of mood
TREND_FLOOR = 0.4  # ... of an emotion the face showed at least this strongly at one end


class Trend(Result):
    track: int
    name: str | None = None
    emotion: str  # the score that moved
    start: float  # seconds: where the smoothed score was at one end of the move
    end: float
    before: float  # smoothed score at ``start``
    after: float  # ... at ``end``

    @property
    def direction(self) -> str:
        return "rose" if self.after > self.before else "fell"


def _smooth(values: list[float], k: int) -> list[float]:
    half = max(0, k // 2)
    return [
        sum(values[max(0, i - half) : i + half + 1]) / len(values[max(0, i - half) : i + half + 1])
        for i in range(len(values))
    ]


def score_trends(rec: SessionRecord, seconds: list, *, max_per_track: int = 2) -> list[Trend]:
    """Changes of mood in the face's smoothed scores, not only in its top label: per track and emotion, the
    largest rise or fall of the moving average (TREND_WINDOW_S) by TREND_MIN or more, e.g. a happy score
    that falls from 0.9 to 0.45 while "happy" stays the top label. ``seconds``: the stored per-second scores
    (:func:`facelens.agent.sessions.store.seconds`); without them (no emotion model at ingest) there is no trend:
    the timeline's top labels alone do not give the other emotions' scores."""
    rows: dict[int, list[tuple[float, dict[str, float]]]] = {}
    for s in seconds:
        rows.setdefault(s.track, []).append((float(s.t), dict(s.scores)))
    out: list[Trend] = []
    for track, series in sorted(rows.items()):
        series.sort(key=lambda x: x[0])
        if len(series) < 3:
            continue
        step = max(1e-3, (series[-1][0] - series[0][0]) / max(1, len(series) - 1))
        k = max(1, int(round(TREND_WINDOW_S / step)))
        times = [t for t, _ in series]
        found = []
        for emo in sorted({e for _, sc in series for e in sc}):
            sm = _smooth([sc.get(emo, 0.0) for _, sc in series], k)
            best = None  # (|delta|, i, j)
            lo = hi = 0  # index of the running min / max so far
            for j in range(1, len(sm)):
                for i in (hi, lo):
                    d = sm[j] - sm[i]
                    if best is None or abs(d) > best[0]:
                        best = (abs(d), i, j)
                if sm[j] > sm[hi]:
                    hi = j
                if sm[j] < sm[lo]:
                    lo = j
            if best and best[0] >= TREND_MIN and max(sm[best[1]], sm[best[2]]) >= TREND_FLOOR:
                _, i, j = best
                found.append(
                    Trend(
                        track=track,
                        name=_name(rec, track),
                        emotion=emo,
                        start=times[i],
                        end=times[j],
                        before=round(sm[i], 2),
                        after=round(sm[j], 2),
                    )
                )
        found.sort(key=lambda tr: -abs(tr.after - tr.before))
        out += found[:max_per_track]
    return sorted(out, key=lambda tr: (tr.start, tr.track))


def words_arc(rec: SessionRecord) -> tuple[SessionSegment, SessionSegment] | None:
    """The words' emotion at the start and at the end of the session when they differ ("happy" -> "sad"):
    the first utterance whose words are not neutral, and the first of the last run of the end's emotion
    (neutral utterances in between do not break the run)."""
    emotional = [s for s in rec.transcript if s.emotion and s.emotion != "neutral"]
    if len(emotional) < 2 or emotional[0].emotion == emotional[-1].emotion:
        return None
    i = len(emotional) - 1
    while i > 0 and emotional[i - 1].emotion == emotional[-1].emotion:
        i -= 1
    return emotional[0], emotional[i]


def trend_lines(rec: SessionRecord, seconds: list) -> list[str]:
    """The face's score trends and the words' arc in words."""
    n = len({t.track for t in rec.timeline}) or len(rec.people)
    lines = [
        f"The face's {tr.emotion} score (smoothed) {tr.direction} from {tr.before:.2f} to {tr.after:.2f} between "
        f"{mmss(tr.start)} and {mmss(tr.end)} ({_who(tr.track, tr.name, n)})."
        for tr in score_trends(rec, seconds)
    ]
    if arc := words_arc(rec):
        a, b = arc
        lines.append(f'The words went from {a.emotion} ({mmss(a.start)}) to {b.emotion} ({mmss(b.start)}: "{b.text}").')
    return lines
