"""wild-photos (eval/wild_photos.py): the question files, the strict judge, the held-out pin, the CLI and
the suite domain. Tests that read the photos skip where ../shared/data is absent."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from facelens.eval import wild_photos as w
from facelens.eval.suite import DEFAULT_DATA
from facelens.eval.wild_photos import Question, judge
from facelens.tools.errors import ConfigError, InputError, NotFoundError

needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA / "wider/boxes.json").exists(), reason=f"no research data at {DEFAULT_DATA}"
)

FACES = {1: (100.0, 100.0, 50.0, 60.0), 2: (300.0, 110.0, 50.0, 60.0), 3: (500.0, 90.0, 50.0, 60.0)}
NEAR_1 = (105.0, 110.0, 45.0, 45.0)  # a detector's tighter box on face 1 (IoU about 0.68)
NEAR_3 = (505.0, 100.0, 45.0, 45.0)


def q(**kw) -> Question:
    return Question(q="?", kind=kw.pop("kind", "count"), **kw)


# --- the question files -----------------------------------------------------------------------------


def test_question_files_parse_and_are_big_enough():
    tune, held = w.load_split("tune"), w.load_split("heldout")
    photos = tune + held
    assert len(photos) >= 36 and sum(len(p.questions) for p in photos) >= 180
    assert all(len(p.questions) >= 5 for p in photos)
    assert not {p.path for p in tune} & {p.path for p in held}, "a photo is in both splits"
    assert len(held) * 3 >= len(photos) - 1 and len(held) * 3 <= len(photos) + 2, "a third of the PHOTOS is held out"
    for split in (tune, held):
        kinds = Counter(qq.kind for p in split for qq in p.questions)
        assert set(kinds) == set(w.KINDS), f"every kind in every split: {kinds}"
        assert all(qq.form for p in split for qq in p.questions)


def test_the_heldout_file_is_pinned():
    """Never tuned on: an edit must be deliberate (update HELDOUT_SHA256 with a note why)."""
    assert w.heldout_sha256() == w.HELDOUT_SHA256 and w.heldout_pinned()


@needs_data
def test_every_photo_exists_and_every_box_lies_inside_it():
    from PIL import Image

    for p in w.load_split("tune") + w.load_split("heldout"):
        path = DEFAULT_DATA / p.path
        assert path.is_file(), p.path
        with Image.open(path) as im:
            width, height = im.size
        for k, (x, y, bw, bh) in p.faces.items():
            assert x >= -2 and y >= -2 and x + bw <= width + 2 and y + bh <= height + 2, (p.path, k)


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"q": "how many?", "kind": "count"}, "exactly one answer form"),
        ({"q": "how many?", "kind": "count", "count": 2, "yes_no": "yes"}, "exactly one answer form"),
        ({"q": "how many?", "kind": "headcount", "count": 2}, "kind"),
        ({"kind": "count", "count": 2}, "q"),
        ({"q": "what colour?", "kind": "colour", "colour": "mauve", "face": 1}, "malformed"),
        ({"q": "what colour?", "kind": "colour", "colour": "red"}, "malformed"),
        ({"q": "how many?", "kind": "count", "count": -1}, "malformed"),
        ({"q": "man or woman?", "kind": "gender", "gender": "other", "face": 1}, "malformed"),
    ],
)
def test_a_malformed_question_is_a_clear_error(raw, match):
    with pytest.raises(ConfigError, match=match):
        w._question(raw, "test.yaml photo 1")


def test_yaml_booleans_are_read_as_yes_and_no():
    assert w._question({"q": "any?", "kind": "yes_no", "yes_no": True}, "x").yes_no == "yes"
    assert w._question({"q": "any?", "kind": "yes_no", "yes_no": False}, "x").yes_no == "no"


def test_an_unknown_split_is_an_input_error():
    with pytest.raises(InputError, match="tune, heldout"):
        w.load_split("dev")
    with pytest.raises(InputError, match="tune, heldout"):
        w.evaluate("dev", DEFAULT_DATA.parent)


# --- the judge --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, ok",
    [
        ("I count 3 people (detector: fused).", True),
        ("3 of the 5 people look happy: Face 1 ...", True),
        ("Three people.", True),
        ("Face 1 (far left) and two others: 3 people.", False),  # the first number stated is 1
        ("I count 4 people, 3 of them smiling.", False),
        ("There are 3 or 4 people, I'm not sure.", False),  # hedges
        ("How many do you mean?", False),  # asks back
        ("", False),
    ],
)
def test_a_count_must_state_the_right_number_first(text, ok):
    assert judge(q(count=3), text, [], FACES).ok is ok


@pytest.mark.parametrize(
    "text, ok",
    [
        ("None of the 4 people look happy.", True),
        ("No one looks happy.", True),
        ("Nobody.", True),
        ("No.", True),
        ("0 of 4.", True),
        ("1 of the 4 people look happy: Face 2.", False),
    ],
)
def test_a_count_of_zero(text, ok):
    assert judge(q(count=0), text, [], FACES).ok is ok


@pytest.mark.parametrize(
    "truth, text, ok",
    [
        ("yes", "Yes, 2 of the 3 people look happy.", True),
        ("yes", "yes.", True),
        ("yes", "No, nobody looks happy.", False),
        ("yes", "Two of them look happy, so yes.", False),  # must start with yes or no
        ("no", "No, nobody looks over 60.", True),
        ("no", "Nobody looks over 60.", False),  # does not start with No
        ("no", "No... did you mean the person on the left?", False),  # asks back
        ("no", "I can't tell.", False),
    ],
)
def test_a_yes_no_must_start_with_yes_or_no_and_be_true(truth, text, ok):
    assert judge(q(kind="yes_no", yes_no=truth), text, [], FACES).ok is ok


def test_a_yes_no_about_one_person_must_not_cite_another():
    about_1 = q(kind="smile", yes_no="no", face=1)
    assert judge(about_1, "No, Face 1 looks neutral.", [NEAR_1], FACES).ok
    assert judge(about_1, "No.", [], FACES).ok
    assert not judge(about_1, "No, Face 3 looks neutral.", [NEAR_3], FACES).ok


@pytest.mark.parametrize(
    "text, boxes, ok",
    [
        ("Face 1 (far left, blue clothing) is wearing blue.", [NEAR_1], True),
        ("Face 1 is wearing navy.", [NEAR_1], True),  # a synonym
        ("Face 1 is wearing light blue with white stripes.", [NEAR_1], True),  # the first colour named
        ("Face 3 is wearing blue.", [NEAR_3], False),  # the wrong person
        ("Face 1 or Face 3: blue.", [NEAR_1, NEAR_3], False),  # two people: a hedge between faces
        ("Face 1 is wearing black.", [NEAR_1], False),
        ("Face 1 is wearing blue.", [], False),  # cites nobody
        ("Which person do you mean?", [], False),
    ],
)
def test_a_colour_must_be_the_true_one_for_the_right_person(text, boxes, ok):
    assert judge(q(kind="colour", colour="blue", face=1), text, boxes, FACES).ok is ok


@pytest.mark.parametrize(
    "text, ok",
    [
        ("Face 3 looks like a woman to the gender model (92%).", True),
        ("Face 3: female, 80%.", True),
        ("Face 3 looks like a man.", False),
    ],
)
def test_a_gender_answer(text, ok):
    assert judge(q(kind="gender", gender="female", face=3), text, [NEAR_3], FACES).ok is ok


def test_a_who_answer_must_cite_exactly_the_true_faces_by_box():
    who = q(kind="smile", faces=(1, 3))
    assert judge(who, "Face 1 and Face 3 look happy.", [NEAR_1, NEAR_3], FACES).ok
    assert judge(who, "Face 3 and Face 1.", [NEAR_3, NEAR_1], FACES).ok  # order does not matter
    assert not judge(who, "Face 1 looks happy.", [NEAR_1], FACES).ok  # one missing
    assert not judge(who, "Faces 1, 2 and 3.", [NEAR_1, FACES[2], NEAR_3], FACES).ok  # one too many
    assert not judge(who, "Face 1 and a face nobody marked.", [NEAR_1, (800.0, 100.0, 50.0, 50.0)], FACES).ok
    far_left = q(kind="position", faces=(1,))
    assert judge(far_left, "That is Face 1 (far left); nobody is enrolled, so I can't name them.", [NEAR_1], FACES).ok
    assert not judge(far_left, "That is Face 1 (far left).", [(160.0, 100.0, 50.0, 60.0)], FACES).ok  # IoU < 0.3
    nobody = q(kind="smile", faces=())
    assert judge(nobody, "No one looks happy.", [], FACES).ok
    assert not judge(nobody, "Face 2 looks happy.", [FACES[2]], FACES).ok


def test_iou():
    assert w.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert w.iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert w.iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


# --- running ----------------------------------------------------------------------------------------


def _perfect(photos):
    """An answer function that answers every question truly (from the truth itself)."""
    by_path = {p.path: p for p in photos}

    def answer(path: Path, questions):
        p = next(v for k, v in by_path.items() if str(path).endswith(k))
        out = []
        for qq in p.questions:
            boxes = [p.faces[qq.face]] if qq.face is not None and qq.yes_no is None else []
            if qq.count is not None:
                out.append((f"{qq.count} people.", []))
            elif qq.yes_no is not None:
                out.append((qq.yes_no.capitalize() + ".", []))
            elif qq.colour is not None:
                out.append((f"That person is wearing {qq.colour}.", boxes))
            elif qq.gender is not None:
                out.append((f"A {'woman' if qq.gender == 'female' else 'man'}.", boxes))
            else:
                out.append(("These ones." if qq.faces else "No one.", [p.faces[k] for k in qq.faces]))
        assert [qq.q for qq in p.questions] == list(questions)
        return out

    return answer


@needs_data
def test_true_answers_score_one_and_heldout_failures_are_never_kept():
    photos = w.load_split("tune") + w.load_split("heldout")
    r = w.evaluate("both", DEFAULT_DATA, answer_fn=_perfect(photos))
    tune, held = r["splits"]["tune"], r["splits"]["heldout"]
    assert tune["accuracy"] == 1.0 and held["accuracy"] == 1.0 and r["heldout_pinned"]
    assert set(held["by_kind"]) == set(w.KINDS) and "failures" not in held

    def wrong(path, questions):
        return [("I'm not sure.", []) for _ in questions]

    r = w.evaluate("both", DEFAULT_DATA, answer_fn=wrong)
    assert (
        r["splits"]["tune"]["accuracy"] == 0.0
        and len(r["splits"]["tune"]["failures"]) == r["splits"]["tune"]["questions"]
    )
    assert "failures" not in r["splits"]["heldout"]


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="No evaluation data"):
        w.evaluate("tune", tmp_path / "nothing")
    with pytest.raises(NotFoundError, match="missing under"):
        w.evaluate("tune", tmp_path)


@needs_data
def test_the_offline_assistant_answers_a_real_photo():
    """The real path (models included) on one small photo: a man and a woman, both smiling."""
    path = DEFAULT_DATA / "faces/detection/2009_004587.jpg"
    replies = w.ask_offline(path, ["how many people are in this photo?", "who is on the right?"])
    assert len(replies) == 2 and all(isinstance(t, str) and t for t, _ in replies)
    text, boxes = replies[1]
    assert boxes and all(len(b) == 4 for b in boxes), text


@needs_data
def test_cli_json_never_shows_heldout_failures(monkeypatch, capsys):
    from facelens.agent.cli import main

    monkeypatch.setattr(w, "ask_offline", lambda path, questions: [("I'm not sure.", []) for _ in questions])
    assert main(["eval", "wild-photos", "--split", "both", "--json", "--failures"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["tune"]["failures"] and "failures" not in out["splits"]["heldout"]
    assert out["splits"]["heldout"]["accuracy"] == 0.0
    assert main(["eval", "wild-photos", "--split", "heldout", "--failures"]) == 0
    text = capsys.readouterr().out
    assert "never listed" in text and "FAIL" not in text


def test_cli_rejects_an_unknown_split(capsys):
    from facelens.agent.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["eval", "wild-photos", "--split", "dev"])
    assert exc.value.code == 2


# --- the suite domain -------------------------------------------------------------------------------


def test_the_domain_is_registered_out_of_the_quick_gate(tmp_path):
    from facelens.eval import suite

    d = next(d for d in suite.domains() if d.name == "wild-photos")
    assert d.targets["accuracy"] == 0.85 and all(d.targets[f"{k}_accuracy"] == 0.75 for k in w.KINDS)
    assert "not in the quick gate" in d.quick and d.quick_targets == {}
    quick = suite.run_domain(d, DEFAULT_DATA, quick=True)
    assert quick.ok and quick.metrics == {}
    assert suite.run_domain(d, tmp_path, quick=False).skipped  # no data: skipped, not failed
