"""Issue 23: clothing colour in answers. A person wears a colour when it is a substantial part of their garment (not only
its main colour), and an unsure colour is said with a hedge, never as a fact. Asked about generated scenes with known
clothing (:func:`facelens.eval.scenes.synthetic_scene`)."""

from __future__ import annotations

from facelens.agent.assistant import conditions, planner
from facelens.eval.questions import SyntheticBox
from facelens.eval.scenes import FAMILY, synthetic_scene
from facelens.tools import appearance

FATHER, MOTHER, GIRL, TEEN, GRANNY = 1, 2, 3, 4, 5


def ask(question: str, **clothes: dict) -> planner.PlannerReply:
    """Ask about the family, with face ``f<N>``'s appearance fields replaced by ``clothes["f<N>"]``."""
    scene = synthetic_scene(FAMILY)
    faces = [
        f.model_copy(update={"appearance": f.appearance.model_copy(update=clothes.get(f"f{f.id}", {}))})
        for f in scene.faces
    ]
    scene = scene.model_copy(update={"faces": faces})
    box = SyntheticBox(scene, {f.id: f"p{f.id}" for f in scene.faces}, {"Scarlett"})
    return planner.answer(question, box, planner.PlanState())


# the father's jacket is black over a red shirt: red covers a substantial part of his torso
RED_UNDER_BLACK = {"f1": {"clothing_colour": "black", "clothing_other_colour": "red", "clothing_confidence": 0.6}}


def test_a_second_colour_counts_in_how_many_wear():
    r = ask("how many people are wearing red?", **RED_UNDER_BLACK)
    assert r.text.startswith("1 of the 5") and r.faces == (FATHER,)
    assert "red in part" in r.text  # said beside the label that names his main colour


def test_a_second_colour_counts_in_is_anyone_wearing():
    r = ask("is anyone wearing red?", **RED_UNDER_BLACK)
    assert r.text.startswith("Yes") and r.faces == (FATHER,)
    assert ask("is anyone wearing red?").text.startswith("No")  # nobody has red at all


def test_the_main_colour_still_comes_first_in_who_is_wearing():
    # the girl's top is pink; the granny wears green with some pink: "the one in pink" is the girl
    r = ask("who is wearing pink?", f5={"clothing_other_colour": "pink"})
    assert GIRL in r.faces
    r = ask("is the woman in pink smiling?", f5={"clothing_other_colour": "pink"})
    assert r.faces == (GIRL,)


def test_wears_reads_the_main_and_the_second_colour():
    face = synthetic_scene(FAMILY).faces[0]
    assert conditions.wears(face, "blue") and not conditions.wears(face, "red")
    mixed = face.model_copy(update={"appearance": face.appearance.model_copy(update={"clothing_other_colour": "red"})})
    assert conditions.wears(mixed, "red") and conditions.in_part(mixed, "red") == ", red in part"
    assert conditions.in_part(mixed, "blue") == "" and conditions.in_part(mixed, None) == ""


def test_an_unsure_colour_is_said_with_a_hedge():
    low = appearance.SURE_FROM - 0.1
    r = ask("what colour is the man on the far left wearing?", f1={"clothing_confidence": low})
    assert r.faces == (FATHER,) and "not sure" in r.text and "blue" in r.text


def test_a_sure_colour_is_said_plainly_with_the_garment_when_known():
    update = {"clothing_confidence": 0.8, "clothing_garment": "top", "clothing_other_colour": "white"}
    r = ask("what colour is the man on the far left wearing?", f1=update)
    assert "is wearing a blue top, with some white" in r.text and "not sure" not in r.text
    r = ask("what colour is the man on the far left wearing?", f1={"clothing_confidence": 0.8})
    assert "is wearing blue." in r.text  # no garment named where it could not tell


def test_clothing_out_of_frame_says_so():
    r = ask("what colour is the man on the far left wearing?", f1={"clothing_colour": None})
    assert "out of frame" in r.text
