"""The session analyst's fixed sentences: the offline answers' frames around the stored figures.

The rule (ARCHITECTURE.md, prompts/ row): prompts/ holds only what a model reads (``prompts/sessions.yaml``
keeps the LLM's system and user prompts); every sentence the offline session analyst writes to the user
is Python, here, filled with the figures that :mod:`facelens.agent.sessions.query` and
:mod:`facelens.agent.sessions.summary` compute (times already as m:ss, shares as percentages).
"""

from __future__ import annotations

NO_SESSIONS = "No sessions are stored yet. Ingest one with: facelens session ingest FILE"
UNSUPPORTED = (
    "I can't answer that from the stored session data with the offline planner. I can answer: a summary of the "
    "session, the overall mood and when it changed, a comparison of two sessions, when someone looked or sounded a "
    "certain way, what was said at a time, what was said just before someone got angry (or another emotion), which "
    "sessions had the most of an emotion, when a word was mentioned, and who was seen. For open questions, configure "
    "an LLM (OPENAI_API_KEY or OPENAI_BASE_URL)."
)
FACE_NOT_RECORDED = (
    "Facial emotion was not recorded for this session (no emotion model was installed when it was ingested; ingest "
    "it again once facelens.tools.emotion is installed)."
)
NO_VIDEO = "This session has no video, so only the words can be read."
NO_PEOPLE = "No faces were seen in this session."
NO_TRANSCRIPT = "Nothing was said in this session (or it has no audio)."
SPEAKERS_NOT_SEPARATED = (
    "(The transcript does not tell speakers apart, so these are the words said at that time, by whoever spoke.)"
)
# summaries (agent/sessions/summary.py)
SUMMARY_NO_FACES = "No faces were seen."
SUMMARY_NOTHING_SAID = "nothing in the 15 seconds before"
SUMMARY_NO_CHANGE = "The face's look did not change over the session."
COMPARE_HEAD = (
    "The two sessions side by side (negative = angry, disgust, fear or sad; face: the share of time the most "
    "negative track looked it):"
)


def _s(count: int) -> str:
    """The plural ending of a noun counted ``count`` times."""
    return "" if count == 1 else "s"


# --- which session, which face ------------------------------------------------------------------


def which_session(session: str, duration: str) -> str:
    return f"(session {session}, {duration} long)"


def session_section(session: str, duration: str, text: str) -> str:
    return f"{session} ({duration}): {text}"


def named_track(name: str | None, track: int) -> str:
    return f"({name} is face track {track}; only that face is counted.)"


def unnamed_role(role: str, tracks: int, session: str) -> str:
    return (
        f'(No face track is named "{role}", so all {tracks} faces are counted. Name it with: '
        f"facelens session name {session} TRACK {role})"
    )


def no_such_place(place: int, count: int, listing: str) -> str:
    return (
        f"There is no session {place}: {count} session{_s(count)} {'is' if count == 1 else 'are'} stored, in "
        f"`facelens session list` order: {listing}. Name one by its place or its id."
    )


def compare_needs_two(example_a: str, example_b: str, ids: str) -> str:
    return (
        f'To compare, name two sessions, e.g. "compare sessions {example_a} and {example_b}". Stored sessions: {ids}.'
    )


# --- when someone looked or sounded a certain way -------------------------------------------------


def face_when(emotion: str, spans: str) -> str:
    return f"The face looked {emotion} at {spans}."


def face_never(emotion: str) -> str:
    return f"The face never looked {emotion} in the sampled frames."


def words_when(emotion: str, spans: str) -> str:
    return f"The words were {emotion} at {spans}."


def words_never(emotion: str) -> str:
    return f"No utterance's words read as {emotion}."


# --- what was said --------------------------------------------------------------------------------


def said_at(time: str, span: str, text: str) -> str:
    return f'At {time} ({span}): "{text}"'


def said_near(time: str, span: str, text: str) -> str:
    return f'Nothing was being said at {time}. The nearest utterance, at {span}: "{text}"'


def said_nothing_near(time: str) -> str:
    return f"Nothing was said within 10 seconds of {time}."


def after_end(length: str, time: str, span: str, text: str) -> str:
    return f'The session is only {length} long, so nothing was said at {time}. The last utterance, at {span}: "{text}"'


