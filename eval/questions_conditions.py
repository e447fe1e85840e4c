"""The condition families of the paraphrase evaluation (issue 24): every condition in a question counts.

Filled on the same generated scenes as :mod:`facelens.eval.questions` (known gender, apparent age,
expression, clothing colour and identity per face). The families and their truth:

- ``count_cond``: a count with one or more conditions ("how many women look happy", "how many ppl
  look older than 60"): the right number of the right people, never the whole head count;
- ``count_unseen`` / ``anyone_unseen``: something the analysis cannot see (glasses, suits): an honest
  "I can't tell ...", with what can be seen (for "how many men in suits": the men);
- ``all_cond``: "are all the kids smiling?": yes or no about the kids only;
- ``person_cond``: one person by combined conditions ("the little girl", "the man in red"): that
  person, or, when several fit, each of them with a sentence that says so;
- ``group_look`` / ``group_clothing``: questions about the group, answered about everyone;
- ``which_cond``: "which one is the grown-up?": the faces of that age group;
- ``near_name``: a misspelt enrolled name ("Alise"): matched to the enrolled name, and said so.

Age groups use the planner's own thresholds (:mod:`facelens.agent.assistant.conditions`: child under 13,
elderly over 60): they are the definition of the words, not a model's output.
"""

from __future__ import annotations

import random
import re
from typing import Any

from facelens.agent.assistant.conditions import Conditions, age_band, matches
from facelens.eval.question_checks import starts
from facelens.tools.schema import EMOTION_ADJECTIVES, EMOTIONS, SceneAnalysis

FAMILIES = {
    "count_cond",
    "count_unseen",
    "anyone_unseen",
    "all_cond",
    "person_cond",
    "group_look",
    "group_clothing",
    "which_cond",
    "near_name",
}
#: counts asked with a condition: a bare head count ("I count 6 people") is the error measured as ``bare_counts``
CONDITIONED_COUNTS = {"count_cond", "count_unseen", "count_emotion", "count_colour", "count_gender"}
PERSON = {"person_cond", "which_cond"}
YES_NO = {"anyone_unseen", "all_cond", "near_name"}
INTENTS = {
    "count_cond": "count",
    "count_unseen": "count",
    "anyone_unseen": "anyone",
    "all_cond": "anyone",
    "group_look": "describe",
    "group_clothing": "clothing",
    "which_cond": "identify",
    "near_name": "presence",
}
BARE_COUNT_RE = re.compile(r"\s*(?:(?:Yes|No)[:,]\s*)?I count \d+ (?:people|person)\b")
GALLERY_ORDER = ("Alice", "Bruno", "Chen", "Dana", "Emeka")


def is_bare_count(text: str) -> bool:
    return BARE_COUNT_RE.match(text) is not None


def build(family: str, template: str, data: dict, scene: SceneAnalysis, rng: random.Random) -> dict[str, Any]:
    """One case of a condition family: the question, its intent, expected slots, the person(s) and the check."""
    cw, words = data["conditions"], data["words"]
    faces = list(scene.faces)
    n = len(faces)
    fill: dict[str, str] = {}
    c: dict[str, Any] = {}
    slots: dict[str, Any] = {}
    if "{gp}" in template:
        g = rng.choice(("female", "male"))
        fill["gp"] = rng.choice(cw["gp"][g])
        c["gender"] = g
        slots["gender"] = g
    for key, bands in (
        ("kids", ("child",)),
        ("kid", ("child",)),
        ("olds", ("elderly",)),
        ("adults", ("adult", "elderly")),
        ("grownup", ("adult", "elderly")),
    ):
        if "{" + key + "}" in template:
            fill[key] = rng.choice(cw[key])
            c["bands"] = bands
    if "{emo}" in template:
        label = rng.choice(EMOTIONS)
        fill["emo"] = rng.choice(words["emotion"][label])
        c["emotion"] = label
        slots["emotion"] = label
    if "{colour}" in template:
        worn = [f.appearance.clothing_colour for f in faces]
        fill["colour"] = rng.choice(
            worn
            + [x for x in ("red", "blue", "green", "yellow", "purple", "orange", "black", "white") if x not in worn][:1]
        )
        c["colour"] = fill["colour"]
        slots["colour"] = fill["colour"]
    if "{age}" in template:
        age = rng.choice((20, 30, 40, 50, 60))
        fill["age"] = str(age)
        over = re.search(r"(?:older than|over|above) \{age\}", template) is not None
        c["age_over" if over else "age_under"] = age
        slots["age_over" if over else "age_under"] = age
    for key in ("unseen", "unseen_pl"):
        if "{" + key + "}" in template:
            fill[key] = rng.choice(cw[key])
    target = None
    if "{desc}" in template:
        target = faces[rng.randrange(n)]
        band = age_band(target)
        noun = rng.choice(cw["desc"][f"{band.replace('elderly', 'old')}_{target.gender.label}"])
        if rng.random() < 0.5:
            noun = rng.choice(cw["desc_colour"]).format(d=noun, colour=target.appearance.clothing_colour)
            c["colour"] = target.appearance.clothing_colour
        fill["desc"] = noun
        c["gender"] = target.gender.label
        c["bands"] = (
            ("child",)
            if band == "child"
            else ("teen",)
            if band == "teen"
            else ("elderly",)
            if band == "elderly"
            else ("adult", "elderly")
        )
    real = None
    if "{near}" in template:
        present = [f.identity.name for f in faces if f.identity.known]
        absent = [g for g in GALLERY_ORDER if g not in present]
        real = rng.choice(present) if present and rng.random() < 0.6 else rng.choice(absent)
        fill["near"] = rng.choice(cw["near"][real])
    question = template.format(**fill)
    check, ids, intent = _check(family, template, question, faces, c, fill, real)
    return {
        "question": question,
        "intent": intent,
        "slots": slots,
        "ids": ids,
        "yes_no": family in YES_NO or "{emo}" in template and family == "person_cond",
        "check": check,
    }


