import json
import sys

import numpy as np
from common import base_probs, cweights, protocol, wf1
from sklearn.linear_model import LogisticRegression

tr, dv, held, fit, A, B = protocol()
P_tr, P_dv = base_probs()


def nxt(D):
    idx = {(D["d"][i], D["u"][i]): i for i in range(len(D["y"]))}
    return np.array([idx.get((D["d"][i], D["u"][i] + 1), -1) for i in range(len(D["y"]))])


def g(P, j):
    out = np.zeros_like(P)
    out[j >= 0] = np.log(P[j[j >= 0]] + 1e-3) - np.log(1e-3) * 0
    has = (j >= 0)[:, None].astype(float)
    out[j < 0] = 0
    return np.hstack([out, has])


def F(D, P, use_prev, use_next, spk):
    parts = [np.log(P + 1e-3)]
    for k in range(use_prev):
        parts.append(g(P, D["prev"][:, k]))
        if spk:
            parts.append(D["same"][:, k : k + 1])
    if use_next:
        parts.append(g(P, nxt(D)))
    return np.hstack(parts)


def blend(D, Q, m, a=0.75):
    L = D["L"][m]
    alpha = np.clip(a * (1 - L[:, 4]), 0, 0.8)[:, None]
    return (1 - alpha) * Q + alpha * L


# the whole grid; `python e5.py --next-only` reruns only the rows with the next utterance, at C 0.1
# (bench/text_emotion_context.md: they were rerun alone after the grid was stopped)
GRID = ((0, 0, 0), (1, 0, 0), (1, 0, 1), (2, 0, 1), (0, 1, 0), (1, 1, 1), (2, 1, 1)), (0.1, 1.0)
if "--next-only" in sys.argv[1:]:
    GRID = ((0, 1, 0), (1, 1, 1)), (0.1,)
for up, un, spk in GRID[0]:
    for C in GRID[1]:
        m = LogisticRegression(C=C, max_iter=2000, class_weight=cweights(tr["y"][fit], 0.5)).fit(
            F(tr, P_tr, up, un, spk)[fit], tr["y"][fit]
        )
        Qd = m.predict_proba(F(dv, P_dv, up, un, spk))
        Qh = m.predict_proba(F(tr, P_tr, up, un, spk)[held])
        Bd = blend(dv, Qd, np.ones(len(Qd), bool))
        Bh = blend(tr, Qh, held)
        print(
            json.dumps(
                dict(
                    prev=up,
                    next=un,
                    spk=spk,
                    C=C,
                    held=round(wf1(tr["y"][held], Bh.argmax(1)), 4),
                    devA=round(wf1(dv["y"][A], Bd[A].argmax(1)), 4),
                    devB=round(wf1(dv["y"][B], Bd[B].argmax(1)), 4),
                    dev=round(wf1(dv["y"], Bd.argmax(1)), 4),
                    dev_head=round(wf1(dv["y"], Qd.argmax(1)), 4),
                )
            ),
            flush=True,
        )
