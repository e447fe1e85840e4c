"""Detection, landmarks, alignment and embeddings with the real dlib models."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.tools import faces
from facelens.tools.errors import InputError, ModelError, NotFoundError


def test_hog_finds_the_astronaut(astronaut):
    dets = faces.detect_faces(astronaut, "hog")
    assert len(dets) == 1
    x, y, w, h = dets[0].box
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 200  # her face, not the flag or the suit


def test_big_photo_is_downscaled_and_boxes_map_back(astronaut):
    import cv2

    big = cv2.resize(astronaut, (2048, 2048))
    small_box = faces.detect_faces(astronaut)[0].box
    big_box = faces.detect_faces(big)[0].box
    assert np.allclose(np.asarray(big_box) / 4.0, small_box, atol=12)


def test_no_face_in_plain_image():
    assert faces.detect_faces(np.full((300, 300, 3), 128, np.uint8)) == []


def test_unknown_detector_names_the_valid_ones(astronaut):
    with pytest.raises(NotFoundError, match="hog"):
        faces.detect_faces(astronaut, "nope")


def test_bad_array_is_refused():
    with pytest.raises(InputError):
        faces.detect_faces(np.zeros((10, 10), np.uint8))


def test_yunet_with_a_missing_model_file_says_what_to_do(astronaut, monkeypatch):
    monkeypatch.setenv("FACELENS_YUNET", "/nowhere/face_detection_yunet.onnx")
    with pytest.raises(ModelError, match="FACELENS_YUNET"):
        faces.detect_faces(astronaut, "yunet")


def test_landmarks_alignment_and_embedding(astronaut):
    found, vecs = faces.find_faces(astronaut)
    assert len(found) == 1 and vecs.shape == (1, 128)
    lm = np.asarray(found[0].landmarks)
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # eyes and mouth corners left to right
    assert lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes above nose above mouth
    crop = faces.align_face(astronaut, found[0].landmarks, size=112)
    assert crop.shape == (112, 112, 3)
    # the aligned crop is itself a detectable, frontal face
    assert faces.detect_faces(np.ascontiguousarray(np.pad(crop, ((40, 40), (40, 40), (0, 0)), mode="edge")), upsample=1)


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    theta, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    dst = s * src @ rot.T + t
    m = faces.similarity_transform(src, dst)
    assert np.allclose(m[:, :2], s * rot, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-9)


def test_same_person_closer_than_different_people(astronaut, hopper):
    _, a = faces.find_faces(astronaut)
    _, a_mirror = faces.find_faces(np.ascontiguousarray(astronaut[:, ::-1]))
    _, h = faces.find_faces(hopper)
    same = np.linalg.norm(a[0] - a_mirror[0])
    diff = np.linalg.norm(a[0] - h[0])
    assert same < 0.4 < 0.6 < diff


@pytest.mark.slow
def test_cnn_detector(astronaut):
    dets = faces.detect_faces(astronaut, "cnn")
    assert len(dets) == 1
    hog = faces.detect_faces(astronaut, "hog")[0].box
    cx = dets[0].box[0] + dets[0].box[2] / 2
    assert abs(cx - (hog[0] + hog[2] / 2)) < 20


def test_box_geometry_is_clipped_and_never_empty():
    from facelens.tools import align

    assert align.box_around(50, 50, 20, 10, 100, 100) == (40, 45, 20, 10)
    assert align.box_around(2, 98, 20, 10, 100, 100) == (0, 93, 12, 7)  # clipped at the image border
    assert align.box_around(-30, -30, 4, 4, 100, 100)[2:] == (1, 1)  # outside the image: a 1 px box, not an empty one
    pts = np.zeros((68, 2))
    pts[36:42], pts[42:48], pts[30], pts[48], pts[54] = (10, 20), (30, 20), (20, 30), (12, 40), (28, 40)
    assert align.five_from_68(pts).tolist() == [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]]
    assert faces.five_from_68 is align.five_from_68 and faces.align_face is align.align_face  # re-exported


def test_error_kinds_are_given_where_the_class_is_named():
    from facelens.tools import errors

    assert errors.ImageError.kind == "bad_image" and issubclass(errors.ImageError, errors.InputError)
    assert errors.NotFoundError("x", hint="y").to_dict() == {"error": "not_found", "message": "x", "hint": "y"}
    assert {
        c.kind
        for c in (
            errors.ModelError,
            errors.DependencyError,
            errors.GalleryError,
            errors.ConfigError,
            errors.BackendError,
        )
    } == {"model", "dependency", "gallery", "config", "backend"}


def test_onnx_sessions_sleep_between_runs_and_take_threads_from_omp(monkeypatch):
    """Idle onnxruntime threads must not spin: they would steal the cores the landmarker's threads need (issue 22)."""
    from facelens.tools.onnx_runtime import onnxruntime, session_options

    ort = onnxruntime()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    opts = session_options(ort)
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.intra_op_num_threads == 0  # onnxruntime's default: one per core
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert session_options(ort).intra_op_num_threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")  # not a number: the default
    assert session_options(ort).intra_op_num_threads == 0
