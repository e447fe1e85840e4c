"""Reproduce the fitted constants and the ablation of the ``fused`` detector on the WIDER sample.

    nice -n 10 python bench/detection_fit.py [--data ../shared/data/wider] [--limit N]

Prints, on the shared sample (bench/detection.md has the numbers):
- the box mappings: WIDER head box from HOG's tight box (``detection_eval.WIDER_FROM_TIGHT["hog"]``) and
  HOG's tight box from BlazeFace's box (``blazeface.TIGHT_FROM_BLAZE``);
- HOG's score -> probability calibration (``detector_fusion.HOG_CALIBRATION``);
- recall/precision of each BlazeFace pass combination without re-checks (the ablation);
- the verifier's logistic regression (``detector_fusion.VERIFY_WEIGHTS``/``VERIFY_BIAS``) fitted on all
  photos, and its 2-fold cross-validated recall/precision (weights fitted on one half of the photos,
  scored on the other), the fair estimate since the constants are fitted on this same sample.
Needs scikit-learn (the ``dev`` extra). ~5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from facelens.eval.detection import SUBSETS, load_annotations, match, to_wider
from facelens.tools import blazeface as bf
from facelens.tools import detector_fusion as fu
from facelens.tools import faces
from facelens.tools.images import load_image

ROOT = Path(__file__).resolve().parents[1]


def score(ann: dict, preds: dict[str, list[tuple[np.ndarray, float]]]) -> str:
    """Recall per subset and precision, exactly as facelens.eval.detection counts them."""
    hits = {s: 0 for s in SUBSETS}
    tot = {s: 0 for s in SUBSETS}
    tp = n = 0
    for name, dets in preds.items():
        boxes = np.array([b for b, _ in dets]).reshape(-1, 4)
        found = match(boxes, np.array([s for _, s in dets]), ann[name]["boxes"])
        tp, n = tp + len(found), n + len(dets)
        for s in SUBSETS:
            hits[s] += sum(1 for i in ann[name][s] if i in found)
            tot[s] += len(ann[name][s])
    rec = " ".join(f"{s} {hits[s] / max(tot[s], 1):.3f}" for s in SUBSETS)
    return f"{rec}  precision {tp / max(n, 1):.3f} ({n} detections)"


def median_mapping(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Median (dx, dy, w, h) of target box relative to source box, in units of the source width/height."""
    rows = [
        (
            (t[0] + t[2] / 2 - s[0] - s[2] / 2) / s[2],
            (t[1] + t[3] / 2 - s[1] - s[3] / 2) / s[2],
            t[2] / s[2],
            t[3] / s[3],
        )
        for s, t in pairs
    ]
    return np.median(np.array(rows), axis=0).round(3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "wider"))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from sklearn.linear_model import LogisticRegression

    ann = load_annotations(args.data)
    names = sorted(ann)[: args.limit]
    cache = {}
    for i, name in enumerate(names):
        rgb = load_image(Path(args.data) / name).rgb
        per_pass = [bf.tiled_candidates(rgb, m, g) for m, g in fu.PASSES]
        merged = bf.merge(np.concatenate(per_pass))
        feats = [fu.candidate_features(rgb, c, per_pass) if c[4] < fu.SURE else None for c in merged]
        cache[name] = dict(
            per_pass=per_pass,
            merged=merged,
            feats=feats,
            hog0=faces.detect_hog(rgb, upsample=0, threshold=-0.5),
            hog1=faces.detect_hog(rgb, upsample=1, threshold=-0.5),
        )
        if i % 50 == 0:
            print(f"{i}/{len(names)} photos", flush=True)

    def wider_native(row: np.ndarray, w: int = 10**6, h: int = 10**6) -> np.ndarray:
        return to_wider(bf.to_tight_box(row, w, h), "hog")

    # box mappings
    hog_pairs, blaze_pairs = [], []
    for name, c in cache.items():
        truth = ann[name]["boxes"]
        for key in ("hog0", "hog1"):
            for d in c[key]:
                if d.score > 0 and len(truth):
                    ov = bf.iou(np.array([d.box], float), truth)[0]
                    if ov.max() > 0.3:
                        hog_pairs.append((np.array(d.box, float), truth[ov.argmax()]))
        hogs = np.array([d.box for d in c["hog1"] if d.score > 0], float).reshape(-1, 4)
        for row in c["per_pass"][2]:  # full range, 3 x 3 tiles
            if row[4] > 0.5 and len(hogs):
                ov = bf.iou(row[None, :4], hogs)[0]
                if ov.max() > 0.4:
                    blaze_pairs.append((row[:4], hogs[ov.argmax()]))
    print(f"WIDER from HOG tight (dx, dy, w, h) over {len(hog_pairs)} faces: {median_mapping(hog_pairs)}")
    print(f"HOG tight from BlazeFace (dx, dy, w, h) over {len(blaze_pairs)} faces: {median_mapping(blaze_pairs)}")

    # HOG alone and its calibration
    for key, up in (("hog0", 0), ("hog1", 1)):
        preds = {n: [(to_wider(d.box, "hog"), d.score) for d in c[key] if d.score >= 0.2] for n, c in cache.items()}
        print(f"hog upsample {up}: {score(ann, preds)}")
    xs, ys = [], []
    for name, c in cache.items():
        for d in c["hog0"]:
            xs.append(d.score)
            ys.append(
                bool(len(ann[name]["boxes"])) and bf.iou(to_wider(d.box, "hog")[None], ann[name]["boxes"]).max() >= 0.4
            )
    lr = LogisticRegression().fit(np.array(xs)[:, None], ys)
    print(f"HOG calibration (a, b): {lr.coef_[0, 0]:.2f}, {lr.intercept_[0]:.2f}")

    # ablation of BlazeFace passes, no re-check, candidates >= 0.5
    labels = {m: i for i, m in enumerate(fu.PASSES)}
    for sel in (fu.PASSES[:1], fu.PASSES[:2], fu.PASSES[:3], fu.PASSES):
        preds = {}
        for name, c in cache.items():
            cand = np.concatenate([c["per_pass"][labels[p]] for p in sel])
            cand = bf.merge(cand[cand[:, 4] >= 0.5]) if len(cand) else cand
            preds[name] = [(wider_native(r), r[4]) for r in cand]
        print(f"passes {['%s%d' % p for p in sel]}: {score(ann, preds)}")

    # the verifier: label = the candidate matches an annotated box at IoU >= 0.4
    rows, label, where = [], [], []
    for name, c in cache.items():
        for k, (cand, f) in enumerate(zip(c["merged"], c["feats"])):
            if f is None:
                continue
            truth = ann[name]["boxes"]
            rows.append(f)
            label.append(bool(len(truth)) and bf.iou(wider_native(cand)[None], truth).max() >= 0.4)
            where.append((name, k))
    X, y = np.array(rows), np.array(label)
    full = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    print(
        f"verifier weights {full.coef_[0].round(3).tolist()} bias {full.intercept_[0]:.3f} ({len(y)} doubtful candidates)"
    )
    photos = sorted(cache)
    rng = np.random.RandomState(0)
    rng.shuffle(photos)
    fold = {n: i % 2 for i, n in enumerate(photos)}
    prob = np.zeros(len(y))
    for k in (0, 1):
        tr = np.array([fold[n] != k for n, _ in where])
        model = LogisticRegression(C=1.0, max_iter=1000).fit(X[tr], y[tr])
        prob[~tr] = model.predict_proba(X[~tr])[:, 1]
    p_of = {w: p for w, p in zip(where, prob)}
    for keep in (0.4, 0.5, 0.6):
        preds = {}
        for name, c in cache.items():
            preds[name] = [
                (wider_native(r), p_of.get((name, k), r[4]))
                for k, r in enumerate(c["merged"])
                if (r[4] >= fu.SURE) or p_of[(name, k)] >= keep
            ]
        print(f"re-checked, 2-fold cross-validated verifier, keep >= {keep}: {score(ann, preds)}")


if __name__ == "__main__":
    main()
