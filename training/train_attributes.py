"""Train facelens's age and gender heads on UTKFace, on top of the 128-d dlib face embedding.

The embedding is what scene analysis computes for every face anyway, so age and gender cost two
tiny matrix products per face. One reproducible command (CPU; the embedding step is cached and
resumable, ~0.1 s per image)::

    nice -n 10 python training/train_attributes.py --data ../shared/data/utkface \
        --cache /work/runs/attributes [--limit 5000]

Steps:
1. embed every image exactly as ``facelens.tools.scene`` does for a photo: the 200x200 aligned crop
   is padded with a 25% black margin (HOG misses faces that touch the border), detected with dlib HOG,
   landmarked (68 points) and embedded; images without a detection are skipped and counted.
2. fit three heads with scikit-learn (training-time only): gender = logistic regression,
   age group = multinomial logistic regression over AGE_GROUPS, age = ridge regression on
   log(1 + age) (clipped at inference); hyper-parameters chosen on utkface/val.
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
PAD = 0.25
log = logging.getLogger("train_attributes")


def age_group_index(age: np.ndarray) -> np.ndarray:
    """Index into AGE_GROUPS for each age in years."""
    return np.digitize(np.asarray(age, dtype=np.float64), [10, 20, 40, 60])


def read_labels(folder: Path) -> list[tuple[str, float, str]]:
    with open(folder / "labels.csv", newline="") as fh:
        return [(r["file"], float(r["age"]), r["gender"].strip().lower()) for r in csv.DictReader(fh)]


def embed_folder(folder: Path, cache: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Embeddings (N x 128), ages, gender indices of the images where a face was found (cached)."""
    import cv2

    from facelens.tools import faces
    from facelens.tools.images import load_image

    rows = read_labels(folder)[:limit]
    done: dict[str, list[float] | None] = {}
    if cache.exists():
        done = json.loads(cache.read_text())
    t0, todo = time.perf_counter(), [r for r in rows if r[0] not in done]
    for k, (name, _, _) in enumerate(todo, 1):
        rgb = load_image(folder / name).rgb
        m = int(PAD * max(rgb.shape[:2]))
        padded = cv2.copyMakeBorder(rgb, m, m, m, m, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        found, vecs = faces.find_faces(padded, "hog")
        if found:
            # the largest face is the labelled one
            i = max(range(len(found)), key=lambda j: found[j].box[2] * found[j].box[3])
            done[name] = [round(float(v), 6) for v in vecs[i]]
        else:
            done[name] = None
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
    for alpha in (1.0, 10.0, 30.0, 100.0, 300.0):
        r = Ridge(alpha=alpha).fit(ztr, np.log1p(atr))
        mae = float(np.abs(np.expm1(r.predict(zva)).clip(0, 100) - ava).mean())
        if mae < best.get("r", (1e9,))[0]:
            best["r"] = (mae, r, alpha)
    g, a, r = best["g"][1], best["a"][1], best["r"][1]
    weights = {
        "mean": mu.astype(np.float32), "std": sd.astype(np.float32),
        "gender_w": g.coef_[0].astype(np.float32), "gender_b": np.float32(g.intercept_[0]),
        "group_w": a.coef_.T.astype(np.float32), "group_b": a.intercept_.astype(np.float32),
        "age_w": r.coef_.astype(np.float32), "age_b": np.float32(r.intercept_),
    }
    metrics = {
        "gender_accuracy": best["g"][0], "age_group_accuracy": best["a"][0], "age_mae": best["r"][0],
        "gender_C": best["g"][2], "group_C": best["a"][2], "age_alpha": best["r"][2],
    }
    return weights, metrics


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/utkface"))
    ap.add_argument("--cache", type=Path, default=Path("/work/runs/attributes"))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tools/data/models/attributes.npz")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    xva, ava, gva, miss_va = embed_folder(args.data / "val", args.cache / "val.json", None)
    xtr, atr, gtr, miss_tr = embed_folder(args.data / "train", args.cache / "train.json", args.limit)
    weights, metrics = fit(xtr, atr, gtr, xva, ava, gva)
    metrics.update(n_train=len(xtr), n_val=len(xva), no_face_train=miss_tr, no_face_val=miss_va,
                   minutes=round((time.perf_counter() - t0) / 60, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **weights, groups=np.array(AGE_GROUPS), genders=np.array(GENDERS))
    (args.cache / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
