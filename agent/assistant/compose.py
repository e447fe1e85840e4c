"""The offline planner's answer wording: tool results -> clear, honest sentences.

Every per-person sentence cites the face number and position ("Face 2 (second from left, red
clothing) looks happy, 91%"); emotions are phrased as appearance with a confidence; a missing model
is said plainly instead of guessed around.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from facelens.agent.assistant import conditions, wording
from facelens.agent.assistant.answers import FaceSummary, emotion_phrase, face_label, position_phrase, summarize_face
from facelens.agent.assistant.replies import PlannerReply, face_ids, labels, no_emotion, reply, who_is
from facelens.tools import appearance
from facelens.tools.errors import FacelensError
from facelens.tools.schema import EMOTION_ADJECTIVES, FaceAnalysis, SceneAnalysis

if TYPE_CHECKING:
    from facelens.agent.assistant.toolbox import Comparison, ToolBox

SUPERLATIVE_WORDS = {
    "happy": "happiest",
    "sad": "saddest",
    "angry": "angriest",
    "surprise": "most surprised",
    "fear": "most afraid",
    "disgust": "most disgusted",
    "neutral": "most neutral",
    "oldest": "oldest",
    "youngest": "youngest",
}
STOP = {
    "did",
    "does",
    "do",
    "anyone",
    "someone",
    "they",
    "he",
    "she",
    "the",
    "a",
    "an",
    "about",
    "mention",
    "mentioned",
    "say",
    "said",
    "talk",
    "talked",
    "word",
    "words",
    "when",
    "what",
    "in",
    "audio",
    "recording",
    "speech",
    "was",
    "is",
    "it",
    "of",
    "any",
    "anything",
    "there",
    "who",
    "says",
    "saying",
    "speaker",
    "to",
    "ever",
}


def summary(face: FaceAnalysis, image: str | None) -> FaceSummary:
    return summarize_face(face, image)


def clothing_phrase(f: FaceAnalysis) -> str:
    """What one person wears: "Face 1 (left, black clothing) is wearing a black top, with some white."; said with a
    hedge where the colour is unsure (little clothing seen, partly out of frame, or mixed colours)."""
    a = f.appearance
    if not a.clothing_colour:
        return f"Face {f.id} ({position_phrase(f)}): their clothing is out of frame."
    what = f"a {a.clothing_colour} {a.clothing_garment}" if a.clothing_garment else a.clothing_colour
    also = f", with some {a.clothing_other_colour}" if a.clothing_other_colour else ""
    if a.clothing_confidence is not None and a.clothing_confidence < appearance.SURE_FROM:
        return (
            f"{face_label(f)} seems to be wearing {what}{also}, but I'm not sure: little of their clothing is clearly "
            f"visible, or it mixes colours (confidence {a.clothing_confidence:.0%})."
        )
    return f"{face_label(f)} is wearing {what}{also}."


def colour_labels(faces: list[FaceAnalysis], colour: str) -> str:
    """The faces' labels, each saying where ``colour`` is only part of the clothing: "Face 2 (left, black clothing),
    pink in part"."""
    return "; ".join(face_label(f) + conditions.in_part(f, colour) for f in faces)


