"""The offline planner on real composed multi-person scenes (facelens.eval.scenes.compose)."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.agent.assistant import planner
from facelens.agent.assistant.toolbox import ToolBox
from facelens.eval.planner import evaluate, with_synthetic_emotions
from tests.conftest import save


@pytest.fixture
def group_box(group_jpg):
    path, placed = group_jpg
    box = ToolBox([path], identify=False)
    # strip whatever emotion/age/gender models are installed: these tests pin the "not installed" wording
    scene = box.scene()
    bare = scene.model_copy(
        update={
            "faces": [
                f.model_copy(update={"emotion": None, "age": None, "age_group": None, "gender": None})
                for f in scene.faces
            ]
        }
    )
    box._scenes[box.image_name()] = bare
    return box


@pytest.fixture
def emotional_box(group_box):
    """The example scene with seeded synthetic emotion scores (planner logic, not an emotion model)."""
    name = group_box.image_name()
    group_box._scenes[name] = with_synthetic_emotions(group_box._scenes[name], 7)
    return group_box


def ask(box, q, state=None):
    return planner.answer(q, box, state if state is not None else planner.PlanState())


@pytest.mark.slow
def test_accuracy_on_composed_scenes():
    result = evaluate(n_scenes=4, seed=1)
    print("planner accuracy", result.to_dict()["accuracy"], result.to_dict()["by_family"])
    assert result.detection_ok == 4, result.failures
    assert result.accuracy >= 0.95, result.failures


@pytest.mark.parametrize(
    "question, faces",
    [
        ("who is on the far left?", (1,)),
        ("what is the person second from the right wearing?", (3,)),
        ("how does the one in red look?", (2,)),
        ("what is the woman in the yellow jacket feeling?", (4,)),
        ("tell me about face 3", (3,)),
        ("what is the middle person feeling?", (2, 3)),
        ("who is the rightmost person?", (4,)),
    ],
)
def test_referring_expressions(group_box, question, faces):
    assert ask(group_box, question).faces == faces


def test_per_person_answer_cites_number_position_and_clothing(group_box):
    text = ask(group_box, "what is the person in green wearing?").text
    assert text.startswith("Face 3 (second from right, green clothing)")


def test_count(group_box):
    r = ask(group_box, "How many people are there?")
    assert "I count 4 people" in r.text and r.faces == (1, 2, 3, 4)
    assert ask(group_box, "how many people are wearing blue?").text.startswith("1 of the 4 people is wearing blue")


def test_missing_emotion_model_is_said_plainly(group_box):
    for q in ("who looks happiest?", "how many people look happy?", "what is the person on the left feeling?"):
        assert "emotion model is not installed" in ask(group_box, q).text, q
    assert "age/gender model is not installed" in ask(group_box, "how old is face 1?").text


def test_emotion_families_with_scores(emotional_box):
    scene = emotional_box.scene()
    happiest = max(scene.faces, key=lambda f: f.emotion.scores["happy"])
    r = ask(emotional_box, "who looks happiest?")
    assert r.faces == (happiest.id,) and r.text.startswith(f"Face {happiest.id} (")
    r = ask(emotional_box, "what is the person on the far left feeling?")
    label = scene.face(1).emotion
    assert "looks " in r.text and f"{label.confidence:.0%}" in r.text


def test_follow_ups_resolve_against_the_previous_answer(group_box):
    state = planner.PlanState()
    assert ask(group_box, "what is the person on the far left feeling?", state).faces == (1,)
    assert ask(group_box, "and the person next to her?", state).faces == (2,)
    assert ask(group_box, "is she the one in red?", state).text.startswith("Yes")
    assert ask(group_box, "is she the one in green?", state).text.startswith("No")


def test_compare_faces_by_embedding(group_box):
    # faces 2 and 4 are the astronaut (one mirrored); 1 and 2 are different people
    assert "same person" in ask(group_box, "are face 2 and face 4 the same person?").text
    assert "different people" in ask(group_box, "is the person in blue the same as the person in red?").text
    names = [c.name for c in group_box.calls]
    assert "compare_faces" in names


def test_describe_everyone_and_json(group_box):
    r = ask(group_box, "describe everyone")
    assert r.text.startswith("I see 4 people") and r.faces == (1, 2, 3, 4)
    import json

    data = json.loads(ask(group_box, "describe everyone as JSON").text)
    assert [d["clothing"] for d in data] == ["blue", "red", "green", "yellow"]


def test_race_is_declined_and_the_rest_answered(group_box):
    r = ask(group_box, "what race is the person in green and how many people are there?")
    assert r.text.startswith("I don't infer race or ethnicity") and "I count 4 people" in r.text
    only = ask(group_box, "what ethnicity is face 1?")
    assert "don't infer race" in only.text and not only.faces


def test_beyond_scope_says_how_to_configure_an_llm(group_box):
    text = ask(group_box, "what is the weather like?").text
    assert "can't answer that offline" in text and "OPENAI_API_KEY" in text and "FACELENS_LOCAL_MODEL" in text


def test_the_planner_writes_its_sentences_without_prompt_templates(group_box, monkeypatch: pytest.MonkeyPatch):
    """The rule for prose (ARCHITECTURE.md): prompts/ holds what a model reads; the offline planner's sentences are code."""
    from facelens import prompts

    def no_render(*args: object, **kw: object) -> str:
        raise AssertionError(f"the offline planner rendered the prompt template {args}")

    monkeypatch.setattr(prompts, "render", no_render)
    for q in (
        "what race is face 1?",
        "what is the weather like?",
        "how is face 2 feeling?",
        "how old is face 1?",
        "",
        "what is the person in purple feeling?",
        "thanks!",
        "ugh, you keep getting the ages wrong",
        "I don't understand",
        "what was said in the audio?",
        "how many people wear glasses?",
        "what's going on here?",
        "who looks happiest?",
    ):
        assert ask(group_box, q).text


