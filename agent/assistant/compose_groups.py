"""Answers about a group picked by conditions, and about everyone at once.

"how many women are smiling?" counts the smiling ones among the women; "how many people wear
glasses?" says plainly that glasses can't be seen offline and what can be seen instead (never a bare
head count); "are all the kids smiling?" is answered about the kids; "which one is the grown-up?"
names the adults; "how do they look?" and "what are most of them wearing?" describe the group.
The conditions come from :mod:`facelens.agent.assistant.conditions`.
"""

from __future__ import annotations

from collections import Counter

from facelens.agent.assistant import conditions as cond
from facelens.agent.assistant import wording
from facelens.agent.assistant.answers import emotion_phrase, face_label
from facelens.agent.assistant.replies import PlannerReply, face_ids, reply
from facelens.tools.schema import EMOTION_ADJECTIVES, FaceAnalysis, SceneAnalysis


def _seen(f: FaceAnalysis, c: cond.Conditions) -> str:
    """A face with what the conditions were judged on: "Face 2 (left, red clothing), looks female, about 34"."""
    bits = [face_label(f) + cond.in_part(f, c.colour)]
    if (c.gender or c.bands or c.age_over is not None or c.age_under is not None) and f.age is not None:
        who = f"looks {f.gender.label}, " if c.gender and f.gender is not None else ""
        bits.append(f"{who}about {f.age:.0f}")
    if c.emotion:
        bits.append(emotion_phrase(f) or "no emotion estimate")
    return ", ".join(bits)


def _listing(faces: list[FaceAnalysis], c: cond.Conditions) -> str:
    return "; ".join(_seen(f, c) for f in faces)


def _missing(faces: list[FaceAnalysis], c: cond.Conditions) -> str | None:
    missing = cond.missing_models(faces, c)
    if not missing:
        return None
    if "emotion" in missing:
        return wording.no_emotion_model(who="anyone", singular=True)
    return wording.no_age_model(what=" and ".join(missing))


def _group(c: cond.Conditions) -> cond.Conditions:
    """The conditions of who the people are (the state asked of them removed): "women" of "women who smile"."""
    state = ("emotion", "unseen") + (
        ("colour",) if (c.gender or c.bands or c.age_over is not None or c.age_under is not None) else ()
    )
    return c.without(*state)


def cant_see(
    c: cond.Conditions, scene: SceneAnalysis, image: str, intent: str = "count", faces: list[FaceAnalysis] | None = None
) -> PlannerReply:
    """ "how many men in suits?": suits can't be seen offline; say so, and what can be seen (the men)."""
    everyone = faces is None
    faces = list(scene.faces) if faces is None else faces
    group_c = _group(c)
    who = "anyone" if everyone else ("they" if len(faces) > 1 else "this person")
    verb = cond.unseen_verb(c.unseen or "", who in ("anyone", "this person"))
    text = wording.cant_see(who=who, verb=verb, thing=c.unseen)
    if not everyone:
        return reply(text + f" What I can see: {_listing(faces, group_c)}.", face_ids(faces), intent, image)
    if group_c.any and _missing(faces, group_c) is None:
        group = cond.select(faces, group_c)
        noun = cond.group_noun(group_c)
        seen = (
            f" I can see {len(group)} {noun} (of {len(faces)} people, to the age/gender model): {_listing(group, group_c)}."
            if group
            else f" I see no {noun} here to the age/gender model; the {len(faces)} people: {_listing(faces, group_c)}."
        )
        return reply(text + seen, face_ids(group), intent, image)
    n = len(faces)
    return reply(
        text + f" What I can see: {n} {'person' if n == 1 else 'people'}: {_listing(faces, c)}.",
        face_ids(faces),
        intent,
        image,
    )