def count(slots: dict, scene: SceneAnalysis, image: str) -> PlannerReply:
    """How many people (optionally: look <emotion>, wear <colour>, look <gender>)."""
    faces = scene.faces
    n = len(faces)
    total = f"I count {n} {'person' if n == 1 else 'people'} (detector: {scene.detector})."
    ids_all = face_ids(faces)
    label = slots.get("emotion")
    if label:
        if any(f.emotion is None for f in faces):
            return reply(no_emotion("anyone", True) + " " + total, ids_all, "count", image)
        hits = [f for f in faces if f.emotion.label == label]
        word = EMOTION_ADJECTIVES[label]
        if not hits:
            return reply(f"None of the {n} people looks {word}. " + _all_emotions(faces), ids_all, "count", image)
        verb = "looks" if len(hits) == 1 else "look"
        lines = "; ".join(f"{face_label(f)} {emotion_phrase(f)}" for f in hits)
        return reply(f"{len(hits)} of the {n} people {verb} {word}: {lines}.", face_ids(hits), "count", image)
    colour = slots.get("colour")
    if colour:
        hits = [f for f in faces if conditions.wears(f, colour)]
        if not hits:
            return reply(f"None of the {n} people is wearing {colour}. " + total, ids_all, "count", image)
        verb = "is" if len(hits) == 1 else "are"
        return reply(
            f"{len(hits)} of the {n} people {verb} wearing {colour}: {colour_labels(hits, colour)}.",
            face_ids(hits),
            "count",
            image,
        )
    gender = slots.get("gender")
    if gender:
        if any(f.gender is None for f in faces):
            return reply(wording.no_age_model(what="apparent gender") + " " + total, ids_all, "count", image)
        hits = [f for f in faces if f.gender.label == gender]
        word = "women" if gender == "female" else "men"
        if not hits:
            return reply(f"None of the {n} people look like {word} to the age/gender model.", (), "count", image)
        return reply(
            f"{len(hits)} of the {n} people look like {word} to the age/gender model: {labels(hits)}.",
            face_ids(hits),
            "count",
            image,
        )
    listing = "; ".join(face_label(f) for f in faces)
    return reply(f"{total} From left to right: {listing}.", ids_all, "count", image)


def _all_emotions(faces: list[FaceAnalysis]) -> str:
    return "What I see: " + "; ".join(f"{face_label(f)} {emotion_phrase(f)}" for f in faces) + "."


def superlative(key: str, scene: SceneAnalysis, image: str) -> PlannerReply:
    faces = scene.faces
    word = SUPERLATIVE_WORDS[key]
    if key in ("oldest", "youngest"):
        if any(f.age is None for f in faces):
            return reply(wording.no_age_model(what="anyone's age"), (), "superlative", image)
        ranked = sorted(faces, key=lambda f: f.age, reverse=key == "oldest")
        best = ranked[0]
        text = f"{face_label(best)} looks {word}: apparent age about {best.age:.0f} ({best.age_group})."
        if len(ranked) > 1:
            text += f" Next: {face_label(ranked[1])}, about {ranked[1].age:.0f}."
        return reply(text, (best.id,), "superlative", image)
    if any(f.emotion is None for f in faces):
        return reply(no_emotion("anyone", True), (), "superlative", image)
    ranked = sorted(faces, key=lambda f: f.emotion.scores.get(key, 0.0), reverse=True)
    best = ranked[0]
    score = best.emotion.scores.get(key, 0.0)
    text = f"{face_label(best)} looks {word} ({EMOTION_ADJECTIVES[key]} {score:.0%})."
    if len(ranked) > 1:
        s2 = ranked[1].emotion.scores.get(key, 0.0)
        text += f" Next: {face_label(ranked[1])} ({EMOTION_ADJECTIVES[key]} {s2:.0%})."
        if score - s2 < 0.05:
            text += " The two are too close to call."
    if score < 0.2:
        text += f" Nobody looks clearly {EMOTION_ADJECTIVES[key]}, though."
    return reply(text, (best.id,), "superlative", image)


def children(scene: SceneAnalysis, image: str, count: bool = False) -> PlannerReply:
    """Are there children (apparent age under 20)? As a count ("how many kids") or yes/no."""
    faces = scene.faces
    intent = "count" if count else "anyone"
    if any(f.age is None for f in faces):
        return reply(wording.no_age_model(what="anyone's age"), (), intent, image)
    young = [f for f in faces if f.age_group in ("0-9", "10-19")]
    if not young:
        ages = ", ".join(f"Face {f.id} about {f.age:.0f}" for f in faces)
        text = f"None of the {len(faces)} people look under 20" if count else "No, everyone looks like an adult"
        return reply(f"{text} to the age model ({ages}).", (), intent, image)
    listing = "; ".join(f"{face_label(f)}, apparent age about {f.age:.0f}" for f in young)
    lead = f"{len(young)} of the {len(faces)} people" if count else f"Yes, {len(young)} of the {len(faces)} people"
    return reply(f"{lead} look under 20 to the age model: {listing}.", face_ids(young), intent, image)


