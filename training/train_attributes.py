"""Train facelens's age and gender heads on UTKFace, on top of the 128-d dlib face embedding.

The embedding is what scene analysis computes for every face anyway, so age and gender cost two
tiny matrix products per face. One reproducible command (CPU; the embedding step is cached and
resumable, ~0.08 s per image: 16 minutes for all 11,500 images)::

    nice -n 10 python training/train_attributes.py --data ../shared/data/utkface \
        --cache /work/runs/attributes

Steps:
1. embed every image exactly as ``facelens eval attributes`` does (``facelens.eval.models.largest_face``):
   the 200x200 aligned crop is padded with a 25% margin (black, then replicated edges if HOG finds
   nothing: HOG misses faces that touch the border), detected with dlib HOG (dlib's CNN detector for
   HOG's misses), landmarked (68 points) and embedded; images without a detection are skipped and counted.
2. fit three heads with scikit-learn (training-time only): gender = logistic regression,
   age group = multinomial logistic regression over AGE_GROUPS, age = ridge regression on
   age in years (kept inside the predicted group at inference); hyper-parameters chosen on utkface/val.
3. write ``facelens/tools/data/models/attributes.npz`` (weights applied with numpy at run time;
   scikit-learn is not a runtime dependency) and print the val metrics as JSON.

Race/ethnicity is never trained or inferred (UTKFace's race field is not read).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

AGE_GROUPS = ("0-9", "10-19", "20-39", "40-59", "60+")
GENDERS = ("female", "male")
log = logging.getLogger("train_attributes")


def age_group_index(age: np.ndarray) -> np.ndarray:
    """Index into AGE_GROUPS for each age in years."""
    return np.digitize(np.asarray(age, dtype=np.float64), [10, 20, 40, 60])


def read_labels(folder: Path) -> list[tuple[str, float, str]]:
    with open(folder / "labels.csv", newline="") as fh:
        return [(r["file"], float(r["age"]), r["gender"].strip().lower()) for r in csv.DictReader(fh)]


def embed_folder(folder: Path, cache: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Embeddings (N x 128), ages, gender indices of the images where a face was found (cached)."""
    from facelens.eval.models import largest_face
    from facelens.tools.images import load_image

    rows = read_labels(folder)[:limit]
    done: dict[str, list[float] | None] = {}
    if cache.exists():
        done = json.loads(cache.read_text())
    # misses (None) are retried: the face finder may have improved since they were cached
    t0, todo = time.perf_counter(), [r for r in rows if done.get(r[0]) is None]
    for k, (name, _, _) in enumerate(todo, 1):
        # the same face finder as ``facelens eval attributes``: margin, HOG, largest face
        _, _, vec = largest_face(load_image(folder / name).rgb, "hog")
        done[name] = None if vec is None else [round(float(v), 6) for v in vec]
        if k % 250 == 0 or k == len(todo):
            cache.write_text(json.dumps(done))
            rate = (time.perf_counter() - t0) / k
            print(f"{folder.name}: {k}/{len(todo)} embedded, {rate * 1000:.0f} ms/image", file=sys.stderr, flush=True)
    keep = [r for r in rows if done.get(r[0]) is not None]
    x = np.asarray([done[r[0]] for r in keep], dtype=np.float32)
    age = np.asarray([r[1] for r in keep], dtype=np.float32)
    gender = np.asarray([GENDERS.index(r[2]) for r in keep], dtype=np.int64)
    return x, age, gender, len(rows) - len(keep)


