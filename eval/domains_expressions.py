"""The eval suite's ``expressions`` domain: facial expression on real web photos.

Data: ``../shared/data/expressions/`` (mostly 350 px LFW headshots, about 93% of them grey, the rest
colour web photos of other sizes; one folder per class, ``labels.csv``: file, label, person; crowd
labels, noisy). The photos are split **by person**, with a
deterministic hash of the name, so that no person is in two splits:

- ``train`` (about 60%): the expression fusion head is fitted on it (training/train_expression_fusion.py);
- ``tune`` (about 20%): regularisation and fusion choices are made on it;
- ``heldout`` (about 20%): never fitted on, never used to choose; the suite reports it.

Per photo the product's own path runs: the largest face found by the default detector (on a padded
copy, as for every labelled folder), then ``emotion.classify`` on its 5 landmarks. A photo without a
found face counts as wrong. Figures: ``happy_recall`` (smiles that read happy), ``neutral_as_happy``
(neutral faces that read happy; lower is better), ``fear_on_happy`` (smiles that read afraid; lower is
better), 7-class ``macro_f1`` and ``accuracy``, per-class recall.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from facelens.eval.registry import Domain, register

SPLITS = ("train", "tune", "heldout")
ROOT = "expressions"


def split_of(person: str) -> str:
    """The split a person's photos belong to: a fixed hash of the name (60 / 20 / 20)."""
    bucket = int(hashlib.sha256(person.strip().encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 6 else "tune" if bucket < 8 else "heldout"


def items(folder: Path, split: str | None = None) -> list[tuple[str, str, str]]:
    """``(file, label, person)`` rows of ``folder/labels.csv`` (of one split when given), in file order."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    with open(folder / "labels.csv", newline="") as fh:
        rows = [(r["file"], r["label"], r["person"]) for r in csv.DictReader(fh)]
    return [r for r in rows if split is None or split_of(r[2]) == split]


def evaluate_split(folder: Path, split: str = "heldout", every: int = 1) -> dict:
    """Run the product's expression path over one split; return figures, per-class recall and confusion."""
    from facelens.eval.models import NO_FACE, class_metrics, photo_face
    from facelens.tools import emotion, faces
    from facelens.tools.errors import ImageError
    from facelens.tools.images import load_image
    from facelens.tools.schema import EMOTIONS

    rows = items(folder, split)[:: max(1, every)]
    truth, pred = [], []
    for file, label, _ in rows:
        try:
            rgb = load_image(folder / file).rgb
        except ImageError:
            continue
        read, face = photo_face(rgb, faces.DEFAULT_DETECTOR)
        truth.append(label)
        pred.append(NO_FACE if face is None else emotion.classify(read, [face.landmarks])[0].label)
    present = [e for e in EMOTIONS if e in truth]
    per_class = class_metrics(truth, pred, present)
    confusion: dict[str, dict[str, int]] = {t: {} for t in present}
    for t, p in zip(truth, pred):
        confusion[t][p] = confusion[t].get(p, 0) + 1
    t, p = np.array(truth), np.array(pred)

    def share(true_label: str, predicted: str) -> float:
        m = t == true_label
        return round(float((p[m] == predicted).mean()), 4) if m.any() else float("nan")

    return {
        "happy_recall": share("happy", "happy"),
        "neutral_as_happy": share("neutral", "happy"),
        "fear_on_happy": share("happy", "fear"),
        "macro_f1": round(float(np.mean([m.f1 for m in per_class.values()])), 4) if per_class else 0.0,
        "accuracy": round(float((t == p).mean()), 4) if len(t) else 0.0,
        "no_face": int((p == NO_FACE).sum()),
        "photos": len(t),
        "recall": {k: m.recall for k, m in per_class.items()},
        "confusion": confusion,
    }


def expressions(root: Path, quick: bool) -> dict[str, float]:
    r = evaluate_split(root / ROOT, "heldout", every=3 if quick else 1)
    out = {
        k: r[k]
        for k in ("happy_recall", "neutral_as_happy", "fear_on_happy", "macro_f1", "accuracy", "no_face", "photos")
    }
    out.update({f"recall_{k}": v for k, v in r["recall"].items()})
    return out


# Targets: neutral read happy <= 0.08 is issue 23's goal, met. Smiles read happy (goal 0.95) and smiles
# read afraid (goal 0) are floors at the measured level, so a regression fails while the goals stay open
# (docs/evaluation.md): the product's path on the whole held-out split measured 0.814 and 0.004 (1 of 226 smiles, whose
# blendshapes show no smile); the CNN alone 0.796 and 0.009. After the product-path refit and the LiteRT
# landmarker (7 Dec 2026): 0.845, neutral read happy 0.046, afraid 0.004, macro-F1 0.539. Since 8 Dec each photo is
# read as the product reads it (photo_face: no black margin when a face is found); e36 CNN and the head refitted
# on that path: 0.850, 0.038, 0.004, macro-F1 0.565 (the 7 Dec models on that path: 0.867, 0.055, 0.000, 0.537).
register(
    Domain(
        "expressions",
        "real web photos (LFW headshots), person-disjoint held-out split: smiles read happy, neutral not happy, 7-class macro-F1",
        expressions,
        {"happy_recall": 0.80, "neutral_as_happy": 0.08, "fear_on_happy": 0.01},
        quick_targets={"happy_recall": 0.77, "neutral_as_happy": 0.08, "fear_on_happy": 0.015},
        maximum=frozenset({"neutral_as_happy", "fear_on_happy"}),
        needs=(f"{ROOT}/labels.csv",),
        quick="every 3rd held-out photo",
    )
)
