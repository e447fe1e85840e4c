import json

import numpy as np
from common import base_probs, blend, protocol, wf1

tr, dv, held, fit, A, B = protocol()
P_tr, P_dv = base_probs()


def gather(D, M, k):
    j = D["prev"][:, k]
    out = np.full((len(j), M.shape[1]), np.nan)
    out[j >= 0] = M[j[j >= 0]]
    return out


def adjust(D, P, b, betas, spk=0.0):
    z = np.log(P + 1e-6) + b
    for k, beta in enumerate(betas):
        if beta == 0:
            continue
        q = gather(D, P, k)
        has = ~np.isnan(q[:, 0])
        w = beta * (1 + spk * (D["same"][:, k] - 0.5) * 2)  # spk>0: same speaker counts more
        z[has] += w[has, None] * np.log(q[has] + 1e-3)
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def score(D, Q, m):
    return round(wf1(D["y"][m], blend(D, Q)[m].argmax(1)), 4)


def report(tag, b, betas, spk=0.0):
    Qt, Qd = adjust(tr, P_tr, b, betas, spk), adjust(dv, P_dv, b, betas, spk)
    print(
        json.dumps(
            dict(
                tag=tag,
                b=[round(x, 2) for x in b],
                betas=betas,
                spk=spk,
                oof=score(tr, Qt, fit),
                held=score(tr, Qt, held),
                devA=score(dv, Qd, A),
                devB=score(dv, Qd, B),
                dev=score(dv, Qd, np.ones(len(dv["y"]), bool)),
            )
        ),
        flush=True,
    )


report("base", np.zeros(7), [])
# context betas, chosen on OOF fit
for betas in ([0.1], [0.2], [0.3], [0.2, 0.1], [0.3, 0.15], [0.2, 0.1, 0.05]):
    for spk in (0.0, 0.5):
        report("ctx", np.zeros(7), betas, spk)
print("---- bias tuning on OOF fit")
BIAS_GRID = np.arange(-1.0, 1.01, 0.1)


def tune(D, P, m, iters=3, grid=BIAS_GRID):
    b = np.zeros(7)
    for _ in range(iters):
        for c in range(7):
            best = None
            for g in grid:
                bb = b.copy()
                bb[c] = g
                s = wf1(D["y"][m], blend(D, adjust(D, P, bb, []))[m].argmax(1))
                if best is None or s > best[0] + 1e-9:
                    best = (s, g)
            b[c] = best[1]
    return b - b[4]


b = tune(tr, P_tr, fit)
report("bias-oof", b, [])
bA = tune(dv, P_dv, A)
report("bias-devA", bA, [])
