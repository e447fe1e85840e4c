"""Accuracy of the offline planner on composed multi-person scenes with known answers.

Scenes come from ``facelens.eval.scenes.compose`` (the smiling astronaut and Grace Hopper, some
mirrored, in painted shirts), so positions, clothing colours and identities are known exactly. The
whole pipeline runs for real (detection, landmarks, embeddings, clothing colour, planner). The
emotion model may not be installed, so each scene also gets seeded synthetic emotion scores
(``model="synthetic-eval"``) to test the emotion question families of the planner itself; they test
the planner's logic, not an emotion model. Every question has a checker over the planner's reply.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facelens.agent.assistant import planner
from facelens.agent.assistant.toolbox import ToolBox
from facelens.tools.schema import EMOTIONS, EmotionEstimate, SceneAnalysis

SHIRTS = ("red", "blue", "green", "yellow", "purple", "orange", "black", "white")


@dataclass(frozen=True)
class Case:
    family: str
    question: str
    check: Callable[[planner.PlannerReply], bool]
    follow_up_of: str | None = None  # asked right after this question, in the same conversation


@dataclass
class EvalResult:
    scenes: int
    questions: int
    correct: int
    by_family: dict[str, tuple[int, int]] = field(default_factory=dict)  # family -> (correct, total)
    failures: list[str] = field(default_factory=list)
    detection_ok: int = 0  # scenes where every person was found

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.questions)

    def to_dict(self) -> dict:
        return {
            "scenes": self.scenes,
            "questions": self.questions,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "detection_ok": self.detection_ok,
            "by_family": {k: {"correct": c, "total": t} for k, (c, t) in sorted(self.by_family.items())},
            "failures": self.failures,
        }


def scene_specs(n_scenes: int, seed: int = 0) -> list[list[tuple[str, str, bool]]]:
    """(who, shirt, mirror) per person, 2-5 people per scene, distinct shirt colours."""
    rng = random.Random(seed)
    out = []
    for i in range(n_scenes):
        k = 2 + i % 4
        shirts = rng.sample(SHIRTS[:6], k)  # the clearly chromatic colours
        out.append([(rng.choice(("astronaut", "hopper")), s, rng.random() < 0.5) for s in shirts])
    return out


def with_synthetic_emotions(scene: SceneAnalysis, seed: int) -> SceneAnalysis:
    rng = random.Random(seed)
    faces = []
    for f in scene.faces:
        raw = [rng.random() ** 3 for _ in EMOTIONS]
        top = rng.randrange(len(EMOTIONS))
        raw[top] += 1.5
        total = sum(raw)
        scores = {e: round(v / total, 4) for e, v in zip(EMOTIONS, raw)}
        label = max(scores, key=scores.get)
        faces.append(
            f.model_copy(update={"emotion": EmotionEstimate(label=label, scores=scores, model="synthetic-eval")})
        )
    return scene.model_copy(update={"faces": faces})


def _ids(expected: tuple[int, ...]) -> Callable[[planner.PlannerReply], bool]:
    return lambda r: tuple(r.faces) == tuple(expected)


def _has(pattern: str, ids: tuple[int, ...] | None = None) -> Callable[[planner.PlannerReply], bool]:
    return lambda r: bool(re.search(pattern, r.text, re.I)) and (ids is None or tuple(r.faces) == tuple(ids))


def _count_of(k: int) -> Callable[[planner.PlannerReply], bool]:
    """The reply gives the right count: "None of ..." is right only when the count is 0 (issue 17 point 8)."""
    return _has(r"^(?:None of|No one|Nobody)\b") if k == 0 else _has(rf"^{k} of\b")


def cases(people: list[tuple[str, str, bool]], scene: SceneAnalysis) -> list[Case]:
    n = len(people)
    who = [p[0] for p in people]
    shirt = [p[1] for p in people]
    out = [
        Case("count", "How many people are in this photo?", _has(rf"\bI count {n} people\b")),
        Case("position", "Who is on the far left?", _ids((1,))),
        Case("position", "what is the person on the right wearing?", _has(rf"is wearing {shirt[-1]}", (n,))),
        Case("position", "How does the second person from the right look?", _ids((n - 1,))),
        Case("position", "what is the middle person feeling?", _ids((n // 2 + 1,) if n % 2 else (n // 2, n // 2 + 1))),
        Case("face_number", f"describe face {n}", _ids((n,))),
        Case("face_number", "what is face 9 feeling?", _has(r"no face 9")),
        Case(
            "largest",
            "what is the closest person feeling?",
            _ids((min(scene.faces, key=lambda f: f.position.size_rank).id,)),
        ),
        Case("json", "describe everyone as JSON", lambda r: r.text.lstrip().startswith("[") and len(r.faces) == n),
        Case("describe", "describe everyone", _has(rf"I see {n} people", tuple(range(1, n + 1)))),
        Case("beyond", "what is the weather like?", _has(r"can't answer that offline")),
        Case(
            "race",
            "what ethnicity are they and how many people are there?",
            _has(rf"don't infer race.*I count {n} people"),
        ),
    ]
    for i in (0, n - 1):
        out.append(Case("colour", f"what is the person in {shirt[i]} feeling?", _ids((i + 1,))))
        out.append(Case("colour", f"how is the woman wearing the {shirt[i]} shirt feeling?", _ids((i + 1,))))
    out.append(Case("count_colour", f"how many people are wearing {shirt[0]}?", _has(r"^1 of", (1,))))
    same = who[0] == who[-1]
    out.append(
        Case(
            "compare",
            "is the person on the left the same as the one on the right?",
            _has(r"same person" if same else r"different people", (1, n)),
        )
    )
    out.append(
        Case(
            "compare",
            "are face 1 and face 2 the same person?",
            _has(r"same person" if who[0] == who[1] else r"different people", (1, 2)),
        )
    )
    # emotion families (synthetic scores)
    emo = {f.id: f.emotion for f in scene.faces}
    happiest = max(emo, key=lambda i: emo[i].scores["happy"])
    out.append(Case("superlative", "Who looks happiest?", _ids((happiest,))))
    surprised = max(emo, key=lambda i: emo[i].scores["surprise"])
    out.append(Case("superlative", "which person looks the most surprised?", _ids((surprised,))))
    n_happy = sum(1 for e in emo.values() if e.label == "happy")
    out.append(Case("count_emotion", "how many people look happy?", _count_of(n_happy)))
    lab = emo[1].label
    out.append(Case("emotion", "what is the person on the far left feeling?", _has(r"looks \w+, \d+%", (1,))))
    out.append(
        Case(
            "follow_up",
            "and the person next to her?",
            _ids((2,)),
            follow_up_of="what is the person on the far left feeling?",
        )
    )
    out.append(
        Case("follow_up", f"is she the one in {shirt[0]}?", _has(r"^Yes", (1,)), follow_up_of="who is on the far left?")
    )
    out.append(
        Case("follow_up", f"is she the one in {shirt[1]}?", _has(r"^No", (1,)), follow_up_of="who is on the far left?")
    )
    out.append(
        Case("yes_no_emotion", f"is the person on the left {'happy' if lab != 'happy' else 'sad'}?", _has(r"^No", (1,)))
    )
    return out + paraphrases(people, scene)


def paraphrases(people: list[tuple[str, str, bool]], scene: SceneAnalysis) -> list[Case]:
    """Other wordings of the same families (written after the planner, to catch over-fitting)."""
    n = len(people)
    who = [p[0] for p in people]
    shirt = [p[1] for p in people]
    emo = {f.id: f.emotion for f in scene.faces}
    happiest = max(emo, key=lambda i: emo[i].scores["happy"])
    saddest = max(emo, key=lambda i: emo[i].scores["sad"])
    n_happy = sum(1 for e in emo.values() if e.label == "happy")
    return [
        Case("count_para", "how many faces can you see?", _has(rf"\bI count {n} people\b")),
        Case("count_para", "Count the people in the picture", _has(rf"\bI count {n} people\b")),
        Case("count_para", "how many persons are there?", _has(rf"\bI count {n} people\b")),
        Case("count_para", "how many people are smiling?", _count_of(n_happy)),
        Case("position_para", "who's in the leftmost position?", _ids((1,))),
        Case("position_para", "tell me about the rightmost person", _ids((n,))),
        Case("position_para", "what about the person furthest to the right?", _ids((n,))),
        Case("position_para", "the 2nd person from the left - how do they look?", _ids((2,))),
        Case("colour_para", f"what's the mood of the guy in {shirt[0]}?", _ids((1,))),
        Case("colour_para", f"what emotion does the person wearing {shirt[-1]} show?", _ids((n,))),
        Case("colour_para", f"how is the lady dressed in {shirt[-1]} feeling?", _ids((n,))),
        Case("superlative_para", "who seems the happiest here?", _ids((happiest,))),
        Case("superlative_para", "who has the biggest smile?", _ids((happiest,))),
        Case("superlative_para", "which face is the saddest?", _ids((saddest,))),
        Case("who_looks", "who looks happy?", _ids(tuple(i for i, e in sorted(emo.items()) if e.label == "happy"))),
        Case("who_looks", "is anyone smiling?", _ids(tuple(i for i, e in sorted(emo.items()) if e.label == "happy"))),
        Case(
            "compare_para",
            f"is the person in {shirt[0]} the same as the person in {shirt[1]}?",
            _has(r"same person" if who[0] == who[1] else r"different people", (1, 2)),
        ),
        Case(
            "compare_para",
            "do face 1 and face 2 look like the same person?",
            _has(r"same person" if who[0] == who[1] else r"different people", (1, 2)),
        ),
        Case(
            "multi_part",
            "how many people are there and who looks happiest?",
            _has(rf"I count {n} people.*looks happiest", (happiest,)),
        ),
        Case("next_to", f"who is next to the person in {shirt[0]}?", _ids((2,))),
        Case(
            "compare_para",
            f"does the person in {shirt[-1]} look like the person in {shirt[0]}?",
            _has(r"same person" if who[0] == who[-1] else r"different people"),
        ),
        Case(
            "compare_para",
            "compare the two people on the left",
            _has(r"same person" if who[0] == who[1] else r"different people", (1, 2)),
        ),
        Case(
            "json_para", "give me a JSON of everyone", lambda r: r.text.lstrip().startswith("[") and len(r.faces) == n
        ),
        Case("face_number_para", "tell me about person number 2", _ids((2,))),
        Case("face_number_para", "what's going on with face 2?", _ids((2,))),
    ]


def evaluate(
    n_scenes: int = 12, seed: int = 0, detector: str = "hog", progress: Callable[[str], None] | None = None
) -> EvalResult:
    """Run every case on ``n_scenes`` composed scenes."""
    from PIL import Image

    from facelens.eval import scenes as samples

    result = EvalResult(scenes=n_scenes, questions=0, correct=0)
    fam: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with tempfile.TemporaryDirectory() as tmp:
        for si, people in enumerate(scene_specs(n_scenes, seed)):
            rgb, _placed = samples.compose([samples.Person(w, s, m) for w, s, m in people])
            path = Path(tmp) / f"scene{si}.jpg"
            Image.fromarray(rgb).save(path, quality=92)
            box = ToolBox([path], detector=detector, identify=False)
            real = box.scene()
            if len(real.faces) != len(people):
                result.failures.append(f"scene {si}: found {len(real.faces)} faces, expected {len(people)}")
                continue
            result.detection_ok += 1
            scene = with_synthetic_emotions(real, seed * 1000 + si)
            box._scenes[box.image_name()] = scene  # the synthetic emotions (see the module docstring)
            for case in cases(people, scene):
                state = planner.PlanState()
                if case.follow_up_of:
                    planner.answer(case.follow_up_of, box, state)
                reply = planner.answer(case.question, box, state)
                ok = bool(case.check(reply))
                fam[case.family][0] += ok
                fam[case.family][1] += 1
                result.questions += 1
                result.correct += ok
                if not ok:
                    result.failures.append(
                        f"scene {si} {[p[:2] for p in people]}: {case.question!r} -> {reply.text[:160]!r} faces={reply.faces}"
                    )
            if progress:
                progress(f"scene {si + 1}/{n_scenes}: {result.correct}/{result.questions}")
    result.by_family = {k: (v[0], v[1]) for k, v in fam.items()}
    return result