def who_looks(
    label: str, scene: SceneAnalysis, image: str, everyone: bool = False, yes_no: bool = False, among: str = ""
) -> PlannerReply:
    """Who looks <label>: faces whose top label it is (a low score is not "looks surprised").

    ``among``: how the faces in ``scene`` were picked when they are a subset ("who look like a woman to
    the age/gender model"), said in the answer so a count is never read as the whole photo's."""
    faces = scene.faces
    intent = "anyone" if yes_no else "who_looks"
    if any(f.emotion is None for f in faces):
        return reply(no_emotion("anyone", True), (), intent, image)
    hits = [f for f in faces if f.emotion.label == label]
    word = EMOTION_ADJECTIVES[label]
    if not hits:
        closest = max(faces, key=lambda f: f.emotion.scores.get(label, 0.0))
        p = closest.emotion.scores.get(label, 0.0)
        lead = f"No, none of the {len(faces)} {among}" if among else ("No, no one" if yes_no or everyone else "No one")
        return reply(
            f"{lead} looks clearly {word}; the closest is {face_label(closest)} ({word} {p:.0%}). "
            + _all_emotions(faces),
            (),
            intent,
            image,
        )
    listing = "; ".join(f"{face_label(f)} {emotion_phrase(f)}" for f in hits) + "."
    if everyone:
        of = f"{len(faces)} {among}," if among else f"{len(faces)}"
        lead = (
            f"Yes, all {of} look {word}: " if len(hits) == len(faces) else f"No, {len(hits)} of the {of} look {word}: "
        )
        return reply(lead + listing, face_ids(hits), intent, image)
    if yes_no:
        verb = "looks" if len(hits) == 1 else "look"
        of = f"{len(faces)} {among}," if among else f"{len(faces)}"
        return reply(f"Yes, {len(hits)} of the {of} {verb} {word}: " + listing, face_ids(hits), intent, image)
    return reply(listing, face_ids(hits), intent, image)


def presence(name: str, scene: SceneAnalysis, known: set[str], image: str) -> PlannerReply:
    """Is NAME here? Yes / No for an enrolled name; "I can't tell" for a name nobody enrolled."""
    if name not in known:
        listing = f" Enrolled: {', '.join(sorted(known))}." if known else " Nobody is enrolled yet."
        return reply(
            f"I can't tell: {name} is not in the gallery, so I can't look for them.{listing} "
            f"Enroll them with: facelens enroll {name} PHOTO...",
            (),
            "presence",
            image,
        )
    hits = [f for f in scene.faces if f.identity is not None and f.identity.known and f.identity.name == name]
    if hits:
        where = "; ".join(f"{face_label(f)}, match distance {f.identity.distance:.2f}" for f in hits)
        return reply(f"Yes, {name} is in this picture: {where}.", face_ids(hits), "presence", image)
    near = [f for f in scene.faces if f.identity is not None and f.identity.nearest == name]
    text = f"No, {name} is not in this photo: none of the {len(scene.faces)} faces matches their enrolled photos."
    if near:
        f = min(near, key=lambda f: f.identity.distance)
        text += f" The closest is {face_label(f)} at distance {f.identity.distance:.2f}, too far to be a match."
    return reply(text, (), "presence", image)


