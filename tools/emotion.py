"""Facial expression classifier: facelens's own FER-2013 CNN, run with onnxruntime.

The model (``data/models/emotion.onnx``, card in ``data/models/MODEL_CARD_emotion.md``) takes 48 x 48
grey faces framed like FER-2013. :func:`classify` produces that framing from the 5 landmarks: a similarity transform
onto FER-2013's mean landmark positions (measured by training/fer_framing.py, stored in
``emotion.json``); the graph itself crops, normalises and averages the face with its mirror. Probabilities are
temperature-scaled (calibrated on FER-2013 val) and sum to 1. Labels describe how a face looks.

Example:
    >>> from facelens.tools import emotion, faces
    >>> found, _ = faces.find_faces(rgb, embeddings=False)
    >>> emotion.classify(rgb, [f.landmarks for f in found])[0].label
    'happy'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools import models
from facelens.tools.errors import InputError, ModelError
from facelens.tools.schema import EMOTIONS, EmotionEstimate

log = logging.getLogger(__name__)

MODEL_FILE = "emotion.onnx"
META_FILE = "emotion.json"
BATCH = 64  # faces per onnxruntime call


def _path(name: str) -> Path:
    return models.package_data_path("models", name)


def available() -> bool:
    """True when the shipped model files and onnxruntime are present."""
    import importlib.util

    return _path(MODEL_FILE).is_file() and _path(META_FILE).is_file() and importlib.util.find_spec("onnxruntime") is not None


@lru_cache(maxsize=1)
def _meta() -> dict:
    path = _path(META_FILE)
    if not path.is_file() or not _path(MODEL_FILE).is_file():
        raise ModelError(
            f"The emotion model is missing ({path.parent / MODEL_FILE}).",
            hint="Reinstall facelens, or re-create it with training/train_emotion.py and training/export_emotion.py.",
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read {path}: {exc}.", hint="Reinstall facelens.") from exc
    if tuple(meta.get("labels", ())) != EMOTIONS:
        raise ModelError(f"{path} lists labels {meta.get('labels')}, expected {list(EMOTIONS)}.")
    return meta


def model_version() -> str:
    """Version string of the shipped model ("none" when it is not installed)."""
    return str(_meta()["version"]) if available() else "none"


def fer_landmarks() -> np.ndarray:
    """Where FER-2013's faces have their 5 landmarks on average (5 x 2, in input_size pixels; measured)."""
    return np.asarray(_meta()["fer_landmarks"], dtype=np.float64)


def input_size() -> int:
    """Side of the square grey input, in pixels (48)."""
    return int(_meta()["input_size"])


def face_crops(rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray]:
    """FER-framed grey crops (input_size x input_size uint8), one per set of 5 landmarks.

    Each face is warped by a similarity transform that puts its landmarks where FER-2013's faces have
    theirs on average, so the crop shows what the model saw in training (forehead to chin).
    """
    import cv2

    from facelens.tools.faces import similarity_transform

    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError("Expected an H x W x 3 uint8 RGB image; load files with facelens.tools.images.load_image.")
    size, template = input_size(), fer_landmarks()
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out = []
    for lm in landmarks:
        pts = np.asarray(lm, dtype=np.float64)
        if pts.shape != (5, 2) or not np.isfinite(pts).all():
            raise InputError(f"Expected 5 (x, y) landmarks per face, got an array of shape {pts.shape}.")
        scale = float(np.hypot(*similarity_transform(pts, template)[0, :2]))
        # warp at k x the size, then area-average down: no aliasing when a big face shrinks to 48 px
        k = int(min(8, max(1, np.ceil(1.0 / max(scale, 1e-6)))))
        m = similarity_transform(pts, template * k)
        big = cv2.warpAffine(grey, m, (size * k, size * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.append(big if k == 1 else cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA))
    return out


def _to_gray(crop: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if not isinstance(crop, np.ndarray) or crop.ndim not in (2, 3) or crop.size == 0:
        raise InputError("A face crop must be a non-empty H x W (grey) or H x W x 3 (RGB) image array.")
    if crop.ndim == 3 and crop.shape[2] not in (1, 3, 4):
        raise InputError(f"A face crop has {crop.shape[2]} channels; expected 1, 3 or 4.")
    if crop.dtype != np.uint8:
        crop = np.clip(crop, 0, 255).astype(np.uint8)
    if crop.ndim == 3:
        code = {1: None, 3: cv2.COLOR_RGB2GRAY, 4: cv2.COLOR_RGBA2GRAY}[crop.shape[2]]
        crop = crop[:, :, 0] if code is None else cv2.cvtColor(crop, code)
    if crop.shape != (size, size):
        interp = cv2.INTER_AREA if max(crop.shape) > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
    return crop


def probabilities(grays: Sequence[np.ndarray]) -> np.ndarray:
    """Calibrated probabilities (N x 7, rows sum to 1) for FER-framed grey faces, batched."""
    size = input_size()
    if not len(grays):
        return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
    x = np.stack([_to_gray(g, size) for g in grays]).astype(np.float32)[:, None]
    sess = models.onnx_session(str(_path(MODEL_FILE)))
    try:
        logits = np.concatenate([sess.run(None, {"gray": x[i:i + BATCH]})[0] for i in range(0, len(x), BATCH)])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"The emotion model failed to run: {exc}", hint="Reinstall facelens.") from exc
    z = logits.astype(np.float64) / float(_meta()["temperature"])
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _estimates(probs: np.ndarray) -> list[EmotionEstimate]:
    version = model_version()
    return [
        EmotionEstimate(label=EMOTIONS[int(row.argmax())], scores={k: float(v) for k, v in zip(EMOTIONS, row)}, model=version)
        for row in probs
    ]


def classify(rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]]) -> list[EmotionEstimate]:
    """Expression estimates for every face of one image, in the order of ``landmarks``.

    Args:
        rgb: H x W x 3 uint8 RGB image.
        landmarks: per face, the 5 points (eye, eye, nose, mouth corner, mouth corner) in image pixels,
            as in ``Face.landmarks``.

    Returns:
        One :class:`EmotionEstimate` per face (label = most probable; scores = calibrated probabilities).
    """
    return _estimates(probabilities(face_crops(rgb, landmarks)))


def classify_crops(crops: Sequence[np.ndarray]) -> list[EmotionEstimate]:
    """Expression estimates for ready-made face crops (grey or RGB arrays, any size, framed like FER-2013)."""
    return _estimates(probabilities(list(crops)))
