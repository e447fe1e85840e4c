"""facelens.tools.emotion: the shipped FER-2013 model on public-domain faces, and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facelens.tools import emotion, faces
from facelens.tools.errors import FacelensError, InputError, ModelError
from facelens.tools.schema import EMOTIONS

from .conftest import shared_data


@pytest.fixture(scope="module")
def astronaut_faces(astronaut):
    found, _ = faces.find_faces(astronaut, embeddings=False)
    assert len(found) == 1
    return found


def test_shipped_model_is_available():
    assert emotion.available()
    assert emotion.model_version().startswith("fer2013-")
    assert emotion.input_size() == 48
    assert emotion.fer_landmarks().shape == (5, 2)


def test_smiling_astronaut_looks_happy(astronaut, astronaut_faces):
    (est,) = emotion.classify(astronaut, [f.landmarks for f in astronaut_faces])
    assert est.label == "happy"
    assert est.confidence > 0.6
    assert set(est.scores) == set(EMOTIONS)
    assert sum(est.scores.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(0.0 <= v <= 1.0 for v in est.scores.values())
    assert est.model == emotion.model_version()
    json.loads(est.to_json())  # JSON-serialisable


def test_batch_matches_single_faces():
    from facelens.eval import scenes

    rgb, _ = scenes.example_scene()
    found, _ = faces.find_faces(rgb, embeddings=False)
    assert len(found) == 4
    lms = [f.landmarks for f in found]
    batch = emotion.classify(rgb, lms)
    singles = [emotion.classify(rgb, [lm])[0] for lm in lms]
    for b, s in zip(batch, singles):
        assert b.label == s.label
        assert b.scores["happy"] == pytest.approx(s.scores["happy"], abs=1e-5)
    # the example scene repeats two people: the two astronauts (faces 2 and 4) smile
    assert batch[1].label == "happy" and batch[3].label == "happy"


def test_face_crop_is_fer_framed(astronaut, astronaut_faces):
    (crop,) = emotion.face_crops(astronaut, [astronaut_faces[0].landmarks])
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # the crop is centred on the face: the eyes sit in the upper half, the mouth in the lower half
    lm = emotion.fer_landmarks()
    assert lm[0, 1] < 24 < lm[3, 1]


def test_classify_crops_any_size_and_mirror_invariant(astronaut, astronaut_faces):
    (crop,) = emotion.face_crops(astronaut, [astronaut_faces[0].landmarks])
    rgb_big = np.repeat(np.kron(crop, np.ones((3, 3), dtype=np.uint8))[:, :, None], 3, axis=2)
    a, b, c = emotion.classify_crops([crop, np.fliplr(crop).copy(), rgb_big])
    assert a.label == b.label == c.label == "happy"
    # the graph averages each face with its mirror, so a mirrored face scores the same
    assert a.scores["happy"] == pytest.approx(b.scores["happy"], abs=1e-4)


def test_empty_inputs_give_empty_results(astronaut):
    assert emotion.classify(astronaut, []) == []
    assert emotion.classify_crops([]) == []


@pytest.mark.parametrize(
    "crop",
    [np.zeros((0, 0), np.uint8), np.zeros((48, 48, 5), np.uint8), np.zeros((2, 48, 48, 3), np.uint8), "face.jpg"],
    ids=["empty", "five-channels", "4-d", "not-an-array"],
)
def test_bad_crops_raise_input_error(crop):
    with pytest.raises(InputError):
        emotion.classify_crops([crop])


def test_bad_image_or_landmarks_raise_input_error(astronaut, astronaut_faces):
    lm = astronaut_faces[0].landmarks
    with pytest.raises(InputError):
        emotion.classify(astronaut.astype(np.float32), [lm])
    with pytest.raises(InputError):
        emotion.classify(astronaut[:, :, 0], [lm])
    with pytest.raises(InputError, match="5"):
        emotion.classify(astronaut, [np.zeros((68, 2))])
    with pytest.raises(InputError):
        emotion.classify(astronaut, [np.full((5, 2), np.nan)])


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    """Point the module at a private models folder (and forget the cached metadata either side)."""
    monkeypatch.setattr(emotion, "_path", lambda name: tmp_path / name)
    emotion._meta.cache_clear()
    emotion._fusion.cache_clear()
    yield tmp_path
    emotion._meta.cache_clear()
    emotion._fusion.cache_clear()


def test_missing_model_is_reported(model_dir, astronaut):
    assert not emotion.available()
    assert emotion.model_version() == "none"
    with pytest.raises(ModelError, match="missing"):
        emotion.classify_crops([np.zeros((48, 48), np.uint8)])


def test_corrupt_model_files_are_reported(model_dir):
    from facelens.tools import models

    real = json.loads(models.package_data_path("models", emotion.META_FILE).read_text())
    (model_dir / emotion.MODEL_FILE).write_bytes(b"\x08\x01garbage, not an onnx graph")
    (model_dir / emotion.META_FILE).write_text(json.dumps(real))
    with pytest.raises(ModelError):
        emotion.classify_crops([np.zeros((48, 48), np.uint8)])
    emotion._meta.cache_clear()
    (model_dir / emotion.META_FILE).write_text(json.dumps({**real, "labels": ["happy", "sad"]}))
    with pytest.raises(ModelError, match="labels"):
        emotion.classify_crops([np.zeros((48, 48), np.uint8)])
    emotion._meta.cache_clear()
    (model_dir / emotion.META_FILE).write_text("{not json")
    with pytest.raises(FacelensError):
        emotion.classify_crops([np.zeros((48, 48), np.uint8)])


@pytest.mark.shared_data
def test_accuracy_on_fer_val_sample():
    import cv2

    root = shared_data("fer2013", "val")
    crops, labels = [], []
    for label in EMOTIONS:
        for p in sorted((root / label).iterdir())[:40]:
            crops.append(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))
            labels.append(label)
    pred = [e.label for e in emotion.classify_crops(crops)]
    acc = float(np.mean([p == t for p, t in zip(pred, labels)]))
    # 40 per class (balanced, so below the 0.6+ on the natural class mix); chance is 0.14
    assert acc > 0.5, acc
