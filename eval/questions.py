"""Paraphrase evaluation of the offline planner: questions asked the way people ask them.

Question templates live in ``prompts/eval/questions_{tune,tune2,tune3,tune4,heldout}.yaml`` (the held-out split
was written first and is never tuned on; tune2 is the second round's phrasings, each batch measured
before it was tuned on; tune3 the third round's yes/no forms: counts, ages, gender, "everyone", compound; tune4 and the end of heldout the condition families of eval/questions_conditions.py). Each template is filled on generated scenes (synthetic
:class:`SceneAnalysis` objects with known positions, clothing colours, emotion scores, ages,
genders and identities), so every question has an expected intent, expected slots and an expected
answer computed from the scene itself. Measured:

- ``intent``: the planner's question family is the expected one;
- ``slots``: the understood slots (person, emotion, colour, name, ...) are the expected ones;
- ``consistent``: the answer agrees with the scene (the tools' results);
- ``yes_no_form``: a yes/no question is answered starting with "Yes" or "No" (or "I can't tell"
  for a name nobody enrolled);
- ``wrong_person``: answers about a different face than the one asked about (must be 0).
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from facelens import prompts
from facelens.agent.assistant import planner
from facelens.agent.assistant.toolbox import Comparison, ToolBox
from facelens.eval import questions_conditions as conds
from facelens.eval.question_checks import best_face, count_check, count_yes_no, ids_check, starts, yes_no_check
from facelens.eval.scenes import synthetic_analysis, synthetic_face
from facelens.tools.identity import DEFAULT_THRESHOLD
from facelens.tools.schema import EMOTION_ADJECTIVES, EMOTIONS, IdentityMatch, SceneAnalysis

log = logging.getLogger(__name__)

SPLITS = ("tune", "tune2", "tune3", "tune4", "heldout")
SCENE_SIZES = (3, 2, 4, 5, 1)  # faces per generated scene, cycled
GALLERY = ("Alice", "Bruno", "Chen", "Dana", "Emeka")
STRANGERS = ("Zoe", "Marcus", "Priya", "Oliver", "Fatima")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white")
AGE_GROUPS = ((10, "0-9"), (20, "10-19"), (30, "20-29"), (40, "30-39"), (50, "40-49"), (60, "50-59"), (200, "60+"))
YES_NO_FAMILIES = {
    "anyone_emotion",
    "anyone_child",
    "presence",
    "presence_stranger",
    "person_emotion_yesno",
    "anyone_smile",
    "everyone_emotion",
    "anyone_age",
    "anyone_gender",
    "count_yesno",
    "pronoun_yesno",
    "compound_anyone_who",
    "person_is_name",
    "person_is_stranger",
    "presence_stranger_more",
}
#: families whose question is about one particular person: answering about another is the worst error
PERSON_FAMILIES = {
    "person_emotion",
    "person_emotion_yesno",
    "person_age",
    "person_gender",
    "person_clothing",
    "person_who",
    "person_where",
    "describe_person",
    "pronoun_yesno",
    "person_is_name",
}
INTENTS = {
    "count": "count",
    "count_emotion": "count",
    "count_colour": "count",
    "count_gender": "count",
    "superlative": "superlative",
    "anyone_emotion": "anyone",
    "anyone_child": "anyone",
    "who_looks": "who_looks",
    "presence": "presence",
    "presence_stranger": "presence",
    "identify_all": "identify",
    "person_emotion": "emotion",
    "person_emotion_yesno": "emotion",
    "person_age": "age",
    "person_gender": "gender",
    "person_clothing": "clothing",
    "person_who": "identify",
    "person_where": "where",
    "describe_all": "describe",
    "describe_person": "describe",
    "json": "json",
    "compare": "compare",
    "compound_sup_age": "compound",
    "compound_count_sup": "compound",
    "anyone_smile": "anyone",
    "everyone_emotion": "anyone",
    "anyone_age": "anyone",
    "anyone_gender": "anyone",
    "count_yesno": "count",
    "pronoun_yesno": "emotion",
    "compound_anyone_who": "anyone",
    "person_is_name": "identify",
    "person_is_stranger": "presence",
    "presence_stranger_more": "presence",
    "transcript": "transcript",
    "beyond": "beyond",
    "race": "race",
}
#: the old planner's intent names, mapped onto these (to measure the baseline fairly)
OLD_INTENTS = {"who": "identify", "check": "compare"}


@lru_cache(maxsize=2)
def load_split(split: str) -> dict:

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    return prompts.load(f"eval/questions_{split}")


class SyntheticBox(ToolBox):
    """A ToolBox over a generated scene: its gallery and face comparison come from the scene's truth."""

    def __init__(self, scene: SceneAnalysis, persons: dict[int, str], known: set[str]) -> None:
        super().__init__([b"synthetic"], identify=True)
        self._scenes[self.image_name()] = scene
        self._persons = persons
        self._known = known

    def known_names(self) -> set[str]:
        return set(self._known)

    def compare_faces(
        self, face_a: int, face_b: int, image_a: str | None = None, image_b: str | None = None
    ) -> Comparison:
        scene = self.scene()
        scene.face(face_a), scene.face(face_b)
        same = self._persons[face_a] == self._persons[face_b]
        return Comparison(face_a, face_b, 0.38 if same else 0.81, same, DEFAULT_THRESHOLD)


