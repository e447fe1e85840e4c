"""The offline planner's straight answers to yes/no questions: "Yes" or "No" first, then the evidence.

"Is anyone X?" means X is someone's top label (a low score is not "looks X"); counts, ages,
gender, clothing and identity are answered the same way ("are there more than 3 people?", "is
anyone over 40?", "are they all women?", "is the one on the left Alice?").
"""

from __future__ import annotations

import re

from facelens.agent.assistant import conditions, wording
from facelens.agent.assistant.answers import emotion_phrase, face_label
from facelens.agent.assistant.compose import children, colour_labels, which_person, who_looks
from facelens.agent.assistant.replies import PlannerReply, face_ids, labels, no_emotion, reply, who_is
from facelens.tools.schema import EMOTION_ADJECTIVES, FaceAnalysis, SceneAnalysis

COUNT_TESTS = {
    "more than": lambda m, k: m > k,
    "fewer than": lambda m, k: m < k,
    "at least": lambda m, k: m >= k,
    "at most": lambda m, k: m <= k,
    "exactly": lambda m, k: m == k,
}


def count_yes_no(slots: dict, scene: SceneAnalysis, image: str) -> PlannerReply:
    """Yes/no about the number of people: "are there more than 3 people?" -> "No: I count 3 people ..."."""
    op, k = slots["count_cmp"]
    n = len(scene.faces)
    asked = f"{op} {k}"
    label = slots.get("emotion")
    if label or slots.get("colour") or slots.get("gender"):  # "are there more than 2 people smiling?"
        if label and any(f.emotion is None for f in scene.faces):
            return reply("I can't tell: " + no_emotion("anyone", True), (), "count", image)
        hits, what = (
            _filtered(slots, scene.faces) if (slots.get("colour") or slots.get("gender")) else (list(scene.faces), "")
        )
        if hits is None:
            return reply("I can't tell: " + wording.no_age_model(what="apparent gender"), (), "count", image)
        if label:
            hits = [f for f in hits if f.emotion.label == label]
            what = (what + " and " if what else "") + f"look {EMOTION_ADJECTIVES[label]}"
        lead = "Yes" if COUNT_TESTS[op](len(hits), k) else "No"
        listing = (
            colour_labels(hits, slots["colour"]) if slots.get("colour") else "; ".join(face_label(f) for f in hits)
        )
        return reply(
            f"{lead}: {len(hits)} of the {n} people {what} (you asked about {asked})"
            + (f": {listing}." if hits else "."),
            face_ids(hits),
            "count",
            image,
        )
    lead = "Yes" if COUNT_TESTS[op](n, k) else "No"
    listing = "; ".join(face_label(f) for f in scene.faces)
    return reply(
        f"{lead}: I count {n} {'person' if n == 1 else 'people'} (you asked about {asked}; detector: {scene.detector}). "
        f"From left to right: {listing}.",
        face_ids(scene.faces),
        "count",
        image,
    )


def age_yes_no(slots: dict, faces: list[FaceAnalysis]) -> tuple[str, list[FaceAnalysis]] | None:
    """(what was asked, the faces that match) for "over 40" / "under 30"; None when no age was estimated."""
    if any(f.age is None for f in faces):
        return None
    if "age_over" in slots:
        k = slots["age_over"]
        return f"over {k}", [f for f in faces if f.age > k]
    k = slots["age_under"]
    return f"under {k}", [f for f in faces if f.age < k]


