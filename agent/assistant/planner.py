"""The offline planner: question -> understanding -> tool calls -> answer, no LLM.

The question is first understood (:mod:`facelens.agent.assistant.understanding`: intent classification over
all-MiniLM-L6-v2 embeddings of example phrasings, plus exact slot extraction: the person, emotion,
colour, name, superlative, yes/no form and the parts of a compound question). The planner then runs
the same tools an LLM would call (recorded in the ToolBox) and composes the answer from their
results. Yes/no questions are answered with "Yes" or "No" first. A question about a person is only
ever answered about the person it refers to: when that person can't be told, the planner asks.
Race or ethnicity is declined and the rest of the question answered.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from facelens.agent.assistant import compose, conditions, referring, wording
from facelens.agent.assistant import compose_groups as groups
from facelens.agent.assistant import compose_yes_no as yes_no
from facelens.agent.assistant import nlu_patterns as nlu
from facelens.agent.assistant.lexicon import Patterns
from facelens.agent.assistant.nlu_yes_no import WH_ANYWHERE_RE
from facelens.agent.assistant.replies import PlannerReply
from facelens.agent.assistant.toolbox import ToolBox
from facelens.agent.assistant.understanding import (
    PERSON_INTENTS,
    Understanding,
    understand,
)
from facelens.agent.assistant.user_mood import mood_reply, user_mood  # noqa: F401 (user_mood is part of the planner's API)
from facelens.tools.align import turned_aside
from facelens.tools.errors import FacelensError
from facelens.tools.schema import SceneAnalysis

NEAR_NAME_CUTOFF = (
    0.75  # difflib similarity from which an unknown name is taken as the enrolled one ("scarlet" -> Scarlett)
)
#: the planner's own cues by name (`RE.follow`, `RE.group_look`); the understanding's are `nlu.RE`
RE = Patterns(
    {
        "is_one": (
            r"^(?:is|was|are)\s+(?:she|he|they|that person|this person|that one|this one|it)\s+(?:also\s+)?"
            r"(?:the one|the person|the woman|the man|the guy|the lady|the girl|the boy|one)\b"
        ),
        "follow": r"^\s*(?:and|what about|how about|and what about|same for)\b",
        # words that show the question is about particular people, not everyone
        "person_words": r"\b(?:person|one|guy|man|woman|lady|girl|boy|dude|face|she|he|her|him|they|them|that)\b",
        "all": r"\b(?:everyone|everybody|all of them|each of them|each person|every person|them all|all the people)\b",
        "asked_colour": (
            rf"\b(?:wearing|wear|dressed in|dressed all in)\s+(?:a |an |the |some |all )?(?:{referring.COLOUR_ALTERNATION})\b"
            rf"(?:\s+{referring.GARMENTS})?\s*\??$"
        ),
        # a follow-up that asks a question of its own ("and how old is she?"), not the last one again
        "own_question": "|".join(
            rx.pattern for rx in (nlu.RE.age_q, nlu.RE.clothing_q, nlu.RE.emotion_q, nlu.RE.gender_q, nlu.RE.where_q)
        ),
        # questions about the whole group, answered about it (never "which person do you mean?")
        "activity": (
            r"^(?:so\s+)?(?:what is|what's|whats) (?:going on|happening|up|the (?:situation|scene|story))\b(?:\s+(?:here|there|in (?:this|the|that) "
            r"(?:photo|picture|pic|image|shot|one)))?\s*[?!.]*$|^what are (?:they|these people|the people|those people|they all) (?:doing|up to)\b"
        ),
        "group_look": (
            r"^how (?:do|does|are|is) (?:the people|they|everyone|everybody|the group|people|these people|those people|all of them|"
            r"they all|the family|the kids|the children)\b(?:\s+in (?:this|the|that) (?:photo|picture|pic|image|shot))?\s+"
            r"(?:look|looking|seem|seeming|feel|feeling|doing|come across)\b|^what(?: is|'s| kind of)? (?:the )?mood (?:are|is|in)\b.*\b(?:they|them|people|everyone|photo|picture|group)\b"
            r"|^what(?: is|'s) the (?:mood|vibe|atmosphere)\b"
        ),
        "group_clothes": (
            r"^what (?:colou?rs? )?(?:are|is|do|does) (?:most of them|most people|they|the people|people|everyone|everybody|all of them|"
            r"they all|the group)\b(?:\s+in (?:this|the|that) (?:photo|picture|pic|image|shot))?(?:\s+(?:all|mostly))?\s+(?:wearing|wear|dressed in|have on)\b"
            r"|^what colou?rs? (?:are|is|do) (?:most of them|most people|they|the people|people|everyone|everybody|all of them|they all)\b"
        ),
        # words that mean everyone in the photo, even after someone was talked about ("how are they all feeling?")
        "group_word": r"\b(?:all|everyone|everybody|people|group|most of them|each of them|the family|photo|picture|pic|image|shot)\b",
        # "which one is the grown-up?", "who's the kid here": the faces of an age group
        "which_band": r"^(?:which|who)(?:\s+(?:one|ones|of them|of these|of those|person|people|here))?(?:\s+is|\s+are|'s|\s+looks? like|\s+seems? to be)\b",
        "everyone": r"\b(?:everyone|everybody|all|each|every|people|them|they|these|photo|picture|image|pic|shot|group)\b",
    }
)


@dataclass
class PlanState:
    """What the planner remembers between turns of a conversation."""

    focus: tuple[int, ...] = ()  # faces the last answer was about
    intent: str | None = None  # the last question family, for "and the person next to her?"
    image: str | None = None


def answer(question: str, box: ToolBox, state: PlanState | None = None) -> PlannerReply:
    """Answer ``question`` about the ToolBox's current image (and audio) without an LLM.

    Updates ``state`` (focus and intent) so follow-up questions can refer back.
    """
    state = state if state is not None else PlanState()
    names = box.known_names() if box.images else set()
    scene = box.analyze_scene() if box.images else None
    if scene is not None:
        names |= {f.identity.name for f in scene.faces if f.identity is not None and f.identity.known}
    mood = user_mood(question)
    if mood is not None:  # "ugh, you keep getting the ages wrong!", "thanks, that helps": a brief kind word first
        kind, rest = mood
        reply = mood_reply(kind, rest, question, scene, state.image, lambda q: answer(q, box, state))
        if reply is not None:
            return reply
    u = understand(question, frozenset(names))
    if u.intent in ("empty", "too_long", "language"):
        return PlannerReply(wording.bad_question(u.intent, limit=1000), (), u.intent, state.image, understood=u)
    parts = u.parts or (u,)
    replies = []
    for part in parts:
        r = _straight(part, _dispatch(part, box, scene, state, names, in_compound=len(parts) > 1))
        r = _turned_aside(part, r, scene)
        _remember(state, r)
        replies.append(r)
    if len(replies) == 1:
        return _with(replies[0], understood=u)
    race = [r for r in replies if r.intent == "race"]
    rest = [r for r in replies if r.intent != "race"]
    text = " ".join(r.text for r in race + rest)
    last = rest[-1] if rest else replies[-1]
    return PlannerReply(
        text, last.faces, "compound", last.image, tuple(n for r in replies for n in r.notes), understood=u
    )


STRAIGHT_RE = re.compile(r"\s*(?:yes|no|i can't tell)\b", re.I)


def _straight(u: Understanding, r: PlannerReply) -> PlannerReply:
    """A yes/no question is answered straight even when the planner could not decide it: "I can't tell yet: which person ...",
    or, when it answered about someone without a yes or a no, "I can't tell yes or no from that; what I see: ..."."""
    if not u.yes_no or STRAIGHT_RE.match(r.text) or r.intent in ("race", "beyond", "transcript", "json", "compare"):
        return r
    if r.faces:
        if r.intent not in PERSON_INTENTS + ("who",) or WH_ANYWHERE_RE.search(u.text) or nlu.RE.count.search(u.text):
            return r  # "number of scared people?", "who's that, the lady on the right": no yes/no to give
        return _with(
            r,
            text="I can't tell yes or no from that; what I see: " + r.text[:1].lower() + r.text[1:]
            if r.text[:4] != "Face"
            else "I can't tell yes or no from that; what I see: " + r.text,
        )
    text = r.text if re.match(r"I\b", r.text) else r.text[:1].lower() + r.text[1:]
    return _with(r, text="I can't tell yet: " + text)


#: slots that make a question depend on apparent age or gender ("how many women", "is anyone a child")
AGE_GENDER_SLOTS = ("gender", "child", "age_over", "age_under")
#: answers judged over everyone in the photo, whoever they end up citing
GROUP_INTENTS = ("count", "anyone", "superlative", "which", "children")


def _turned_aside(u: Understanding, r: PlannerReply, scene: SceneAnalysis | None) -> PlannerReply:
    """An answer that judged apparent age or gender says which of the faces it judged are turned to the side
    (in profile the age and gender models guess: a man in profile read as a woman, a boy as 25)."""
    if scene is None or not scene.faces or r.intent in ("race", "beyond", "transcript", "json", "empty", "unsure"):
        return r
    s = u.slots
    about = (
        u.intent in ("age", "gender")
        or any(s.get(k) for k in AGE_GENDER_SLOTS)
        or s.get("superlative") in ("oldest", "youngest")
        or conditions.band_of(u.text)[0]
    )
    if not about:
        return r
    judged = scene.faces if (r.intent in GROUP_INTENTS or not r.faces) else [f for f in scene.faces if f.id in r.faces]
    aside = [f.id for f in judged if turned_aside(f.landmarks, f.box[2])]
    return _with(r, text=f"{r.text} {wording.turned_aside(aside)}") if aside else r


def _remember(state: PlanState, r: PlannerReply) -> None:
    if r.intent == "chat":
        return  # a word about the user's mood keeps what the conversation was about
    if r.faces:
        state.focus = r.faces
    if r.intent not in ("beyond", "race", "unsure"):
        state.intent = r.intent
    state.image = r.image


def _with(r: PlannerReply, **kw: Any) -> PlannerReply:
    return PlannerReply(
        **(
            {
                "text": r.text,
                "faces": r.faces,
                "intent": r.intent,
                "image": r.image,
                "notes": r.notes,
                "understood": r.understood,
            }
            | kw
        )
    )


def _dispatch(
    u: Understanding,
    box: ToolBox,
    scene: SceneAnalysis | None,
    state: PlanState,
    names: set[str],
    in_compound: bool = False,
) -> PlannerReply:
    t = u.text
    if u.intent == "race":
        words = re.findall(r"\w+", referring.RE.pronoun.sub("", t))
        only = not in_compound
        text = wording.RACE_DECLINE + (" " + wording.RACE_ONLY if only or len(words) < 2 else "")
        return PlannerReply(text, (), "race", state.image, understood=u)
    if u.intent == "transcript" or (
        nlu.RE.transcript.search(t) and (box.audio is not None or scene is None) and u.intent in ("unsure", "beyond")
    ):
        return _with(compose.transcript(t, box), understood=u)
    if scene is None:
        return PlannerReply(wording.BEYOND_SCOPE, (), "beyond", understood=u)
    image = box.image_name()
    if not scene.faces:
        return PlannerReply(wording.no_faces(image=image, detector=scene.detector), (), "empty", image, understood=u)
    focus = state.focus if state.image == image else ()
    if RE.follow.match(t) and state.intent in PERSON_INTENTS:
        ref = referring.resolve(t, scene, focus=focus, known_names=names)
        if (
            ref is not None
        ):  # "and is she happy?" asks its own question; "what about the girl in front?" the last one again
            own = u.intent in PERSON_INTENTS and (u.slots.get("emotion") or RE.own_question.search(t))
            return _per_person(
                u.intent if own else state.intent, u, scene, ref.face_ids, ref.notes, image, ambiguous=ref.ambiguous
            )
    if RE.is_one.match(t):
        return _check_referent(t, box, scene, focus, names, image)
    group = _group_question(u, scene, focus, names, image)
    if group is not None:
        return _with(group, understood=u)
    reply = _family(u, box, scene, focus, names, image, in_compound)
    return _with(reply, understood=u)


def _group_question(
    u: Understanding, scene: SceneAnalysis, focus: tuple[int, ...], names: set[str], image: str
) -> PlannerReply | None:
    """Questions answered about a group picked by their conditions, or about everyone; None: not one of these."""
    t, s, intent = u.text, u.slots, u.intent
    if (
        intent in ("race", "json", "transcript", "presence", "compare", "superlative")
        or s.get("count_cmp")
        or s.get("faces")
    ):
        return None
    c = conditions.parse(t, s)
    person = nlu.RE.person_cue.search(conditions.strip_bands(t)) or s.get(
        "name"
    )  # "the little one" names an age group, no position
    if c.unseen:  # "how many men in suits?", "is the guy on the left wearing glasses?": can't be seen, said so
        ref = (
            referring.resolve(t, scene, focus=focus, known_names=names)
            if person or not (nlu.RE.count.search(t) or s.get("quantifier"))
            else None
        )
        if ref is not None and ref.face_ids and not referring.RE.plural.search(t):
            return groups.cant_see(
                c,
                scene,
                image,
                intent if intent in PERSON_INTENTS else "describe",
                [scene.face(i) for i in ref.face_ids],
            )
        return groups.cant_see(c, scene, image, "count" if nlu.RE.count.search(t) else "anyone")
    if person:
        return None
    if intent == "count" and (
        c.bands
        and (c.count > 1 or c.band_word not in ("child", "minor"))
        or c.age_over is not None
        or c.age_under is not None
        or c.count > 1
    ):
        return groups.count(c, scene, image)  # "how many women are smiling?", "how many ppl look older than 60"
    group_c = c.without("emotion", "colour", "unseen")
    if (
        intent in ("anyone", "who_looks")
        and s.get("yesno")
        and group_c.any
        and (c.emotion or c.colour)
        and (c.bands or c.age_over is not None or c.age_under is not None or s.get("quantifier") == "all")
    ):
        return groups.anyone(c, scene, image, everyone=s.get("quantifier") == "all")  # "r all the kids smiling"
    if c.bands and RE.which_band.match(t) and "superlative" not in s:
        return groups.which(c.without("emotion", "colour"), scene, image)  # "which one is the grown-up?"
    if focus and re.search(r"\b(?:they|them|their|these two|those two)\b", t) and not RE.group_word.search(t):
        return None  # "is the one in red ok? how do they seem": they are who was just talked about
    if RE.activity.search(t):
        return groups.group_look(scene, image, activity=True)
    if RE.group_look.search(t):
        return groups.group_look(scene, image)
    if RE.group_clothes.search(t) and "colour" not in s:
        return groups.group_clothing(scene, image)
    return None


def _family(
    u: Understanding,
    box: ToolBox,
    scene: SceneAnalysis,
    focus: tuple[int, ...],
    names: set[str],
    image: str,
    in_compound: bool,
) -> PlannerReply:
    t, s, intent = u.text, u.slots, u.intent
    if intent == "json":
        ref = referring.resolve(t, scene, focus=focus, known_names=names)
        ids = ref.face_ids if ref is not None and ref.face_ids else tuple(f.id for f in scene.faces)
        data = [compose.summary(scene.face(i), image).model_dump(mode="json") for i in ids]
        return PlannerReply(json.dumps(data, indent=2), ids, "json", image)
    if intent == "compare":
        reply = _compare(
            t,
            box,
            scene,
            focus,
            names,
            image,
            yes_no=bool(s.get("yesno"))
            and ("different" if re.search(r"\b(?:different|not the same)\b", t) else "same"),
        )
        if reply.faces:
            s["person"] = reply.faces
        return reply
    if intent == "count":
        if s.get("count_cmp"):
            return yes_no.count_yes_no(s, scene, image)
        if s.get("child"):
            return compose.children(scene, image, count=True)
        return compose.count(s, scene, image)
    if intent == "superlative":
        return compose.superlative(s["superlative"], scene, image)
    if intent == "anyone":
        return yes_no.anyone(s, scene, image)
    if intent == "who_looks":
        if "emotion" not in s or s.get("yesno"):  # a yes/no question is answered yes or no
            return yes_no.anyone(s, scene, image)
        return compose.who_looks(s["emotion"], scene, image, everyone=s.get("quantifier") == "all")
    if intent == "presence":
        return _presence(s["name"], scene, names | box.known_names(), image)
    if intent == "identify" and s.get("yesno") and s.get("name") and s["name"] not in names | box.known_names():
        return compose.presence(
            s["name"], scene, names | box.known_names(), image
        )  # "is face 1 Zoe?": nobody enrolled Zoe
    if intent == "identify" and s.get("known"):  # "do you recognise anyone?"
        return compose.identify_all(scene, image, yes_no=bool(s.get("yesno")))
    if intent in PERSON_INTENTS:
        return _person_family(u, scene, focus, names, image, in_compound)
    if intent == "unsure":
        return PlannerReply(compose.unsure(u, scene), (), "unsure", image)
    return PlannerReply(wording.BEYOND_SCOPE, (), "beyond", image)


def _person_family(
    u: Understanding, scene: SceneAnalysis, focus: tuple[int, ...], names: set[str], image: str, in_compound: bool
) -> PlannerReply:
    t, s, intent = u.text, u.slots, u.intent
    if (
        intent == "clothing" and s.get("yesno") and s.get("colour")
    ):  # "is the man on the left wearing red": red is asked, not who
        t = RE.asked_colour.sub("", t).strip() or t
    if (
        intent == "identify" and s.get("yesno") and s.get("name") and s.get("name_of_person")
    ):  # "is the one in green Emeka?"
        i = t.rfind(s["name"].lower())
        t = (t[:i] + t[i + len(s["name"]) :]).strip() if i > 0 else t  # who is meant, not who is asked about
    ref = referring.resolve(t, scene, focus=focus, known_names=names)
    if ref is not None:
        reply = _per_person(intent, u, scene, ref.face_ids, ref.notes, image, ambiguous=ref.ambiguous)
        if (
            ref.alternative and reply.faces
        ):  # "the woman in the middle" where the middle one looks like a child: who the words fit, too
            alt = compose.per_person(intent, [scene.face(i) for i in ref.alternative])
            reply = _with(reply, text=reply.text + " " + wording.position_alternative(answer=alt))
        return reply
    if len(scene.faces) == 1:
        return _per_person(intent, u, scene, (1,), (), image)
    if focus and (s.get("pronoun") or in_compound):
        return _per_person(intent, u, scene, focus, (), image)
    if RE.all.search(t) and intent not in ("describe", "identify"):  # "how is everyone feeling?"
        return _per_person(intent, u, scene, tuple(f.id for f in scene.faces), (), image)
    if intent in ("describe", "identify") and (RE.everyone.search(t) or not RE.person_words.search(t)):
        ids = tuple(f.id for f in scene.faces)
        if intent == "identify":
            return compose.identify_all(scene, image)
        return _per_person("describe", u, scene, ids, (), image)
    return PlannerReply(compose.which_person(scene), (), "ask_referent", image)


def _per_person(
    intent: str,
    u: Understanding,
    scene: SceneAnalysis,
    ids: tuple[int, ...],
    notes: tuple[str, ...],
    image: str,
    ambiguous: bool = False,
) -> PlannerReply:
    if not ids:
        return PlannerReply(compose.nobody(u.text, scene, notes), (), intent, image, notes)
    faces = [scene.face(i) for i in ids]
    s = u.slots
    s["person"] = tuple(ids)  # the person understood, for the evaluation's slot accuracy
    if intent == "emotion" and s.get("yesno") and s.get("emotion"):
        asked = s.get("emotions") or (s["emotion"],)  # "is she happy and relaxed?": yes when her look is one of them
        top = faces[0].emotion.label if faces[0].emotion is not None else None
        text = yes_no.emotion_yes_no(top if top in asked else asked[-1] if len(asked) > 1 else asked[0], faces)
    elif intent == "gender" and s.get("yesno") and (asked := yes_no.asked_gender(u.text)):
        text = yes_no.gender_yes_no(asked, faces)
    elif (
        intent == "identify" and s.get("yesno") and s.get("name") and not s.get("quantifier")
    ):  # "is the one on the left Alice?"
        text = yes_no.identity_yes_no(s["name"], faces)
    elif intent == "age" and ("age_over" in s or "age_under" in s) and (got := yes_no.age_yes_no(s, faces)) is not None:
        asked, hits = got  # "is the guy on the left over 40?"
        text = " ".join(
            f"{'Yes' if f.id in {h.id for h in hits} else 'No'}: {compose.per_person('age', [f])} (you asked: {asked})"
            for f in faces
        )
    elif intent == "clothing" and s.get("yesno") and s.get("colour"):  # "is she wearing red?"
        seen = [f.appearance.clothing_colour for f in faces]
        lead = (
            "I can't tell" if None in seen else "Yes" if all(conditions.wears(f, s["colour"]) for f in faces) else "No"
        )
        text = f"{lead}: " + compose.per_person(intent, faces)
    else:
        text = compose.per_person(intent, faces)
    if notes:
        text += " (Note: " + "; ".join(notes) + ".)"
    if ambiguous:  # "is the little girl happy?" with two little girls: say so, then answer for each
        text = wording.ambiguous_person(count=len(faces), faces=", ".join(f"Face {f.id}" for f in faces)) + " " + text
    return PlannerReply(text, ids, intent, image, notes)


def _check_referent(
    t: str, box: ToolBox, scene: SceneAnalysis, focus: tuple[int, ...], names: set[str], image: str
) -> PlannerReply:
    rest = RE.is_one.sub("the one", t, count=1)
    ref = referring.resolve(rest, scene, known_names=names)
    if not focus:
        return PlannerReply(compose.which_person(scene), (), "ask_referent", image)
    return PlannerReply(
        compose.is_same_referent(scene, focus, ref.face_ids if ref is not None else None), focus, "check", image
    )


def _compare(
    t: str,
    box: ToolBox,
    scene: SceneAnalysis,
    focus: tuple[int, ...],
    names: set[str],
    image: str,
    yes_no: bool | str = False,
) -> PlannerReply:
    two = re.search(r"\b(?:two|2)\b.*\b(left|right)\b", t)
    if two and len(scene.faces) >= 2 and not re.search(r"\bface\s*\d", t):
        pair = (1, 2) if two.group(1) == "left" else (len(scene.faces) - 1, len(scene.faces))
        return _run_compare(box, scene, list(pair), image, yes_no)
    ids: list[int] = [
        int(k)
        for k in re.findall(
            r"(?:\bfaces?|\bperson|#|\band|,|\bwith|\bas|\bto|\bvs\.?)\s*(?:number\s*|#)?(\d{1,3})\b", t
        )
    ]
    if len(ids) < 2:
        ids = []
        for part in re.split(r"\b(?:and|as|with|versus|vs\.?|to|like)\b", t):
            ref = referring.resolve(part, scene, focus=focus, known_names=names)
            if ref is not None and len(ref.face_ids) == 1:
                ids.append(ref.face_ids[0])
        if len(ids) == 1 and focus and focus[0] != ids[0]:
            ids.insert(0, focus[0])
    if len(ids) < 2 and len(scene.faces) == 2:
        ids = [1, 2]
    ids = sorted(dict.fromkeys(ids))  # image order: "Face 1 and Face 2" whichever was named first
    if len(ids) < 2:
        text = compose.which_person(scene, two=True)
        return PlannerReply(
            ("I can't tell yet: " + text[:1].lower() + text[1:]) if yes_no else text, (), "compare", image
        )
    return _run_compare(box, scene, ids, image, yes_no)


def _run_compare(
    box: ToolBox, scene: SceneAnalysis, ids: list[int], image: str, yes_no: bool | str = False
) -> PlannerReply:
    """Compare two faces; a yes/no question ("are face 1 and 2 the same person?") is answered Yes or No first."""
    try:
        result = box.compare_faces(ids[0], ids[1])
    except FacelensError as exc:
        return PlannerReply(
            f"I can't tell: I couldn't compare them: {exc}" if yes_no else f"I couldn't compare them: {exc}",
            (),
            "compare",
            image,
        )
    text = compose.comparison(scene, result)
    if yes_no:  # "are they the same person?" / "are they different people?"
        asked_same = yes_no != "different"
        text = ("Yes: " if result.same_person == asked_same else "No: ") + text
    return PlannerReply(text, (ids[0], ids[1]), "compare", image)


def _presence(name: str, scene: SceneAnalysis, known: set[str], image: str) -> PlannerReply:
    """Is NAME here? A near-miss of an enrolled name ("scarlet" for Scarlett) is taken as that name, and the answer says so."""
    if name in known:
        return compose.presence(name, scene, known, image)
    by_lower = {k.lower(): k for k in known}
    if name.lower() in by_lower:
        real = by_lower[name.lower()]
    else:
        close = [
            k
            for k in difflib.get_close_matches(name.lower(), list(by_lower), n=2, cutoff=NEAR_NAME_CUTOFF)
            if k[:1] == name[:1].lower() and abs(len(k) - len(name)) <= 2
        ]
        if len(close) != 1:
            return compose.presence(name, scene, known, image)
        real = by_lower[close[0]]
    reply = compose.presence(real, scene, known, image)
    note = wording.near_name(asked=name, name=real)
    return _with(reply, text=f"{reply.text} {note}")