def make_scene(n: int, rng: random.Random) -> tuple[SceneAnalysis, dict[int, str]]:
    """A scene of ``n`` faces, left to right, with known attributes; also each face's hidden person key."""
    colours = rng.sample(COLOURS, n)
    names = rng.sample(GALLERY, min(n, 2))
    faces, persons = [], {}
    sizes = rng.sample(range(1, n + 1), n)
    for i in range(n):
        fid = i + 1
        top = rng.choice(EMOTIONS)
        raw = {e: rng.random() * 0.3 for e in EMOTIONS}
        raw[top] += rng.choice((0.4, 0.9, 1.6, 3.0))
        total = sum(raw.values())
        scores = {e: round(v / total, 4) for e, v in raw.items()}
        label = max(scores, key=scores.get)
        age = float(rng.choice((4, 8, 15, 17, 24, 31, 38, 45, 52, 67)) + rng.random())
        group = next(g for lim, g in AGE_GROUPS if age < lim)
        known = i < len(names) and rng.random() < 0.8
        name = names[i] if known else "unknown"
        ident = IdentityMatch(
            name=name, distance=0.35 if known else 0.72, known=known, nearest=name if known else rng.choice(GALLERY)
        )
        persons[fid] = name if known else f"stranger{i}"
        x = 40 + i * 200
        horiz = "left" if (x + 50) < n * 200 / 3 else "right" if (x + 50) > n * 400 / 3 else "center"
        faces.append(
            synthetic_face(
                fid,
                n,
                horizontal=horiz,
                size_rank=sizes[i],
                identity=ident,
                colour=colours[i],
                emotion=label,
                scores=scores,
                age=age,
                age_group=group,
                gender=rng.choice(("female", "male")),
                model="synthetic-eval",
            )
        )
    if n >= 2 and rng.random() < 0.4 and not faces[1].identity.known:  # faces 1 and 2: the same stranger
        persons[2] = persons[1] if not faces[0].identity.known else persons[2]
    scene = synthetic_analysis(faces, "0")
    return scene, persons


@dataclass
class Case:
    family: str
    question: str
    intent: str
    slots: dict[str, Any]
    ids: tuple[int, ...] | None  # the person asked about (person families)
    yes_no: bool
    check: Any  # reply -> bool


def _refs(words: dict, scene: SceneAnalysis, fid: int, rng: random.Random) -> str:
    n = len(scene.faces)
    f = scene.face(fid)
    kinds = ["colour", "number"]
    if fid == 1 and n >= 2:
        kinds.append("left")
    if fid == n and n >= 2:
        kinds.append("right")
    if fid == 2 and n >= 3:
        kinds.append("second_left")
    if fid == n - 1 and n >= 3:
        kinds.append("second_right")
    if n >= 3 and n % 2 and fid == (n + 1) // 2:
        kinds.append("middle")
    if f.identity.known:
        kinds.append("name")
    kind = rng.choice(kinds)
    text = rng.choice(words["refs"][kind])
    return text.format(colour=f.appearance.clothing_colour, k=fid, name=f.identity.name)


