import json

import numpy as np
from common import cweights, f1s, gather, protocol, wf1
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

tr, dv, held, fit, A, B = protocol()


def base(D):
    return np.hstack([D["X"], 2 * D["S"]])


def mk():
    return LogisticRegression(C=1.0, max_iter=3000, class_weight=cweights(tr["y"][fit], 0.5))


# OOF base probs on fit part; full-fit model probs for held and dev
Xt = base(tr)
P_tr = np.zeros((len(Xt), 7))
fi = np.where(fit)[0]
for a, b in GroupKFold(5).split(fi, groups=tr["d"][fi]):
    m = mk().fit(Xt[fi[a]], tr["y"][fi[a]])
    P_tr[fi[b]] = m.predict_proba(Xt[fi[b]])
m0 = mk().fit(Xt[fit], tr["y"][fit])
P_tr[held] = m0.predict_proba(Xt[held])
P_dv = m0.predict_proba(base(dv))
np.save("/work/cache_meld/P_tr_oof.npy", P_tr)
np.save("/work/cache_meld/P_dv.npy", P_dv)
print(
    "base dev",
    round(wf1(dv["y"], P_dv.argmax(1)), 4),
    "oof fit",
    round(wf1(tr["y"][fit], P_tr[fit].argmax(1)), 4),
    flush=True,
)


def ctx(D, P, k, spk):
    parts = []
    for i in range(k):
        has = (D["prev"][:, i : i + 1] >= 0).astype(np.float32)
        parts += [gather(D, P, i), has]
        if spk:
            parts += [D["same"][:, i : i + 1]]
    return np.hstack(parts)


for k in (1, 2, 3):
    for spk in (0, 1):
        for g in (1.0, 3.0):
            # second stage: base features + context block (scaled by g)
            Ft = np.hstack([Xt, g * ctx(tr, P_tr, k, spk)])
            Fd = np.hstack([base(dv), g * ctx(dv, P_dv, k, spk)])
            m = mk().fit(Ft[fit], tr["y"][fit])
            pd = m.predict(Fd)
            ph = m.predict(Ft[held])
            print(json.dumps(dict(k=k, spk=spk, g=g, **f1s(tr, dv, held, A, B, pd, ph))), flush=True)