def _check(family: str, template: str, question: str, faces: list, c: dict, fill: dict, real: str | None):
    all_ids = tuple(f.id for f in faces)
    who = {
        k: v for k, v in c.items() if k not in ("emotion", "colour")
    }  # who the people are; the rest is asked of them
    group = tuple(f.id for f in faces if matches(f, Conditions(**who)))
    hits = tuple(f.id for f in faces if matches(f, Conditions(**c)))
    if family == "count_cond":
        if not hits:
            return (
                (lambda r: starts(r.text, "None", "No one", "Nobody", "No", "0 of") and not is_bare_count(r.text)),
                None,
                "count",
            )
        return (lambda r: starts(r.text, f"{len(hits)} of") and tuple(r.faces) == hits), None, "count"
    if family in ("count_unseen", "anyone_unseen"):
        thing = fill.get("unseen") or fill.get("unseen_pl")

        def unseen(r, group=group, thing=thing) -> bool:
            ok = starts(r.text, "I can't tell") and thing in r.text and not is_bare_count(r.text)
            if "gender" in c:
                ok = ok and ((f"I can see {len(group)} " in r.text) if group else ("I see no" in r.text))
            return ok

        return unseen, None, INTENTS[family]
    if family == "all_cond":
        if not group:
            return (lambda r: starts(r.text, "No") and not r.faces), None, "anyone"
        lead = "Yes" if len(hits) == len(group) else "No"
        return (lambda r: starts(r.text, lead) and tuple(r.faces) == hits), None, "anyone"
    if family == "person_cond":
        hits = tuple(
            f.id for f in faces if matches(f, Conditions(**{k: v for k, v in c.items() if k != "emotion"}))
        )  # who is described
        many = len(hits) > 1
        if "{emo}" in template:
            intent = "emotion"
            if many:
                check = lambda r: starts(r.text, "I can't tell") and "fit" in r.text and tuple(r.faces) == hits  # noqa: E731
            else:
                yes = faces[hits[0] - 1].emotion.label == c["emotion"]
                check = lambda r: starts(r.text, "Yes" if yes else "No") and tuple(r.faces) == hits  # noqa: E731
            return check, hits, intent
        if "how old" in template:
            intent = "age"
            want = [f"about {faces[i - 1].age:.0f}" for i in hits]
        elif re.search(r"feel|mood", template):
            intent = "emotion"
            want = [EMOTION_ADJECTIVES[faces[i - 1].emotion.label] for i in hits]
        else:
            intent = "where"
            want = []
        return (
            (lambda r: tuple(r.faces) == hits and all(w in r.text for w in want) and (not many or "fit" in r.text)),
            hits,
            intent,
        )
    if family == "group_look":
        adjectives = {EMOTION_ADJECTIVES[f.emotion.label] for f in faces}
        return (
            (
                lambda r: (
                    tuple(r.faces) == all_ids
                    and all(a in r.text for a in adjectives)
                    and "Which person" not in r.text
                    and "not sure" not in r.text
                )
            ),
            None,
            "describe",
        )
    if family == "group_clothing":
        colours = {f.appearance.clothing_colour for f in faces}
        return (
            (
                lambda r: (
                    tuple(r.faces) == all_ids and all(x in r.text for x in colours) and "Which person" not in r.text
                )
            ),
            None,
            "clothing",
        )
    if family == "which_cond":
        if not hits:
            return (lambda r: starts(r.text, "No one", "None", "Nobody", "No") and not r.faces), None, "identify"
        return (lambda r: tuple(r.faces) == hits), hits, "identify"
    if family == "near_name":
        there = tuple(f.id for f in faces if f.identity.known and f.identity.name == real)
        return (
            (
                lambda r: (
                    starts(r.text, "Yes" if there else "No")
                    and real in r.text
                    and fill["near"] in r.text
                    and tuple(r.faces) == there
                )
            ),
            None,
            "presence",
        )
    raise ValueError(f"unknown condition family {family}")
