"""The offline planner's fixed sentences: refusals, missing models, questions back to the user.

The rule (ARCHITECTURE.md, prompts/ row): prompts/ holds only what a model reads; every sentence the
offline planner writes to the user is Python, here or beside the figures it is built around
(``compose``, ``compose_groups``, ``compose_yes_no``, ``user_mood``, ``referring``).
"""

from __future__ import annotations

BEYOND_SCOPE = (
    "I can't answer that offline. Without an LLM I understand questions about the people in the picture, asked in your own "
    "words: how many people (or how many look happy, wear red, are women), who looks happiest / most surprised / oldest, is "
    "anyone smiling, who is on the left, is NAME here, how is the person in red feeling, how old is she, what is face 2 "
    'wearing, describe everyone (also "as JSON"), are face 1 and face 3 the same person, what was said in the audio, and two '
    'of these at once ("who looks happiest and how old is she?"). For anything else, configure an LLM: set OPENAI_API_KEY '
    "(and OPENAI_BASE_URL for an OpenAI-compatible server such as Ollama, vLLM or LM Studio), or FACELENS_LOCAL_MODEL to a "
    "GGUF file or Hugging Face model folder, then ask again (or pass --backend openai|local)."
)
RACE_DECLINE = (
    "I don't infer race or ethnicity: it can't be read reliably from a face, and guessing it would be harmful."
)
RACE_ONLY = (
    "That is all I can say to this question; I can describe positions, clothing colours, apparent emotions, apparent age "
    "and who is enrolled in your gallery instead."
)
GALLERY_EMPTY = "Nobody is enrolled in the face gallery, so I can't tell who anyone is. Enroll people with: facelens enroll NAME PHOTO..."
NO_AUDIO = (
    "No audio was given with this question, so there is no transcript to answer from. Pass one with --audio FILE."
)
ACTIVITY_OFFLINE = "Offline I can describe the people, not what they are doing."
USER_THANKS = "You're welcome! Ask me anything else about the photo."
USER_FRUSTRATED = "Sorry, I can see that's frustrating."
USER_FRUSTRATED_AGES = (
    "Apparent age from a face is a rough estimate: it is often off by five years or more, more for children and "
    'in poor light. I\'ll give each age as "about N" with the face it belongs to, so you can judge it.'
)
USER_FRUSTRATED_MORE = (
    'Tell me which answer looked wrong (for example "how old is the person on the left?") and I\'ll show what I see.'
)
USER_CONFUSED = (
    'Sorry, that wasn\'t clear. You can ask, for example, "how many people are smiling?", "how old is the woman on the '
    'left?" or "describe everyone".'
)


def bad_question(problem: str, limit: int) -> str:
    """Why a question can't be taken at all: ``problem`` is "empty", "too_long" or "language"."""
    if problem == "empty":
        return 'Please type a question, for example "how many people are in this photo?" or "who looks happiest?".'
    if problem == "too_long":
        return f"That question is too long for me (more than {limit} characters). Please ask it in a sentence or two."
    return (
        'Offline I only understand questions in English, for example "how many people are in this photo?". For other '
        "languages, configure an LLM (OPENAI_API_KEY or FACELENS_LOCAL_MODEL) and ask again."
    )


def no_faces(image: str | None, detector: str) -> str:
    return (
        f"I found no faces in {image} (detector: {detector}). Small, turned or partly hidden faces can be missed; "
        "try --detector cnn."
    )


def no_emotion_model(who: str, singular: bool) -> str:
    return f"The emotion model is not installed, so I can't say how {who} look{'s' if singular else ''}."


def no_age_model(what: str) -> str:
    return f"The age/gender model is not installed, so I can't estimate {what}."


def nobody_matches(description: str, notes: str, faces: str) -> str:
    return f"I couldn't find {description} in this picture.{' ' + notes if notes else ''} The faces I see are: {faces}."


def no_referent(count: int, faces: str) -> str:
    return (
        f'Which person do you mean? I see {count} face{"" if count == 1 else "s"}: {faces}. You can say "far left", '
        '"second from the right", "the one in red", or "face 2".'
    )


def speech_unavailable(reason: str) -> str:
    return f"I couldn't transcribe the audio: {reason}".strip()  # the reason's own trailing space never shows


def cant_see(who: str, verb: str, thing: str | None) -> str:
    return (
        f"I can't tell whether {who} {verb} {thing} from the photo offline: I see faces, expressions, apparent age and "
        f"gender, and the colour of clothing, not {thing}."
    )


def ambiguous_person(count: int, faces: str) -> str:
    return f"I can't tell which one you mean: {count} people fit that description ({faces}), so here is each."


def near_name(asked: str, name: str) -> str:
    return f'I took "{asked}" to mean {name}, who is enrolled.'


def position_alternative(answer: str) -> str:
    return f"Who your words fit nearest that place: {answer}".strip()


def turned_aside(ids: list[int]) -> str:
    """The caveat after an answer that judged age or gender on faces turned to the side."""
    if len(ids) == 1:
        return f"(Face {ids[0]} is turned to the side, so its apparent age and gender are rough guesses.)"
    listed = ", ".join(str(i) for i in ids[:-1]) + f" and {ids[-1]}"
    return f"(Faces {listed} are turned to the side, so their apparent age and gender are rough guesses.)"