def count(c: cond.Conditions, scene: SceneAnalysis, image: str) -> PlannerReply:
    """A count with every condition applied: "how many women are smiling?" -> "2 of the 3 women look happy: ..."."""
    faces = list(scene.faces)
    n = len(faces)
    if c.unseen:
        return cant_see(c, scene, image)
    if (note := _missing(faces, c)) is not None:
        return reply(
            f"{note} I count {n} {'person' if n == 1 else 'people'} (detector: {scene.detector}).", (), "count", image
        )
    group_c = _group(c)
    group = cond.select(faces, group_c)
    hits = cond.select(group, c)
    noun = cond.group_noun(group_c)
    by = cond.models_note(c)
    ids = face_ids(hits)
    if c.emotion or (c.colour and group_c.colour is None):
        state = f"look {EMOTION_ADJECTIVES[c.emotion]}" if c.emotion else f"wear {c.colour}"
        if c.emotion and c.colour and group_c.colour is None:
            state += f" and wear {c.colour}"
        if not group:
            return reply(f"None: I see no {noun} here to {by}. What I see: {_listing(faces, c)}.", (), "count", image)
        if not hits:
            lead = (
                f"None of the {len(group)} {noun} {state}"
                if len(group) > 1
                else f"None: the only {cond.singular(noun)} here does not {state}"
            )
            return reply(f"{lead}. What I see: {_listing(group, c)}.", (), "count", image)
        verb = state if len(hits) > 1 else state.replace("look ", "looks ", 1).replace("wear ", "wears ", 1)
        return reply(
            f"{len(hits)} of the {len(group)} {noun} {verb} (to {by}): {_listing(hits, c)}.", ids, "count", image
        )
    if group_c.gender or group_c.bands:
        looks = f"look like {noun}"
    else:  # "how many ppl look older than 60": no noun to be, only what they look
        looks = "look " + " and ".join(
            x
            for x in (
                f"older than {c.age_over}" if c.age_over is not None else "",
                f"younger than {c.age_under}" if c.age_under is not None else "",
            )
            if x
        )
        looks += f" and wear {c.colour}" if c.colour else ""
    if not hits:
        return reply(f"None of the {n} people {looks} to {by}. What I see: {_listing(faces, c)}.", (), "count", image)
    if len(hits) == 1:
        looks = (
            "looks" + looks[4:] if not (group_c.gender or group_c.bands) else f"looks like {_a(cond.singular(noun))}"
        )
    return reply(f"{len(hits)} of the {n} people {looks} to {by}: {_listing(hits, c)}.", ids, "count", image)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def anyone(c: cond.Conditions, scene: SceneAnalysis, image: str, everyone: bool = False) -> PlannerReply:
    """Yes/no about a group: "r all the kids smiling?", "are the women all in red?", "is any child sad?"."""
    faces = list(scene.faces)
    if c.unseen:
        return cant_see(c, scene, image, intent="anyone")
    if (note := _missing(faces, c)) is not None:
        return reply("I can't tell: " + note, (), "anyone", image)
    group_c = _group(c)
    group = cond.select(faces, group_c)
    noun = cond.group_noun(group_c)
    hits = cond.select(group, c)
    by = cond.models_note(c)
    if not group:
        return reply(f"No, I see no {noun} here to {by}. What I see: {_listing(faces, c)}.", (), "anyone", image)
    state = (
        f"look {EMOTION_ADJECTIVES[c.emotion]}"
        if c.emotion
        else f"wear {c.colour}"
        if c.colour and group_c.colour is None
        else "are here"
    )
    m, k = len(group), len(hits)
    ids = face_ids(hits)
    rest = [f for f in group if f not in hits]
    others = f" The others: {_listing(rest, c)}." if rest and hits else ""
    if everyone:
        if k == m:
            lead = (
                f"Yes, all {m} {noun} {state}"
                if m > 1
                else f"Yes, the only {cond.singular(noun)} here {_singular_verb(state)}"
            )
            return reply(f"{lead}: {_listing(hits, c)}.", ids, "anyone", image)
        lead = f"No, {k} of the {m} {noun} {state}" + (
            f": {_listing(hits, c)}." if hits else f". What I see: {_listing(group, c)}."
        )
        return reply(lead + others, ids, "anyone", image)
    if not hits:
        return reply(f"No, none of the {m} {noun} {state}. What I see: {_listing(group, c)}.", (), "anyone", image)
    return reply(f"Yes, {k} of the {m} {noun} {state}: {_listing(hits, c)}." + others, ids, "anyone", image)


