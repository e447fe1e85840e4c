"""Locating and loading the model files facelens uses, lazily and once per process.

The dlib models ship in the ``face-recognition-models`` package. We locate its folder with
``importlib.util.find_spec`` instead of importing it: its ``__init__`` imports ``pkg_resources``,
which current setuptools no longer ships.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from functools import lru_cache
from pathlib import Path

from facelens.tools.errors import ModelError, missing_dependency

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


@lru_cache(maxsize=None)
def cnn_detector():
    """dlib's MMOD CNN face detector (accurate, slow on a CPU)."""
    with _lock:
        log.info("loading dlib MMOD CNN detector")
        return _dlib().cnn_face_detection_model_v1(str(dlib_model_path("mmod")))


@lru_cache(maxsize=None)
def shape_predictor(points: int = 68):
    """dlib's 68- or 5-point landmark predictor."""
    with _lock:
        log.info("loading dlib %d-point shape predictor", points)
        return _dlib().shape_predictor(str(dlib_model_path(f"landmarks{points}")))


@lru_cache(maxsize=None)
def face_encoder():
    """dlib's ResNet face embedding network (128-d, 99.38% on LFW)."""
    with _lock:
        log.info("loading dlib face embedding network")
        return _dlib().face_recognition_model_v1(str(dlib_model_path("embedding")))


def fast_face_encoder():
    """The same network run by onnxruntime (converted from dlib's file once, cached)."""
    from facelens.tools.dlib_resnet import onnx_face_encoder

    return onnx_face_encoder(str(dlib_model_path("embedding")))


def onnxruntime():  # type: ignore[no-untyped-def]
    """The ``onnxruntime`` module, with its telemetry turned off: every session facelens (or faster-whisper's
    VAD) creates comes after this call. onnxruntime 1.32 otherwise looks up mobile.events.data.microsoft.com
    every few seconds and writes a ``.ses`` file under TMPDIR, even offline. Its 1DS telemetry starts at
    import and obeys only ``ORT_DISABLE_TELEMETRY``, which ``facelens/__init__.py`` sets before any import;
    ``disable_telemetry_events()`` covers the builds with the older (ETW) telemetry."""
    import os
    import sys

    if "onnxruntime" not in sys.modules:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    _telemetry_off(ort)
    return ort


@lru_cache(maxsize=1)
def _telemetry_off(ort) -> None:  # type: ignore[no-untyped-def]
    off = getattr(ort, "disable_telemetry_events", None)
    if off is not None:
        off()


@lru_cache(maxsize=8)
def onnx_session(path: str):
    """An onnxruntime session for a model file, cached by path."""
    ort = onnxruntime()

    if not Path(path).is_file():
        raise ModelError(f"ONNX model not found: {path}.")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"Cannot load the ONNX model {path}: {exc}") from exc
