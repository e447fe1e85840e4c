import json

import numpy as np
from common import cweights, f1s, gather, protocol
from sklearn.linear_model import LogisticRegression

tr, dv, held, fit, A, B = protocol()
print(
    "dev ordered check",
    (np.diff(dv["d"]) >= 0).all(),
    "missing prev1",
    (dv["prev"][:, 0] < 0).mean(),
    (tr["prev"][:, 0] < 0).mean(),
)


def feats(D, cfg, drop=None):
    parts = [D["X"], 2 * D["S"]]
    nk = cfg["k"]
    for k in range(nk):
        e = gather(D, D["X"], k)
        parts.append(cfg["w"] * e)
        if cfg.get("spk"):
            parts.append(D["same"][:, k : k + 1])
            parts.append((D["prev"][:, k : k + 1] >= 0).astype(np.float32))
        if cfg.get("s"):
            parts.append(gather(D, 2 * D["S"], k) * cfg["w"])
    return np.hstack(parts)


def run(cfg, C=1.0, pw=0.5):
    m = LogisticRegression(C=C, max_iter=3000, class_weight=cweights(tr["y"][fit], pw))
    Xt = feats(tr, cfg)[fit]
    m.fit(Xt, tr["y"][fit])
    pd = m.predict(feats(dv, cfg))
    ph = m.predict(feats(tr, cfg)[held])
    r = dict(cfg=cfg, C=C, pw=pw, **f1s(tr, dv, held, A, B, pd, ph))
    print(json.dumps(r), flush=True)


run(dict(k=0, w=0))
for k in (1, 2):
    for w in (0.3, 0.6):
        run(dict(k=k, w=w, spk=1))
run(dict(k=1, w=0.6, spk=1, s=1))
