"""Faces turned to the side: answers that judged apparent age or gender on them say so.

The age and gender models learnt from frontal faces; in profile they guess (a man in profile read as a
woman, a schoolboy as 25). The 5 points tell a profile apart: the nose tip lies an eye distance or more
to the side of the eyes' midpoint.
"""

from __future__ import annotations

import pytest

from facelens.agent.assistant import planner
from facelens.eval.questions import SyntheticBox
from facelens.eval.scenes import FAMILY, synthetic_scene
from facelens.tools import align

FRONTAL = [(40.0, 50.0), (80.0, 50.0), (60.0, 70.0), (45.0, 90.0), (75.0, 90.0)]
PROFILE = [(40.0, 50.0), (52.0, 50.0), (20.0, 72.0), (38.0, 90.0), (48.0, 90.0)]  # nose 2.2 eye distances aside


def test_yaw_index_tells_a_profile_from_a_frontal_face():
    assert align.yaw_index(FRONTAL, 100) == pytest.approx(0.0)
    assert align.yaw_index(PROFILE, 100) > align.TURNED_ASIDE
    assert align.turned_aside(PROFILE, 100) and not align.turned_aside(FRONTAL, 100)
    eyes_met = [(50.0, 50.0), (50.0, 50.0), (30.0, 70.0)]  # full profile: the eyes project onto one point
    assert align.yaw_index(eyes_met, 100) == pytest.approx(4.0)  # the eye distance is floored at 5% of the width
    assert not align.turned_aside([], 100)  # no points (a face without landmarks): nothing to say


def ask(question: str, aside: tuple[int, ...]) -> planner.PlannerReply:
    scene = synthetic_scene(FAMILY)
    faces = [
        f.model_copy(update={"landmarks": PROFILE if f.id in aside else FRONTAL, "box": (0, 0, 100, 100)})
        for f in scene.faces
    ]
    scene = scene.model_copy(update={"faces": faces})
    return planner.answer(question, SyntheticBox(scene, {f.id: f"p{f.id}" for f in faces}, set()))


@pytest.mark.parametrize(
    "question", ["how many women are there?", "how many kids?", "is anyone over 60?", "who is the oldest?"]
)
def test_a_group_answer_about_age_or_gender_names_the_faces_turned_aside(question):
    plain = ask(question, ())
    r = ask(question, (2, 4))
    assert (
        r.text
        == plain.text + " (Faces 2 and 4 are turned to the side, so their apparent age and gender are rough guesses.)"
    )


def test_a_person_answer_mentions_only_that_person():
    assert ask("how old is face 2?", (2, 4)).text.endswith(
        "(Face 2 is turned to the side, so its apparent age and gender are rough guesses.)"
    )
    assert "turned to the side" not in ask("how old is face 1?", (2, 4)).text


@pytest.mark.parametrize("question", ["how many people are smiling?", "what is face 2 wearing?", "how many people?"])
def test_questions_not_about_age_or_gender_are_unchanged(question):
    assert ask(question, (2, 4)).text == ask(question, ()).text


def test_the_facts_an_llm_and_the_face_card_are_given_say_it_too():
    from facelens.agent.assistant.answers import apparent_attributes

    f = synthetic_scene(FAMILY).faces[0].model_copy(update={"box": (0, 0, 100, 100)})
    assert apparent_attributes(f.model_copy(update={"landmarks": PROFILE}))[-1] == (
        "face turned to the side, so these are rough guesses"
    )
    assert "turned" not in " ".join(apparent_attributes(f.model_copy(update={"landmarks": FRONTAL})))