def fit(xtr, atr, gtr, xva, ava, gva) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Fit the three heads, choosing regularisation on val. Returns weights and val metrics."""
    from sklearn.linear_model import LogisticRegression, Ridge

    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    ztr, zva = (xtr - mu) / sd, (xva - mu) / sd
    best: dict[str, tuple] = {}
    for c in (0.01, 0.03, 0.1, 0.3, 1.0):
        g = LogisticRegression(C=c, max_iter=3000).fit(ztr, gtr)
        acc = float((g.predict(zva) == gva).mean())
        if acc > best.get("g", (-1,))[0]:
            best["g"] = (acc, g, c)
        a = LogisticRegression(C=c, max_iter=3000).fit(ztr, age_group_index(atr))
        acc = float((a.predict(zva) == age_group_index(ava)).mean())
        if acc > best.get("a", (-1,))[0]:
            best["a"] = (acc, a, c)
    for alpha in (3.0, 10.0, 30.0, 100.0, 300.0):
        r = Ridge(alpha=alpha).fit(ztr, atr)
        mae = float(np.abs(r.predict(zva).clip(0, 100) - ava).mean())
        if mae < best.get("r", (1e9,))[0]:
            best["r"] = (mae, r, alpha)
    g, a, r = best["g"][1], best["a"][1], best["r"][1]
    weights = {
        "mean": mu.astype(np.float32),
        "std": sd.astype(np.float32),
        "gender_w": g.coef_[0].astype(np.float32),
        "gender_b": np.float32(g.intercept_[0]),
        "group_w": a.coef_.T.astype(np.float32),
        "group_b": a.intercept_.astype(np.float32),
        "age_w": r.coef_.astype(np.float32),
        "age_b": np.float32(r.intercept_),
    }
    metrics = {
        "gender_accuracy": best["g"][0],
        "age_group_accuracy": best["a"][0],
        "age_mae": best["r"][0],
        "gender_C": best["g"][2],
        "group_C": best["a"][2],
        "age_alpha": best["r"][2],
    }
    return weights, metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/utkface"))
    ap.add_argument("--cache", type=Path, default=Path("/work/runs/attributes"))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "tools/data/models/attributes.npz"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    xva, ava, gva, miss_va = embed_folder(args.data / "val", args.cache / "val.json", None)
    xtr, atr, gtr, miss_tr = embed_folder(args.data / "train", args.cache / "train.json", args.limit)
    weights, metrics = fit(xtr, atr, gtr, xva, ava, gva)
    metrics.update(
        n_train=len(xtr),
        n_val=len(xva),
        no_face_train=miss_tr,
        no_face_val=miss_va,
        minutes=round((time.perf_counter() - t0) / 60, 1),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **weights, groups=np.array(AGE_GROUPS), genders=np.array(GENDERS))
    metrics.update(evaluate(dict(np.load(args.out)), xva, ava, gva, miss_va))
    (args.cache / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_card(args.out.with_name("MODEL_CARD_attributes.md"), metrics, atr, gtr, args)
    print(json.dumps(metrics, indent=1))


def evaluate(w: dict[str, np.ndarray], x: np.ndarray, age: np.ndarray, gender: np.ndarray, misses: int) -> dict:
    """Val metrics of the exported heads exactly as facelens applies them (age clipped to its group)."""
    from facelens.tools.attributes import apply_heads

    preds = apply_heads(w, x)
    pg = np.array([GENDERS.index(p[2].label) for p in preds])
    pgrp = np.array([AGE_GROUPS.index(p[1]) for p in preds])
    page = np.array([p[0] for p in preds])
    tgrp = age_group_index(age)
    conf = np.zeros((len(AGE_GROUPS), len(AGE_GROUPS)), dtype=int)
    np.add.at(conf, (tgrp, pgrp), 1)
    n_all = len(x) + misses
    return {
        "final": {
            "gender_accuracy": round(float((pg == gender).mean()), 4),
            "age_group_accuracy": round(float((pgrp == tgrp).mean()), 4),
            "age_mae": round(float(np.abs(page - age).mean()), 2),
            "gender_accuracy_all_images": round(float((pg == gender).sum() / n_all), 4),
            "age_group_accuracy_all_images": round(float((pgrp == tgrp).sum() / n_all), 4),
            "gender_accuracy_by_gender": {
                g: round(float((pg[gender == i] == i).mean()), 4) for i, g in enumerate(GENDERS)
            },
            "age_group_recall": {g: round(float((pgrp[tgrp == i] == i).mean()), 4) for i, g in enumerate(AGE_GROUPS)},
            "age_mae_by_group": {
                g: round(float(np.abs(page - age)[tgrp == i].mean()), 2) for i, g in enumerate(AGE_GROUPS)
            },
            "group_confusion": conf.tolist(),
            "val_group_counts": np.bincount(tgrp, minlength=len(AGE_GROUPS)).tolist(),
        }
    }


def write_card(path: Path, m: dict, age_tr: np.ndarray, gender_tr: np.ndarray, args: argparse.Namespace) -> None:
    """MODEL_CARD_attributes.md beside the weights: data, metrics, limits."""
    f = m["final"]
    tr_groups = np.bincount(age_group_index(age_tr), minlength=len(AGE_GROUPS))
    rows = "\n".join(
        f"| {g} | {tr_groups[i]} | {f['val_group_counts'][i]} | {f['age_group_recall'][g]:.3f} | {f['age_mae_by_group'][g]:.1f} |"
        for i, g in enumerate(AGE_GROUPS)
    )
    conf = "\n".join(
        f"| {g} | " + " | ".join(str(v) for v in f["group_confusion"][i]) + " |" for i, g in enumerate(AGE_GROUPS)
    )
    text = CARD.format(
        n_train=m["n_train"],
        no_face_train=m["no_face_train"],
        n_val=m["n_val"],
        no_face_val=m["no_face_val"],
        female_tr=int((gender_tr == 0).sum()),
        male_tr=int((gender_tr == 1).sum()),
        rows=rows,
        conf=conf,
        head=" | ".join(AGE_GROUPS),
        sep=" | ".join("---" for _ in AGE_GROUPS),
        limit=f" --limit {args.limit}" if args.limit else "",
        **f,
        acc_f=f["gender_accuracy_by_gender"]["female"],
        acc_m=f["gender_accuracy_by_gender"]["male"],
        gender_C=m["gender_C"],
        group_C=m["group_C"],
        age_alpha=m["age_alpha"],
    )
    path.write_text(text)


CARD = """# Model card: facelens age and gender heads (`attributes.npz`)

