# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys

import numpy as np
from common import by_person, gallery, load

out = load(sys.argv[1])
key = sys.argv[2] if len(sys.argv) > 2 else "e"
people, names = by_person(out)
known, strangers = names[0::2], names[1::2]
G, L = gallery(people, known, lambda r: r["fused"][key] if r["fused"] else None)


def scores(v, agg):
    d = np.linalg.norm(G - v, axis=1)
    per = np.array([agg(d[L == i]) if (L == i).any() else 9 for i in range(len(known))])
    o = np.argsort(per)
    return o[0], per[o[0]], per[o[1]], np.sort(per)[1:11].mean()


Q = [(i, people[n][2]["fused"][key]) for i, n in enumerate(known) if people[n][2]["fused"]]
P = [r["fused"][key] for n in strangers for r in people[n] if r["fused"]]
for aname, agg in (("min", np.min), ("mean", np.mean), ("max", np.max)):
    qs = [(i,) + scores(v, agg) for i, v in Q]
    ps = [scores(v, agg) for v in P]
    best = []
    for t in np.arange(0.40, 0.70, 0.01):
        for rt in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7):
            top1 = sum(b == i and d <= t and d / d2 <= rt for i, b, d, d2, c in qs) / len(known)
            rej = sum(not (d <= t and d / d2 <= rt) for b, d, d2, c in ps) / len(P)
            best.append((min(top1 - 0.97, rej - 0.95), top1, rej, round(t, 2), rt))
    best.sort(reverse=True)
    print(aname, [(round(a, 3), round(b, 3), round(c, 3), t, rt) for a, b, c, t, rt in best[:4]])
    # cohort normalisation: d / mean of next 10 persons
    best = []
    for t in np.arange(0.5, 0.9, 0.01):
        top1 = sum(b == i and d / c <= t for i, b, d, d2, c in qs) / len(known)
        rej = sum(not (d / c <= t) for b, d, d2, c in ps) / len(P)
        best.append((min(top1 - 0.97, rej - 0.95), top1, rej, round(t, 2)))
    best.sort(reverse=True)
    print(" cohort", [tuple(round(x, 3) for x in b) for b in best[:3]])