def anyone(slots: dict, scene: SceneAnalysis, image: str) -> PlannerReply:
    """Yes/no: is anyone (or everyone) <emotion | a child | a woman | in red | over 40>?"""
    faces = scene.faces
    n = len(faces)
    if "age_over" in slots or "age_under" in slots:
        got = age_yes_no(slots, faces)
        if got is None:
            return reply(wording.no_age_model(what="anyone's age"), (), "anyone", image)
        asked, hits = got
        if slots.get("quantifier") == "all":  # "is everyone over 20?"
            ages = ", ".join(f"Face {f.id} about {f.age:.0f}" for f in faces)
            lead = f"Yes, all {n} look {asked}" if len(hits) == n else f"No, {len(hits)} of the {n} look {asked}"
            return reply(f"{lead} to the age model ({ages}).", face_ids(hits), "anyone", image)
        if not hits:
            ages = ", ".join(f"Face {f.id} about {f.age:.0f}" for f in faces)
            return reply(f"No, nobody looks {asked} to the age model ({ages}).", (), "anyone", image)
        listing = "; ".join(f"{face_label(f)}, apparent age about {f.age:.0f}" for f in hits)
        verb = "looks" if len(hits) == 1 else "look"
        return reply(
            f"Yes, {len(hits)} of the {n} {verb} {asked} to the age model: {listing}.", face_ids(hits), "anyone", image
        )
    if slots.get("child"):
        return children(scene, image)
    label = slots.get("emotion")
    hits, what = _filtered(slots, faces)
    if label and what:  # "is there a woman smiling?": the emotion among the faces that match the filter
        if hits is None:
            return reply(wording.no_age_model(what="apparent gender"), (), "anyone", image)
        who = "who " + what
        if not hits:
            return reply(
                f"No, none of the {n} people {what}, so nobody like that looks {EMOTION_ADJECTIVES[label]} here.",
                (),
                "anyone",
                image,
            )
        return who_looks(
            label,
            scene.model_copy(update={"faces": hits}),
            image,
            everyone=slots.get("quantifier") == "all",
            yes_no=True,
            among=who,
        )
    if label:
        return who_looks(label, scene, image, everyone=slots.get("quantifier") == "all", yes_no=True)
    if what is None:
        return reply(which_person(scene), (), "ask_referent", image)
    if hits is None:
        return reply(wording.no_age_model(what="apparent gender"), (), "anyone", image)
    listing = "; ".join(_with_gender(f, slots) for f in hits)
    if len(hits) == 1:
        what = re.sub(r"\b(look|wear)\b", r"\1s", what)
    if slots.get("quantifier") == "all":  # "are they all women?"
        if len(hits) == n:
            return reply(f"Yes, all {n} {what}: {listing}.", face_ids(hits), "anyone", image)
        return reply(
            f"No, {len(hits)} of the {n} {what}" + (f": {listing}." if hits else "."), face_ids(hits), "anyone", image
        )
    if not hits:
        return reply(f"No, none of the {n} people {what}.", (), "anyone", image)
    return reply(f"Yes, {len(hits)} of the {n} {what}: {listing}.", face_ids(hits), "anyone", image)


def _with_gender(f: FaceAnalysis, slots: dict) -> str:
    return (
        f"{face_label(f)} ({f.gender.label} {f.gender.score:.0%})"
        if slots.get("gender") and f.gender is not None
        else face_label(f)
    ) + conditions.in_part(f, slots.get("colour"))


def _filtered(slots: dict, faces: list[FaceAnalysis]) -> tuple[list[FaceAnalysis] | None, str | None]:
    """The faces matching the colour and gender asked about, and how to say it (None: nothing asked; hits None: no model)."""
    colour, gender = slots.get("colour"), slots.get("gender")
    if not colour and not gender:
        return [], None
    hits, bits = list(faces), []
    if gender:
        if any(f.gender is None for f in faces):
            return None, ""
        hits = [f for f in hits if f.gender.label == gender]
        bits.append("look like " + ("a woman" if gender == "female" else "a man") + " to the age/gender model")
    if colour:
        hits = [f for f in hits if conditions.wears(f, colour)]
        bits.append(f"wearing {colour}" if gender else f"wear {colour}")
    return hits, " ".join(bits) if not gender or not colour else f"{bits[0]} and wear {colour}"


def emotion_yes_no(label: str, faces: list[FaceAnalysis]) -> str:
    if any(f.emotion is None for f in faces):
        return f"{labels(faces)}: " + no_emotion("them" if len(faces) > 1 else "this person", len(faces) == 1)
    out = []
    for f in faces:
        yes = f.emotion.label == label
        p = f.emotion.scores.get(label, 0.0)
        out.append(
            f"{'Yes' if yes else 'No'}: {face_label(f)} {emotion_phrase(f)} ({EMOTION_ADJECTIVES[label]} {p:.0%})."
        )
    return " ".join(out)


def identity_yes_no(name: str, faces: list[FaceAnalysis]) -> str:
    """ "Is the person on the left Alice?": Yes / No per face, with what the gallery says."""
    out = []
    for f in faces:
        if f.identity is None:
            out.append(
                f"I can't tell: nobody is enrolled in the gallery, so I can't say whether {face_label(f)} is {name}."
            )
            continue
        yes = f.identity.known and f.identity.name == name
        out.append(f"{'Yes' if yes else 'No'}: {who_is(f)}")
    return " ".join(out)


def asked_gender(t: str) -> str | None:
    """The gender a yes/no question asks about ("is the one in red a woman?" -> female)."""
    gender_words = r"\b(female|woman|lady|girl|gal|lass|male|man|guy|boy|gentleman|bloke|dude|fella|lad|chap)\b"
    words = (
        re.findall(gender_words + r"\s*\??\s*$", t) or re.findall(gender_words, t)[-1:]
    )  # "does she look like a woman to you?"
    if not words:
        return None
    return "female" if words[-1] in ("female", "woman", "lady", "girl", "gal", "lass") else "male"


def gender_yes_no(asked: str, faces: list[FaceAnalysis]) -> str:
    if any(f.gender is None for f in faces):
        return f"{labels(faces)}: " + wording.no_age_model(what="apparent gender")
    out = []
    for f in faces:
        yes = f.gender.label == asked
        out.append(
            f"{'Yes' if yes else 'No'}: {face_label(f)} looks {f.gender.label} to the age/gender model ({f.gender.score:.0%})."
        )
    return " ".join(out)