def identify_all(scene: SceneAnalysis, image: str, yes_no: bool = False) -> PlannerReply:
    """Who is who; asked as a yes/no ("do you recognise anyone?"), first whether anyone enrolled is there."""
    faces = scene.faces
    if all(f.identity is None for f in faces):
        text = wording.GALLERY_EMPTY + f" I see {len(faces)} face(s): {labels(faces)}."
        return reply(("I can't tell: " if yes_no else "") + text, face_ids(faces), "who", image)
    lead = ""
    if yes_no:
        known = sum(1 for f in faces if f.identity is not None and f.identity.known)
        lead = (
            f"Yes, {known} of the {len(faces)} {'is' if known == 1 else 'are'} enrolled. "
            if known
            else f"No, none of the {len(faces)} faces matches anyone enrolled. "
        )
    return reply(lead + " ".join(who_is(f) for f in faces), face_ids(faces), "who", image)


def _describe(f: FaceAnalysis) -> str:
    bits = [emotion_phrase(f) or "emotion not estimated (model not installed)"]
    if f.age is not None:
        bits.append(f"apparent age about {f.age:.0f} ({f.age_group})")
    if f.gender is not None:
        bits.append(f"apparent gender {f.gender.label} ({f.gender.score:.0%})")
    if f.identity is not None:
        bits.append(f"identity {f.identity.name}" if f.identity.known else "not in the gallery")
    return f"{face_label(f)}: " + "; ".join(bits) + "."


def per_person(intent: str, faces: list[FaceAnalysis]) -> str:
    if intent == "emotion":
        if all(f.emotion is None for f in faces):
            return f"{labels(faces)}: " + no_emotion("them" if len(faces) > 1 else "this person", len(faces) == 1)
        return " ".join(f"{face_label(f)} {emotion_phrase(f) or 'has no emotion estimate'}." for f in faces)
    if intent in ("who", "identify"):
        if len(faces) > 1 and all(f.identity is None for f in faces):
            return f"{' and '.join(face_label(f) for f in faces)}. Nobody is enrolled in the gallery, so I can't name them."
        return " ".join(who_is(f) for f in faces)
    if intent == "age":
        if any(f.age is None for f in faces):
            return f"{labels(faces)}: " + wording.no_age_model(what="age")
        return " ".join(f"{face_label(f)} looks about {f.age:.0f} years old ({f.age_group})." for f in faces)
    if intent == "clothing":
        return " ".join(clothing_phrase(f) for f in faces)
    if intent == "gender":
        if any(f.gender is None for f in faces):
            return f"{labels(faces)}: " + wording.no_age_model(what="apparent gender")
        return " ".join(
            f"{face_label(f)} looks {f.gender.label} to the age/gender model ({f.gender.score:.0%})." for f in faces
        )
    if intent == "where":
        return " ".join(
            f"Face {f.id} is {position_phrase(f)} ({f.position.horizontal} third, {f.position.vertical} of the image)."
            for f in faces
        )
    lead = (
        f"I see {len(faces)} {'person' if len(faces) == 1 else 'people'}, numbered left to right:\n"
        if len(faces) > 1
        else ""
    )
    return lead + "\n".join(("- " if len(faces) > 1 else "") + _describe(f) for f in faces)


def unsure(u, scene: SceneAnalysis) -> str:
    """Say what was understood of an unclear question, and ask."""
    bits = []
    s = u.slots
    if s.get("emotion"):
        bits.append(f"the emotion '{EMOTION_ADJECTIVES[s['emotion']]}'")
    if s.get("superlative"):
        bits.append(f"'{SUPERLATIVE_WORDS[s['superlative']]}'")
    if s.get("colour"):
        bits.append(f"the colour {s['colour']}")
    if s.get("name"):
        bits.append(f"the name {s['name']}")
    if s.get("faces"):
        bits.append("face " + ", ".join(map(str, s["faces"])))
    guesses = [a for a, _ in u.alternatives[:2] if a in UNSURE_EXAMPLES]
    got = f"I understood {' and '.join(bits)}, but not the question." if bits else "I'm not sure what you are asking."
    ask = " Did you mean: " + " or ".join(f'"{UNSURE_EXAMPLES[g]}"' for g in guesses) + "?" if guesses else ""
    return f"{got}{ask} I see {len(scene.faces)} face(s): {labels(scene.faces)}. You can ask again in other words."


