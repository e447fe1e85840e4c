"""Face detectors (BlazeFace, tiled, fused default) and ``facelens eval detection``."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.eval import detection as detection_eval
from facelens.eval import scenes
from facelens.tools import blazeface, detector_fusion, faces
from facelens.tools.errors import DependencyError, ImageError, InputError, NotFoundError
from tests.conftest import save, shared_data

needs_mediapipe = pytest.mark.skipif(
    not blazeface.available(), reason="needs mediapipe (pip install 'facelens[mediapipe]')"
)


def _centre_in(box, head) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return head[0] <= cx <= head[0] + head[2] and head[1] <= cy <= head[1] + head[3]


def _one_per_head(dets, placed) -> None:
    assert len(dets) == len(placed), [d.box for d in dets]
    for p in placed:
        assert sum(_centre_in(d.box, p.head_box) for d in dets) == 1, (p, [d.box for d in dets])


def test_detectors_are_registered():
    names = faces.available_detectors()
    for name in ("hog", "cnn", "blazeface", "blazeface-short", "blazeface-tiled", "fused", "retinaface", "yunet"):
        assert name in names


@needs_mediapipe
@pytest.mark.parametrize("scene", ["example", "six", "eight_small"])
def test_fused_finds_every_face_on_composites(scene):
    if scene == "example":
        rgb, placed = scenes.example_scene()
    elif scene == "six":
        rgb, placed = scenes.six_people()
    else:  # eight people with 70 px heads: small faces in a wide photo
        people = [scenes.Person("hopper" if i % 2 else "astronaut", "red", mirror=i % 3 == 0) for i in range(8)]
        rgb, placed = scenes.compose(people, width=1280, height=540, head_width=70)
    dets = faces.detect_faces(rgb, "fused")
    _one_per_head(dets, placed)
    assert all(d.detector == "fused" and 0.0 < d.score <= 1.0 for d in dets)


@needs_mediapipe
def test_blazeface_detectors_on_the_example():
    rgb, placed = scenes.example_scene()
    _one_per_head(faces.detect_faces(rgb, "blazeface-tiled"), placed)
    # one pass over the whole photo: 170 px heads are ~25 px at BlazeFace's input; no false alarms
    whole = faces.detect_faces(rgb, "blazeface")
    assert len(whole) >= 3
    assert all(
        sum(_centre_in(d.box, p.head_box) for d in whole) == 1
        for p in placed
        if any(_centre_in(d.box, p.head_box) for d in whole)
    )


@needs_mediapipe
def test_blazeface_short_on_a_portrait(astronaut):
    dets = faces.detect_faces(astronaut, "blazeface-short")
    assert len(dets) == 1 and dets[0].detector == "blazeface-short"


@needs_mediapipe
def test_fused_boxes_follow_the_tight_dlib_convention(astronaut, hopper):
    # landmarks, alignment and positions assume dlib-tight boxes whatever the detector
    for rgb in (astronaut, hopper):
        hog = faces.detect_faces(rgb, "hog")[0].box
        fused = faces.detect_faces(rgb, "fused")
        assert len(fused) == 1
        assert blazeface.iou(np.array([fused[0].box], float), np.array([hog], float))[0, 0] > 0.6
        found, _ = faces.with_landmarks(rgb, fused)
        (lx, ly), (rx, ry) = found[0].landmarks[:2]
        x, y, w, h = fused[0].box
        assert x < lx < rx < x + w and y < ly < y + h / 2


def test_fused_falls_back_to_hog_without_mediapipe(monkeypatch, caplog, astronaut):
    monkeypatch.setattr(blazeface, "available", lambda: False)
    monkeypatch.setattr(detector_fusion, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="facelens.tools.detector_fusion"):
        dets = faces.detect_faces(astronaut, "fused")
    assert [d.detector for d in dets] == ["hog"]
    assert "mediapipe is not installed" in caplog.text


def test_blazeface_without_mediapipe_says_what_to_install(monkeypatch, astronaut):
    def missing():
        raise blazeface.missing_dependency("mediapipe", "mediapipe", why="the BlazeFace face detectors")

    monkeypatch.setattr(blazeface, "_solution", lambda model: missing())
    monkeypatch.setattr(blazeface, "_idle", {})  # no graph left from earlier tests: a new one is made
    with pytest.raises(DependencyError, match="mediapipe"):
        faces.detect_faces(astronaut, "blazeface")


def test_a_broken_mediapipe_is_not_available_and_said_once(monkeypatch, caplog):
    def broken():
        raise AttributeError("'MessageFactory' object has no attribute 'GetPrototype'")

    monkeypatch.setattr(blazeface, "load_mediapipe", broken)
    monkeypatch.setattr(blazeface, "_load_failure_logged", False)
    with caplog.at_level(logging.WARNING, logger="facelens.tools.blazeface"):
        assert not blazeface.available() and not blazeface.available()
    said = [r for r in caplog.records if "does not load" in r.getMessage()]
    assert len(said) == 1 and "GetPrototype" in said[0].getMessage()


def test_a_missing_mediapipe_is_not_available_without_a_warning(monkeypatch, caplog):
    def missing():
        raise blazeface.missing_dependency("mediapipe", "mediapipe", why="the BlazeFace face detectors")

    monkeypatch.setattr(blazeface, "load_mediapipe", missing)
    with caplog.at_level(logging.WARNING, logger="facelens.tools.blazeface"):
        assert not blazeface.available()
    assert not caplog.records


def test_detector_names_come_from_the_registry():
    assert faces.available_detectors() == sorted(faces.DETECTORS)
    assert all(callable(faces.detector_function(name)) for name in faces.DETECTORS)
    assert faces.detector_function("fused") is detector_fusion.detect_fused
    with pytest.raises(NotFoundError, match="Choose one of: blazeface"):
        faces.detector_function("nope")


def test_unknown_detector_names_the_valid_ones(astronaut):
    with pytest.raises(NotFoundError, match="fused"):
        faces.detect_faces(astronaut, "nope")


def test_tiles_cover_the_image_with_overlap():
    for n in (1, 2, 3, 4):
        t = blazeface.tiles(1024, 683, n)
        assert len(t) == n * n
        assert min(x0 for x0, _, _, _ in t) == 0 and max(x1 for _, _, x1, _ in t) == 1024
        assert max(y1 for _, _, _, y1 in t) == 683


def test_merge_votes_overlapping_boxes():
    d = np.array([[10, 10, 50, 50, 0.9], [12, 10, 50, 50, 0.6], [20, 20, 20, 20, 0.5], [200, 10, 40, 40, 0.7]], float)
    m = blazeface.merge(d)
    assert len(m) == 2
    assert m[0, 4] == pytest.approx(0.9) and m[0, 5] == 3


# --- eval detection ------------------------------------------------------------------------


@pytest.fixture
def annotated(tmp_path):
    """A generated six-person photo and its boxes.json: WIDER-style head boxes of the six faces (HOG's
    tight boxes in WIDER's convention) and one box on the empty background that no detector can find."""
    rgb, placed = scenes.six_people()
    save(rgb, tmp_path / "six.jpg", quality=95)
    tight = sorted(faces.detect_faces(rgb, "hog"), key=lambda d: d.box[0])
    assert len(tight) == 6
    boxes = [[round(float(v), 1) for v in detection_eval.to_wider(d.box, "hog")] for d in tight] + [[5, 5, 40, 50]]
    ann = {"six.jpg": {"boxes": boxes, "easy": [0, 1, 2], "medium": [0, 1, 2, 3], "hard": list(range(7))}}
    (tmp_path / "boxes.json").write_text(json.dumps(ann))
    return tmp_path


def test_eval_detection_cli_json(annotated, capsys):
    assert main(["eval", "detection", str(annotated), "--json", "--detector", "hog"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"recall", "precision", "seconds_per_image", "n_images"} <= set(out)
    assert set(out["recall"]) >= {"easy", "medium", "hard"}
    assert out["n_images"] == 1 and out["detector"] == "hog"
    assert out["recall"] == {"easy": 1.0, "medium": 1.0, "hard": round(6 / 7, 4), "all": round(6 / 7, 4)}
    assert out["n_faces"] == {"easy": 3, "medium": 4, "hard": 7, "all": 7}
    assert out["precision"] == 1.0 and out["seconds_per_image"] > 0


def test_eval_detection_text_output(annotated, capsys):
    assert main(["eval", "detection", str(annotated), "--detector", "hog"]) == 0
    assert "recall  easy 1.000" in capsys.readouterr().out


def test_match_is_one_to_one_best_score_first():
    truth = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [1, 0, 10, 10], [100, 100, 10, 10]], float)
    assert detection_eval.match(pred, np.array([0.5, 0.9, 0.8]), truth) == {0, 1}
    assert detection_eval.match(pred[:0], np.array([]), truth) == set()


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "non-empty object"),
        ("{}", "non-empty object"),
        ('{"six.jpg": [1, 2]}', "'boxes' list"),
        ('{"six.jpg": {"boxes": [["a", 2, 3, 4]]}}', "four numbers"),
        ('{"six.jpg": {"boxes": [[1, 2, 3]]}}', "four numbers"),
        ('{"six.jpg": {"boxes": [[1, 2, 3, -4]]}}', "w, h > 0"),
        ('{"six.jpg": {"boxes": [[1, 2, 3, 4]], "easy": [3]}}', "'easy' must list box indices"),
    ],
)
def test_eval_detection_malformed_boxes_json(annotated, content, message, capsys):
    (annotated / "boxes.json").write_text(content)
    with pytest.raises(InputError, match=message):
        detection_eval.evaluate(annotated, "hog")
    assert main(["eval", "detection", str(annotated), "--detector", "hog"]) == 2
    assert "facelens:" in capsys.readouterr().err


