"""Age and gender heads on the dlib embedding: the shipped model on public-domain faces."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from facelens.tools import attributes, faces
from facelens.tools.errors import InputError, ModelError
from facelens.tools.schema import AGE_GROUPS, GenderEstimate
from tests.conftest import shared_data


def _vec(rgb: np.ndarray) -> np.ndarray:
    found, vecs = faces.find_faces(rgb, "hog")
    assert len(found) == 1
    return vecs


def test_shipped_model_loads():
    assert attributes.available()
    assert attributes.model_version().startswith("utk-linear-")
    assert attributes.fused() == ("-fused-" in attributes.model_version())


def test_hopper_is_an_older_woman(hopper):
    # Grace Hopper was in her late 70s in this US Navy portrait
    [(age, group, gender)] = attributes.predict(_vec(hopper))
    assert isinstance(gender, GenderEstimate)
    assert gender.label == "female" and 0.5 <= gender.score <= 1.0
    assert group in ("40-59", "60+") and age >= 40


def test_astronaut_is_an_adult_woman(astronaut):
    [(age, group, gender)] = attributes.predict(_vec(astronaut))
    assert gender.label == "female"
    assert group in ("20-39", "40-59") and 20 <= age < 60


def test_age_stays_inside_its_group(astronaut, hopper):
    rng = np.random.default_rng(0)
    vecs = np.vstack([_vec(astronaut), _vec(hopper), rng.normal(0, 0.1, (20, 128)).astype(np.float32)])
    for age, group, gender in attributes.predict(vecs):
        lo, hi = attributes.GROUP_RANGES[group]
        assert group in AGE_GROUPS and lo <= age <= hi
        assert gender.label in ("female", "male")


def test_empty_batch_and_single_vector():
    assert attributes.predict(np.zeros((0, 128), np.float32)) == []
    assert len(attributes.predict(np.zeros(128, np.float32))) == 1


@pytest.mark.parametrize("bad", [np.zeros((2, 64)), np.zeros((2, 128, 1)), np.full((1, 128), np.nan), "text"])
def test_bad_embeddings_are_input_errors(bad):
    with pytest.raises(InputError):
        attributes.predict(bad)


def test_missing_or_corrupt_model_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "nope.npz"
    monkeypatch.setattr(attributes, "model_path", lambda: missing)
    attributes._weights.cache_clear()
    try:
        assert not attributes.available()
        with pytest.raises(ModelError, match="not found"):
            attributes.predict(np.zeros((1, 128), np.float32))
        missing.write_bytes(b"not an npz file")
        with pytest.raises(ModelError, match="unreadable"):
            attributes.predict(np.zeros((1, 128), np.float32))
    finally:
        attributes._weights.cache_clear()


def test_analysis_carries_age_and_gender(group_jpg):
    from facelens.tools.scene import analyze_image

    path, placed = group_jpg
    scene = analyze_image(path, identify=False)
    assert len(scene.faces) == len(placed)
    for f in scene.faces:
        assert f.age is not None and f.age_group in AGE_GROUPS
        assert f.gender is not None and f.gender.label == "female"  # all four are women
    assert "age_gender" in scene.timings_ms


@pytest.mark.slow
@pytest.mark.shared_data
def test_utkface_val_sample_meets_targets(tmp_path):
    """120 UTKFace val images through the full pipeline: detect -> embed -> heads."""
    from facelens.eval.models import evaluate_attributes

    val = shared_data("utkface", "val")
    with open(val / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:120]
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "age", "gender"])
        w.writeheader()
        for r in rows:
            os.symlink(val / r["file"], tmp_path / r["file"])
            w.writerow({k: r[k] for k in ("file", "age", "gender")})
    res = evaluate_attributes(tmp_path)
    assert res.n == 120
    assert res.gender_accuracy >= 0.85
    assert res.age_group_accuracy >= 0.6
    assert res.age_mae is not None and res.age_mae < 10
