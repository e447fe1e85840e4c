"""The session analyst's fixed sentences: what the offline answers say when there is no figure to give.

The rule (ARCHITECTURE.md, prompts/ row): prompts/ holds only what a model reads (``prompts/sessions.yaml``
keeps the LLM's system and user prompts); every sentence the offline session analyst writes to the user
is Python: the fixed ones here, the others beside the figures they are built around, in
:mod:`facelens.agent.sessions.query` (answers to questions) and :mod:`facelens.agent.sessions.summary`
(summaries, changes of mood, comparisons).
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
# summaries and comparisons (agent/sessions/summary.py)
SUMMARY_NO_FACES = "No faces were seen."
SUMMARY_NO_CHANGE = "The face's look did not change over the session."
COMPARE_HEAD = (
    "The two sessions side by side (negative = angry, disgust, fear or sad; face: the share of time the most "
    "negative track looked it):"
)


def plural(count: int) -> str:
    """The plural ending of a noun counted ``count`` times: "" for one, else "s"."""
    return "" if count == 1 else "s"