def test_unknown_face_and_nobody_matching(group_box):
    assert "no face 9" in ask(group_box, "what is face 9 feeling?").text
    r = ask(group_box, "what is the person in purple feeling?")
    assert r.faces == () and "couldn't find" in r.text


def test_no_faces(tmp_path):
    path = save(np.full((200, 300, 3), 180, np.uint8), tmp_path / "blank.png", "PNG")
    r = ask(ToolBox([path], identify=False), "who looks happiest?")
    assert r.text.startswith("I found no faces in blank.png")


def test_presence_needs_enrollment(group_box):
    text = ask(group_box, "is Alice in this picture?").text
    assert text.startswith("I can't tell: Alice is not in the gallery") and "facelens enroll Alice" in text


def test_presence_with_gallery(group_jpg, hopper_jpg):
    identity = pytest.importorskip("facelens.tools.identity")
    identity.enroll("Grace", [hopper_jpg])
    box = ToolBox([group_jpg[0]])
    r = ask(box, "is Grace in this picture?")
    assert r.text.startswith("Yes, Grace is in this picture") and r.faces == (1, 3)
    r = ask(box, "who is on the left?")
    assert "is Grace" in r.text


def test_transcript_question_without_audio(group_box):
    assert "No audio was given" in ask(group_box, "what did they say?").text


def test_who_looks_and_anyone_questions(emotional_box):
    scene = emotional_box.scene()
    label = scene.face(1).emotion.label
    word = {"surprise": "surprised", "fear": "afraid", "disgust": "disgusted"}.get(label, label)
    expected = tuple(f.id for f in scene.faces if f.emotion.label == label)
    for q in (f"who looks {word}?", f"is anyone {word}?"):
        r = ask(emotional_box, q)
        assert r.faces == expected, (q, r.text)
    r = ask(emotional_box, f"does everyone look {word}?")
    assert r.text.startswith("Yes" if len(expected) == 4 else "No")