UNSURE_EXAMPLES = {
    "count": "how many people are there?",
    "superlative": "who looks happiest?",
    "anyone": "is anyone smiling?",
    "who_looks": "who looks sad?",
    "presence": "is NAME in this picture?",
    "identify": "who is on the left?",
    "emotion": "how is the person on the left feeling?",
    "age": "how old is face 2?",
    "gender": "is face 1 a man or a woman?",
    "clothing": "what is the person on the right wearing?",
    "where": "where is the person in red?",
    "describe": "describe everyone",
    "compare": "are face 1 and face 2 the same person?",
    "transcript": "what was said in the audio?",
}


def nobody(lq: str, scene: SceneAnalysis, notes: tuple[str, ...]) -> str:
    return wording.nobody_matches(
        description="that person" if not notes else "who you describe",
        notes="; ".join(notes).capitalize() + "." if notes else "",
        faces=labels(scene.faces),
    )


def which_person(scene: SceneAnalysis, two: bool = False) -> str:
    text = wording.no_referent(count=len(scene.faces), faces=labels(scene.faces))
    return text + (' To compare, name two, e.g. "are face 1 and face 3 the same person?"' if two else "")


def is_same_referent(scene: SceneAnalysis, focus: tuple[int, ...], ids: tuple[int, ...] | None) -> str:
    who = labels([scene.face(i) for i in focus])
    if ids is None:
        return f"I'm not sure which person you mean. We were talking about {who}."
    if not ids:
        return f"No: nobody in the picture matches that description; we were talking about {who}."
    if set(focus) & set(ids):
        return f"Yes: {who} is the one you describe."
    return f"No: we were talking about {who}; the one you describe is {labels([scene.face(i) for i in ids])}."


def comparison(scene: SceneAnalysis, c: Comparison) -> str:
    a, b = face_label(scene.face(c.face_a)), face_label(scene.face(c.face_b))
    verdict = "look like the same person" if c.same_person else "look like different people"
    return (
        f"{a} and {b} {verdict}: their face embeddings are {c.distance:.2f} apart "
        f"(same person below {c.threshold:.2f}; dlib's face match, about 99% accurate on good frontal photos)."
    )


def transcript(lq: str, box: ToolBox) -> PlannerReply:
    from facelens.agent.assistant.toolbox import transcript_text

    if box.audio is None:
        return reply(wording.NO_AUDIO, (), "transcript", None)
    try:
        tr = box.transcribe_audio()
    except FacelensError as exc:
        return reply(wording.speech_unavailable(reason=str(exc)), (), "transcript", None)
    full = transcript_text(tr)
    if not full:
        return reply("The audio holds no recognisable speech.", (), "transcript", None)
    m = re.search(r"\b(?:mention(?:ed)?|say|said|talk(?:ed)? about|speak about|spoke about|word)\b(.*)", lq)
    terms = [w for w in re.findall(r"[a-z0-9']+", m.group(1)) if w not in STOP] if m else []
    if terms:
        hits = [line for line in full.splitlines() if any(re.search(rf"\b{re.escape(t)}", line.lower()) for t in terms)]
        what = " ".join(terms)
        if hits:
            return reply(f'Yes, "{what}" comes up {len(hits)} time(s):\n' + "\n".join(hits), (), "transcript", None)
        return reply(f'No, "{what}" does not come up in the transcript.', (), "transcript", None)
    if len(full) > 2000:
        full = full[:2000] + " ..."
    return reply(f"The audio says (automatic transcript, may contain errors):\n{full}", (), "transcript", None)