def test_eval_detection_missing_boxes_json(tmp_path, capsys):
    with pytest.raises(InputError, match="No boxes.json"):
        detection_eval.evaluate(tmp_path, "hog")
    assert main(["eval", "detection", str(tmp_path), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "bad_input"


def test_eval_detection_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        detection_eval.evaluate(tmp_path / "nowhere", "hog")


def test_eval_detection_listed_image_missing(annotated):
    ann = json.loads((annotated / "boxes.json").read_text())
    ann["gone.jpg"] = {"boxes": [[1, 2, 3, 4]]}
    (annotated / "boxes.json").write_text(json.dumps(ann))
    with pytest.raises(ImageError, match="gone.jpg"):
        detection_eval.evaluate(annotated, "hog")


@pytest.mark.parametrize("kind", ["empty", "corrupt", "text", "truncated"])
def test_eval_detection_unreadable_image(annotated, kind, capsys):
    photo = annotated / "six.jpg"
    data = photo.read_bytes()
    content = {
        "empty": b"",
        "corrupt": b"\xff\xd8\xff not really a jpeg",
        "text": b"plain text",
        "truncated": data[: len(data) // 3],
    }
    photo.write_bytes(content[kind])
    with pytest.raises(ImageError):
        detection_eval.evaluate(annotated, "hog")
    assert main(["eval", "detection", str(annotated), "--detector", "hog"]) == 2
    assert "facelens:" in capsys.readouterr().err


def test_eval_detection_unknown_detector(annotated, capsys):
    with pytest.raises(NotFoundError, match="Choose one of"):
        detection_eval.evaluate(annotated, "nope")
    assert main(["eval", "detection", str(annotated), "--detector", "nope"]) == 2
    assert "Unknown detector 'nope'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.shared_data
@needs_mediapipe
def test_fused_on_shared_wider_sample():
    folder = shared_data("wider")
    rep = detection_eval.evaluate(folder, "fused", limit=25)
    assert rep.n_images == 25
    assert rep.recall["easy"] >= 0.75 and rep.precision >= 0.9


@needs_mediapipe
@pytest.mark.parametrize("name", ["fused", "blazeface", "blazeface-tiled"])
def test_blank_and_tiny_images_give_no_faces(name):
    assert faces.detect_faces(np.zeros((480, 640, 3), np.uint8), name) == []
    assert faces.detect_faces(np.full((12, 16, 3), 128, np.uint8), name) == []


@needs_mediapipe
def test_fused_on_a_big_photo_returns_original_pixels():
    import cv2

    rgb, placed = scenes.example_scene()
    big = cv2.resize(rgb, (3840, 2160), interpolation=cv2.INTER_LINEAR)  # 3x: searched on a 1280 px copy
    dets = faces.detect_faces(big, "fused")
    scaled = [scenes.Placed(p.who, p.shirt, tuple(3 * v for v in p.head_box)) for p in placed]
    _one_per_head(dets, scaled)


def test_face_free_squares_avoid_every_box_and_count_false_faces(tmp_path):
    """False faces are measured on squares cut away from every annotated face (issue 22)."""
    rgb = np.full((600, 900, 3), 180, np.uint8)
    rgb[:, :, 0] = np.linspace(60, 220, 900, dtype=np.uint8)[None, :]
    save(rgb, tmp_path / "plain.jpg", quality=95)
    box = [300, 200, 120, 150]
    (tmp_path / "boxes.json").write_text(json.dumps({"plain.jpg": {"boxes": [box]}}))
    squares = detection_eval.face_free_squares(tmp_path, per_photo=3, sizes=(150, 200), margin=20)
    assert 1 <= len(squares) <= 3 and all(150 <= s.shape[0] == s.shape[1] <= 200 for s in squares)
    rep = detection_eval.false_faces(tmp_path, "retinaface", per_photo=3, sizes=(150, 200))
    assert rep.squares == len(squares) and rep.squares_with_face == 0 and rep.rate == 0.0
    with pytest.raises(InputError, match="not a folder"):
        detection_eval.face_free_squares(tmp_path / "nowhere")