def before_onset(source: str, emotion: str, onset: str, lines: str) -> str:
    return f"Before the {source} turned {emotion} at {onset}: {lines}"


def before_onset_silent(window: int, source: str, emotion: str, onset: str) -> str:
    return f"Nothing was said in the {window} seconds before the {source} turned {emotion} at {onset}."


def no_onset(emotion: str) -> str:
    return f"Neither the face nor the words turned {emotion} in this session."


def mentions(keyword: str, spans: str) -> str:
    return f'"{keyword}" was said at {spans}.'


def no_mentions(keyword: str) -> str:
    return f'"{keyword}" was not said in this session (as transcribed).'


def mentions_across(keyword: str, hits: int, count: int, details: str) -> str:
    return f'"{keyword}" was said in {hits} of {count} sessions: {details}.'


def mentions_across_none(keyword: str, count: int, ids: str) -> str:
    return f'"{keyword}" was not said in any of the {count} sessions (as transcribed): {ids}.'


def mentions_not_in(ids: str) -> str:
    return f"Not said in: {ids}."


def people(count: int, details: str) -> str:
    return f"{count} face track{_s(count)} were seen: {details}."


def transcript(count: int, lines: str) -> str:
    return f"What was said ({count} utterances): {lines}"


# --- rankings -------------------------------------------------------------------------------------


def ranking_head(emotion: str) -> str:
    return (
        f"Sessions ranked by how {emotion} people were (share of time the face looked it, and utterances whose "
        "words expressed it):"
    )


def ranking_least_head(emotion: str) -> str:
    return (
        f"Sessions ranked from the least {emotion} (share of time the face looked it, and utterances whose words "
        "expressed it; negative = angry, disgust, fear or sad):"
    )


def ranking_line(rank: int, session: str, details: str) -> str:
    return f"{rank}. {session}: {details}"


def ranking_without(emotion: str, ids: str) -> str:
    return f"No {emotion} in: {ids}."


def ranking_none(count: int, emotion: str) -> str:
    return f"None of the {count} sessions showed {emotion} in the face or the words."


# --- summaries, changes of mood, comparisons (agent/sessions/summary.py) --------------------------


def summary_head(session: str, duration: str, media: str, utterances: int) -> str:
    return f"Session {session}: {duration} of {media}, {utterances} utterance{_s(utterances)} transcribed."


def summary_people(count: int, people: str) -> str:
    return f"{count} face track{_s(count)}: {people}."


def summary_track_mood(who: str, mostly: bool, dominant: str | None, shares: str) -> str:
    looked = "looked mostly" if mostly else "most often looked"
    return f"Overall, {who} {looked} {dominant} ({shares} of the time the face was read confidently)."


def summary_words_mood(shares: str, tone: str, valence: str) -> str:
    return f"The words were {shares} of utterances; their tone was {tone} (valence {valence})."


def summary_arc(arc: str) -> str:
    return f"Mood arc (face): {arc}."


def summary_moments_head(count: int) -> str:
    return f"Key moments ({count} change{_s(count)} of the face's look):"


def summary_moment(time: str, who: str, before: str, after: str, confidence: str, said: str, words: str) -> str:
    """One key moment; ``words``: "" or " Words at that moment: ...." (with its leading space)."""
    return f"- {time}: {who} went from looking {before} to looking {after} ({confidence}). Said just before: {said}.{words}"


def summary_more_moments(count: int) -> str:
    return f"... and {count} more changes (see facelens session report for all of them)."


def changes_none(session: str, words: str | None) -> str:
    return f"The face's look did not change in session {session}{'; the words were ' + words if words else ''}."


def compare_line(
    session: str, duration: str, faces: str, face_negative: str, words_negative: str, valence: str, changes: int
) -> str:
    return (
        f"- {session}: {duration} long; {faces}; face negative {face_negative}; words negative {words_negative} "
        f"(valence {valence}); {changes} change{_s(changes)} of look."
    )


def trend_face(emotion: str, direction: str, before: str, after: str, start: str, end: str, who: str) -> str:
    return (
        f"The face's {emotion} score (smoothed) {direction} from {before} to {after} between {start} and {end} ({who})."
    )


def trend_words(before: str, start: str, after: str, end: str, text: str) -> str:
    return f'The words went from {before} ({start}) to {after} ({end}: "{text}").'
