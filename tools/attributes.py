"""Apparent age and gender from the 128-d dlib face embedding.

Scene analysis computes the embedding for every face anyway (for identity), so age and gender
cost a few small matrix products per face. The heads were trained on UTKFace by
``training/train_attributes.py`` and ship as ``data/models/attributes.npz`` (see
``MODEL_CARD_attributes.md`` beside it); they run with numpy only.

These are *apparent* attributes as a model trained on one research dataset sees them, not facts
about a person. Race/ethnicity is deliberately not inferred.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools.errors import InputError, ModelError
from facelens.tools.models import package_data_path
from facelens.tools.schema import AGE_GROUPS, GenderEstimate

log = logging.getLogger(__name__)

#: age range (years, inclusive; one decimal) of each group; the age estimate is kept inside its group
GROUP_RANGES: dict[str, tuple[float, float]] = {
    "0-9": (0.0, 9.9), "10-19": (10.0, 19.9), "20-39": (20.0, 39.9), "40-59": (40.0, 59.9), "60+": (60.0, 100.0),
}


def model_path() -> Path:
    """Where the shipped age/gender weights live."""
    return package_data_path("models", "attributes.npz")


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    path = model_path()
    if not path.is_file():
        raise ModelError(f"Age/gender model not found at {path}.", hint="Reinstall facelens or run training/train_attributes.py.")
    try:
        with np.load(path) as z:
            w = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"Age/gender model {path} is unreadable: {exc}.", hint="Reinstall facelens.") from exc
    if tuple(str(g) for g in w["groups"]) != AGE_GROUPS:
        raise ModelError(f"Age/gender model {path} has groups {list(w['groups'])}, expected {list(AGE_GROUPS)}.")
    return w


def available() -> bool:
    """True when the shipped age/gender model can be loaded."""
    try:
        _weights()
    except ModelError as exc:
        log.debug("age/gender model unavailable: %s", exc)
        return False
    return True


@lru_cache(maxsize=1)
def model_version() -> str:
    """Short content hash of the weights (changes whenever the model is retrained)."""
    path = model_path()
    if not path.is_file():
        return "none"
    return "utk-linear-" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict(vecs: np.ndarray) -> list[tuple[float, str, GenderEstimate]]:
    """Apparent age, age group and gender for each face embedding.

    Args:
        vecs: N x 128 dlib embeddings (``facelens.tools.faces.embed``).

    Returns:
        One ``(age_years, age_group, GenderEstimate)`` per row. The age is the regression
        estimate kept inside the predicted age group, so the two never disagree.

    Raises:
        InputError: ``vecs`` is not an N x 128 array of finite numbers.
        ModelError: the shipped model is missing or damaged.
    """
    try:
        x = np.asarray(vecs, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Expected N x 128 face embeddings, got {type(vecs).__name__}.") from exc
    if x.ndim == 1 and x.size == 128:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != 128:
        raise InputError(f"Expected N x 128 face embeddings, got an array of shape {np.shape(vecs)}.")
    if not np.isfinite(x).all():
        raise InputError("Face embeddings contain NaN or infinite values.")
    if not len(x):
        return []
    return apply_heads(_weights(), x)


def apply_heads(w: dict[str, np.ndarray], x: np.ndarray) -> list[tuple[float, str, GenderEstimate]]:
    """The heads' forward pass with the given weights (shared with the training script)."""
    z = (x - w["mean"]) / w["std"]
    p_male = 1.0 / (1.0 + np.exp(-(z @ w["gender_w"] + w["gender_b"])))
    groups = _softmax(z @ w["group_w"] + w["group_b"]).argmax(1)
    ages = z @ w["age_w"] + w["age_b"]
    out = []
    for pm, g, age in zip(p_male, groups, ages):
        group = AGE_GROUPS[int(g)]
        lo, hi = GROUP_RANGES[group]
        label = "male" if pm >= 0.5 else "female"
        score = float(pm if pm >= 0.5 else 1.0 - pm)
        out.append((round(float(np.clip(age, lo, hi)), 1), group, GenderEstimate(label=label, score=round(score, 4))))
    return out