def build_cases(split: str, scene: SceneAnalysis, persons: dict[int, str], rng: random.Random) -> list[Case]:
    data = load_split(split)
    words = data["words"]
    faces = scene.faces
    n = len(faces)
    all_ids = tuple(f.id for f in faces)
    out: list[Case] = []
    for family, templates in data["families"].items():
        if family == "compare" and n < 2:
            continue
        if (
            family in conds.FAMILIES
        ):  # issue 24's condition families (drawn after the older families: their streams stay)
            for t in templates:
                c = conds.build(family, t, data, scene, rng)
                out.append(Case(family, c["question"], c["intent"], c["slots"], c["ids"], c["yes_no"], c["check"]))
            continue
        for t in templates:
            slots: dict[str, Any] = {}
            ids = None
            fill: dict[str, str] = {}
            label = rng.choice(EMOTIONS)
            emo_word = rng.choice(words["emotion"][label])
            key = rng.choice(list(words["superlative"]))
            fill["sup"] = rng.choice(words["superlative"][key])
            fill["emo"] = emo_word
            colour = rng.choice(
                [f.appearance.clothing_colour for f in faces]
                + [c for c in COLOURS if c not in {f.appearance.clothing_colour for f in faces}][:1]
            )
            fill["colour"] = colour
            if "{ref}" in t:
                fid = rng.randrange(1, n + 1)
                fill["ref"] = _refs(words, scene, fid, rng)
                ids = (fid,)
                slots["person"] = ids
            fill["stranger"] = rng.choice(STRANGERS)
            present = [f for f in faces if f.identity.known]
            absent = [g for g in GALLERY if g not in {f.identity.name for f in present}]
            fill["name"] = (
                rng.choice([f.identity.name for f in present] + absent[:1])
                if present and rng.random() < 0.6
                else rng.choice(absent)
            )
            if "{num}" in t:  # drawn only where used: the older splits' random streams stay as they were
                fill["num"] = str(rng.randint(1, 5))
            if "{age}" in t:
                fill["age"] = str(rng.choice((20, 30, 40, 50, 60)))
            question = t.format(**fill)
            hits = lambda lab: tuple(f.id for f in faces if f.emotion.label == lab)  # noqa: E731
            if family == "count":
                chk = count_check(n, None)
            elif family == "count_emotion":
                slots["emotion"] = label
                chk = count_check(n, hits(label))
            elif family == "count_colour":
                slots["colour"] = colour
                chk = count_check(n, tuple(f.id for f in faces if f.appearance.clothing_colour == colour))
            elif family == "count_gender":
                g = "female" if re.search(r"female|ladies|women|gals|girls", question) else "male"
                slots["gender"] = g
                chk = count_check(n, tuple(f.id for f in faces if f.gender.label == g))
            elif family == "superlative":
                slots["superlative"] = key
                chk = ids_check((best_face(faces, key),))
            elif family == "anyone_emotion":
                slots.update(emotion=label)
                chk = yes_no_check(hits(label))
            elif family == "anyone_smile":
                slots.update(emotion="happy")
                chk = yes_no_check(hits("happy"))
            elif family == "everyone_emotion":
                slots.update(emotion=label)
                h = hits(label)
                chk = yes_no_check(h) if len(h) == n else (lambda r: starts(r.text, "No"))
                chk.yes_no = True  # type: ignore[attr-defined]
            elif family == "compound_anyone_who":
                slots.update(emotion=label)
                chk = yes_no_check(hits(label))
            elif family == "anyone_age":
                lim = int(fill["age"])
                over = re.search(r"\b(?:over|older than|above)\b", question) is not None
                slots["age_over" if over else "age_under"] = lim
                chk = yes_no_check(tuple(f.id for f in faces if (f.age > lim if over else f.age < lim)))
            elif family == "anyone_gender":
                g = "female" if re.search(r"\b(?:woman|women|ladies|lady|girls?)\b", question) else "male"
                slots["gender"] = g
                chk = yes_no_check(tuple(f.id for f in faces if f.gender.label == g))
            elif family == "count_yesno":
                chk = count_yes_no(question, n)
            elif family == "pronoun_yesno":  # a pronoun with nothing said before: only a one-face photo can be meant
                slots["emotion"] = label
                if n == 1:
                    ids = (1,)
                    chk = yes_no_check(ids if faces[0].emotion.label == label else (), ids)
                else:
                    ids = ()
                    chk = lambda r: starts(r.text, "I can't tell") and not r.faces  # noqa: E731
            elif family == "anyone_child":
                chk = yes_no_check(tuple(f.id for f in faces if f.age_group in ("0-9", "10-19")))
            elif family == "who_looks":
                slots["emotion"] = label
                h = hits(label)
                chk = ids_check(h) if h else (lambda r: starts(r.text, "No one", "Nobody", "No"))
            elif family == "presence":
                name = fill["name"]
                slots["name"] = name
                chk = yes_no_check(tuple(f.id for f in faces if f.identity.name == name))
            elif family == "person_is_name":  # "is the one on the left Alice?"
                chk = yes_no_check(ids if scene.face(ids[0]).identity.name == fill["name"] else (), ids)
            elif family in ("person_is_stranger", "presence_stranger_more"):
                slots.pop("person", None)  # nobody enrolled that name: the answer says so, about no one
                slots["name"] = fill["stranger"]
                chk = lambda r: starts(r.text, "I can't tell") and "not in the gallery" in r.text  # noqa: E731
            elif family == "presence_stranger":
                slots["name"] = fill["stranger"]
                chk = lambda r: starts(r.text, "I can't tell") and "not in the gallery" in r.text  # noqa: E731
            elif family == "identify_all":
                chk = lambda r, a=all_ids: (  # noqa: E731
                    tuple(r.faces) == a and all(f.identity.name in r.text for f in faces if f.identity.known)
                )
            elif family == "person_emotion":
                chk = lambda r, i=ids: (  # noqa: E731
                    tuple(r.faces) == i and EMOTION_ADJECTIVES[scene.face(i[0]).emotion.label] in r.text
                )
            elif family == "person_emotion_yesno":
                slots["emotion"] = label
                chk = yes_no_check(ids if scene.face(ids[0]).emotion.label == label else (), ids)
            elif family == "person_age":
                chk = lambda r, i=ids: tuple(r.faces) == i and f"about {scene.face(i[0]).age:.0f}" in r.text  # noqa: E731
            elif family == "person_gender":
                g = scene.face(ids[0]).gender.label
                asked = re.findall(r"\b(female|woman|girl|lady|male|man|guy|boy)\b", question)
                if " or " not in question and asked and question.startswith(("is ", "does ", "tell me if")):
                    want = "female" if asked[-1] in ("female", "woman", "girl", "lady") else "male"
                    chk = yes_no_check(ids if want == g else (), ids)
                else:
                    chk = lambda r, i=ids, g=g: tuple(r.faces) == i and re.search(rf"\b{g}\b", r.text) is not None  # noqa: E731
            elif family == "person_clothing":
                chk = lambda r, i=ids: tuple(r.faces) == i and scene.face(i[0]).appearance.clothing_colour in r.text  # noqa: E731
            elif family in ("person_who", "person_where", "describe_person"):
                chk = ids_check(ids)
            elif family == "describe_all":
                chk = ids_check(all_ids)
            elif family == "json":
                chk = lambda r, a=all_ids: r.text.lstrip().startswith("[") and tuple(r.faces) == a  # noqa: E731
            elif family == "compare":
                same = persons[1] == persons[2]
                slots["person"] = (1, 2)
                chk = lambda r, s=same: (  # noqa: E731
                    tuple(r.faces) == (1, 2) and (("same person" in r.text) if s else ("different people" in r.text))
                )
            elif family == "compound_sup_age":
                slots["superlative"] = key
                b = scene.face(best_face(faces, key))
                chk = lambda r, b=b: tuple(r.faces) == (b.id,) and f"about {b.age:.0f}" in r.text  # noqa: E731
            elif family == "compound_count_sup":
                slots["superlative"] = key
                best = best_face(faces, key)
                chk = lambda r, b=best: re.search(rf"\b{n} (?:people|person)\b", r.text) is not None and b in r.faces  # noqa: E731
            elif family == "transcript":
                chk = lambda r: "audio" in r.text.lower() and "can't answer that offline" not in r.text  # noqa: E731
            elif family == "beyond":
                chk = lambda r: "can't answer that offline" in r.text  # noqa: E731
            elif family == "race":
                slots.pop("person", None)  # race is declined, whoever it is about
                chk = lambda r: "don't infer race" in r.text  # noqa: E731
            else:
                raise ValueError(f"unknown family {family} in questions_{split}.yaml")
            yes_no = family in YES_NO_FAMILIES or (family == "person_gender" and getattr(chk, "yes_no", False))
            intent = (
                "ask_referent" if family == "pronoun_yesno" and n > 1 else INTENTS[family]
            )  # the honest reply asks who
            out.append(Case(family, question, intent, slots, ids if family in PERSON_FAMILIES else None, yes_no, chk))
    return out