**What it does.** Estimates a face's *apparent* age (years), age group (0-9, 10-19, 20-39, 40-59, 60+)
and *apparent* gender (female/male with a probability) from the 128-d dlib face embedding that
facelens computes for every face. Three linear heads, applied with numpy
(`facelens.tools.attributes`); 0.04-0.15 ms per face on one core (batched: 0.04). Race/ethnicity is not trained or inferred.

**Training.** `python training/train_attributes.py --data ../shared/data/utkface{limit}`
(see `training/README.md`): UTKFace aligned 200x200 crops, padded, detected with dlib HOG, embedded
with dlib's ResNet; gender: logistic regression (C={gender_C}); age group: multinomial logistic
regression (C={group_C}); age: ridge regression on the age in years (alpha={age_alpha}), clipped at
inference into the predicted age group so the two never disagree. Regularisation chosen on val.

**Data and licence.** UTKFace (Zhang, Song & Qi, CVPR 2017) is released for **non-commercial research
only**. The images are not shipped; only the fitted weights are. Check whether that licence fits your
use before deploying these weights. Training used {n_train} images with a detected face
({no_face_train} skipped: no face found); {female_tr} labelled female, {male_tr} male.

## Metrics on utkface/val ({n_val} images with a detected face; {no_face_val} without)

| metric | value |
|---|---|
| gender accuracy | {gender_accuracy:.3f} (female {acc_f:.3f}, male {acc_m:.3f}) |
| age-group accuracy | {age_group_accuracy:.3f} |
| age MAE | {age_mae:.2f} years |
| gender / age-group accuracy counting no-face images as wrong | {gender_accuracy_all_images:.3f} / {age_group_accuracy_all_images:.3f} |

Per age group (training count, val count, recall, age MAE):

| group | train | val | recall | MAE (years) |
|---|---|---|---|---|
{rows}

Age-group confusion on val (rows: true, columns: predicted):

| true \\ pred | {head} |
|---|{sep}|
{conf}

The regularisation was chosen on this same val split, so these figures are slightly optimistic;
`facelens eval attributes DIR --json` measures the shipped model on any other labelled folder.

## Limits and biases
- Apparent attributes, not facts: a label is how a model trained on one dataset reads a face. Gender is
  reported as a binary apparent label because that is how UTKFace is annotated; it says nothing about
  a person's gender identity. Do not use it to make decisions about people.
- UTKFace is web-scraped: ages cluster at 20-39 and babies (0-4); older ages and teenagers are rarer,
  so errors are largest there (see the MAE per group). Its skin-tone and ethnic mix is uneven, which
  the embedding inherits: accuracy is likely lower for groups that are under-represented.
- The dlib embedding was trained for identity, not age: fine age differences within a group are
  weakly encoded (MAE of several years). Children's embeddings are less reliable (dlib's training data
  are mostly adults).
- Only faces the detector finds get an estimate; small, blurred, profile or occluded faces give less
  reliable embeddings.
"""


if __name__ == "__main__":
    main()
