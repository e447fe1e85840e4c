"""Locating and loading the model files facelens uses, lazily and once per process.

The dlib models ship in the ``face-recognition-models`` package. We locate its folder with
``importlib.util.find_spec`` instead of importing it: its ``__init__`` imports ``pkg_resources``,
which current setuptools no longer ships.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from functools import cache
from pathlib import Path

from facelens.tools.errors import ModelError, missing_dependency
from facelens.tools.onnx_runtime import onnx_session, onnxruntime  # noqa: F401 (part of this module's API)

log = logging.getLogger(__name__)
_lock = threading.Lock()

DLIB_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
    "mmod": "mmod_human_face_detector.dat",
}


def dlib_model_path(name: str) -> Path:
    """Path of one of the dlib model files shipped by face-recognition-models."""
    if name not in DLIB_FILES:
        raise ModelError(f"Unknown dlib model '{name}'. Known: {', '.join(DLIB_FILES)}.")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency("face-recognition-models", why="the dlib face models")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / DLIB_FILES[name]
    if not path.is_file():
        raise ModelError(
            f"The dlib model file {path} is missing.",
            hint="Reinstall it: pip install --force-reinstall face-recognition-models",
        )
    return path


def package_data_path(*parts: str) -> Path:
    """Path of a file shipped inside facelens.tools/data (weights, model cards, examples)."""
    # a plain path beside this module: works for wheel and editable installs alike
    return Path(__file__).resolve().parent.joinpath("data", *parts)


def _dlib():
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - dlib-bin is a core dependency
        raise missing_dependency("dlib-bin", why="face detection") from exc
    return dlib


_per_thread = threading.local()


def hog_detector():
    """dlib's HOG + linear SVM frontal face detector, one per thread: dlib's scanner keeps working
    state in the object, so two threads running one instance corrupt the heap (seen with
    ``facelens serve`` running two requests at once). Building one takes about a millisecond."""
    det = getattr(_per_thread, "hog", None)
    if det is None:
        det = _per_thread.hog = _dlib().get_frontal_face_detector()
    return det


@cache
def cnn_detector():
    """dlib's MMOD CNN face detector (accurate, slow on a CPU)."""
    with _lock:
        log.info("loading dlib MMOD CNN detector")
        return _dlib().cnn_face_detection_model_v1(str(dlib_model_path("mmod")))


@cache
def shape_predictor(points: int = 68):
    """dlib's 68- or 5-point landmark predictor."""
    with _lock:
        log.info("loading dlib %d-point shape predictor", points)
        return _dlib().shape_predictor(str(dlib_model_path(f"landmarks{points}")))


@cache
def face_encoder():
    """dlib's ResNet face embedding network (128-d, 99.38% on LFW)."""
    with _lock:
        log.info("loading dlib face embedding network")
        return _dlib().face_recognition_model_v1(str(dlib_model_path("embedding")))


def fast_face_encoder():
    """The same network run by onnxruntime (converted from dlib's file once, cached)."""
    from facelens.tools.dlib_resnet import onnx_face_encoder

    return onnx_face_encoder(str(dlib_model_path("embedding")))