@dataclass
class Tally:
    """The running counts of one paraphrase evaluation (:func:`_score` adds each case, ``to_dict`` reports)."""

    total: int = 0  # questions asked
    intent: int = 0  # of them, answered with the expected intent
    slot_total: int = 0  # questions with expected slots
    slot: int = 0  # of them, understood with those slots
    consistent: int = 0  # replies the case's check accepts
    yes_no_total: int = 0  # yes/no questions
    yes_no_form: int = 0  # of them, answered "Yes", "No" or "I can't tell"
    wrong_person: int = 0  # person questions answered citing other faces than the one asked about
    bare_counts: int = 0  # a count asked with a condition answered with the whole head count
    understood: int = 0  # replies that carry an Understanding (the old keyword planner's carry none)
    # checks that raised on a reply (a fault of the check, or a malformed reply): not consistent
    checker_errors: int = 0
    by_family: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        r = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
        return {
            "questions": self.total,
            "intent_accuracy": r(self.intent, self.total),
            "slot_accuracy": r(self.slot, self.slot_total) if self.understood else None,
            "consistent": r(self.consistent, self.total),
            "yes_no_form": r(self.yes_no_form, self.yes_no_total),
            "yes_no_questions": self.yes_no_total,
            "wrong_person": self.wrong_person,
            "bare_counts": self.bare_counts,
            "by_family": {k: {"consistent": c, "total": t} for k, (c, t) in sorted(self.by_family.items())},
            "failures": self.failures[:200],
            **({"checker_errors": self.checker_errors} if self.checker_errors else {}),  # only when a check raised
        }