def _singular_verb(state: str) -> str:
    return {"look": "looks", "wear": "wears", "are": "is"}.get(state.split()[0], state.split()[0]) + state[
        len(state.split()[0]) :
    ]


def which(c: cond.Conditions, scene: SceneAnalysis, image: str) -> PlannerReply:
    """ "which one is the grown-up?" -> the faces in that age group (and gender), with their apparent ages."""
    faces = list(scene.faces)
    if (note := _missing(faces, c)) is not None:
        return reply(note, (), "identify", image)
    hits = cond.select(faces, c)
    noun = cond.group_noun(c)
    by = cond.models_note(c)
    if not hits:
        return reply(
            f"No one here looks like {_a(cond.singular(noun))} to {by}. What I see: {_listing(faces, c)}.",
            (),
            "identify",
            image,
        )
    if len(hits) == 1:
        return reply(
            f"{_seen(hits[0], c)}, is the only one who looks like {_a(cond.singular(noun))} to {by}.",
            (hits[0].id,),
            "identify",
            image,
        )
    return reply(
        f"{len(hits)} of the {len(faces)} people look like {noun} to {by}: {_listing(hits, c)}.",
        face_ids(hits),
        "identify",
        image,
    )


def group_look(scene: SceneAnalysis, image: str, activity: bool = False) -> PlannerReply:
    """ "how do the people in this photo look?" / "what's going on here?": the group's expressions, most common first."""
    faces = list(scene.faces)
    ids = face_ids(faces)
    lead = wording.ACTIVITY_OFFLINE + " " if activity else ""
    if any(f.emotion is None for f in faces):
        people = "; ".join(f"{face_label(f)}" + (f", about {f.age:.0f}" if f.age is not None else "") for f in faces)
        return reply(
            lead + wording.no_emotion_model(who="they", singular=False) + f" I see {len(faces)}: {people}.",
            ids,
            "describe",
            image,
        )
    tally = Counter(f.emotion.label for f in faces)
    top, k = tally.most_common(1)[0]
    n = len(faces)
    mood = (
        f"All {n} look {EMOTION_ADJECTIVES[top]}"
        if k == n
        else f"Most look {EMOTION_ADJECTIVES[top]} ({k} of {n})"
        if k * 2 > n
        else "Their expressions are mixed: " + ", ".join(f"{v} {EMOTION_ADJECTIVES[e]}" for e, v in tally.most_common())
    )
    per = "; ".join(
        f"{face_label(f)} {emotion_phrase(f)}" + (f", about {f.age:.0f}" if f.age is not None else "") for f in faces
    )
    return reply(f"{lead}I see {n} {'person' if n == 1 else 'people'}. {mood}. {per}.", ids, "describe", image)


def group_clothing(scene: SceneAnalysis, image: str) -> PlannerReply:
    """ "what colour are most of them wearing?": the colours, most common first, and who wears which."""
    faces = list(scene.faces)
    ids = face_ids(faces)
    seen = [f.appearance.clothing_colour for f in faces if f.appearance.clothing_colour]
    per = "; ".join(
        f"{face_label(f)}" if f.appearance.clothing_colour else f"Face {f.id}: clothing out of frame" for f in faces
    )
    if not seen:
        return reply(f"I can't see anyone's clothing: it is out of frame for all {len(faces)}.", ids, "clothing", image)
    tally = Counter(seen)
    top, k = tally.most_common(1)[0]
    n = len(faces)
    if k * 2 > n:
        lead = f"Most of them wear {top} ({k} of {n})."
    elif k > 1:
        lead = f"No one colour is worn by most; the most common is {top} ({k} of {n})."
    else:
        lead = f"Each wears a different colour: {', '.join(tally)}."
    return reply(f"{lead} {per}.", ids, "clothing", image)