def _slots_match(expected: dict, understood: Any) -> bool:
    got = getattr(understood, "slots", None)
    if got is None:
        return False
    return all(got.get(k) == v for k, v in expected.items())


def evaluate_planner(
    split: str = "heldout", quick: bool = False, scenes: int | None = None, seed: int = 0, answer_fn: Any = None
) -> dict:
    """The paraphrase evaluation as a metrics dict (``facelens eval planner`` and the eval suite use it).

    Args:
        split: "tune", "tune2", "tune3", "tune4", "heldout" or "both" (every split, one dict each under "splits").
        quick: 2 scenes instead of 5.
        scenes: number of generated scenes (overrides ``quick``); scene k has SCENE_SIZES[k % 5] faces.
        answer_fn: the planner to measure (default: ``planner.answer``), for before/after comparisons.
    """
    if split == "both":
        parts = {s: evaluate_planner(s, quick, scenes, seed, answer_fn) for s in SPLITS}
        return {"splits": parts, "targets": TARGETS}
    n_scenes = scenes if scenes is not None else (2 if quick else 5)
    answer_fn = answer_fn or planner.answer
    tally = Tally()
    for si in range(n_scenes):
        rng = random.Random(f"{split}-{seed}-{si}")
        scene, persons = make_scene(SCENE_SIZES[si % len(SCENE_SIZES)], rng)
        known = set(GALLERY)
        for case in build_cases(split, scene, persons, rng):
            box = SyntheticBox(scene, persons, known)
            reply = answer_fn(case.question, box, planner.PlanState())
            _score(tally, case, reply, si)
    out = tally.to_dict()
    out.update(split=split, scenes=n_scenes, targets=TARGETS)
    return out


TARGETS = {"intent_accuracy": 0.97, "consistent": 0.97, "yes_no_form": 1.0, "wrong_person": 0, "bare_counts": 0}


def _score(t: Tally, case: Case, reply: Any, si: int) -> None:
    t.total += 1
    got_intent = OLD_INTENTS.get(reply.intent, reply.intent)
    ok_intent = got_intent == case.intent or (case.intent == "anyone" and got_intent == "who_looks")
    t.intent += ok_intent
    t.understood += getattr(reply, "understood", None) is not None
    if case.slots:
        t.slot_total += 1
        t.slot += _slots_match(case.slots, getattr(reply, "understood", None))
    crash = ""
    try:
        ok = bool(case.check(reply))
    except Exception as exc:  # a faulty check (or malformed reply) does not stop the evaluation, but it is logged,
        # counted (checker_errors) and marked in the failures: never passed off silently as an inconsistent answer
        log.warning(
            "the check of [%s] %r raised on the reply %r",
            case.family,
            case.question,
            getattr(reply, "text", reply),
            exc_info=True,
        )
        t.checker_errors += 1
        ok, crash = False, f" CHECK RAISED {type(exc).__name__}: {exc}"
    t.consistent += ok
    fam = t.by_family[case.family]
    fam[0] += ok
    fam[1] += 1
    if case.yes_no:
        t.yes_no_total += 1
        t.yes_no_form += starts(reply.text, "Yes", "No", "I can't tell")
    wrong = case.ids is not None and bool(reply.faces) and set(reply.faces) != set(case.ids)
    t.wrong_person += wrong
    t.bare_counts += case.family in conds.CONDITIONED_COUNTS and conds.is_bare_count(reply.text)
    if not ok or not ok_intent or wrong:
        t.failures.append(
            f"[{case.family}] scene {si}: {case.question!r} -> intent {reply.intent}, faces {tuple(reply.faces)}"
            f"{' WRONG PERSON' if wrong else ''}{crash}: {reply.text[:140]!r}"
        )
