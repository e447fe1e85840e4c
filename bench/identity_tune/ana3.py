# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys

import numpy as np
from common import by_person, gallery, load, ranked

out = load(sys.argv[1])
people, names = by_person(out)


def ev(key, known, strangers, t, rt, enrol=(0, 1), q=2):
    G, L = gallery(people, known, lambda r: r["fused"][key] if r["fused"] else None, enrol)

    def ident(v):
        s = ranked(G, L, v)
        b, bd = s[0]
        sd = s[1][1]
        return b if bd <= t and bd <= rt * sd else None

    top = sum(
        people[n][q]["fused"] is not None and ident(people[n][q]["fused"][key]) == i for i, n in enumerate(known)
    ) / len(known)
    P = [r["fused"][key] for n in strangers for r in people[n] if r["fused"]]
    return top, sum(ident(v) is None for v in P) / len(P)


splits = {"A": (names[0::2], names[1::2]), "B": (names[1::2], names[0::2])}
for key in ("e", "conv", "hb", "hc"):
    for t, rt in ((0.53, 1.0), (0.53, 0.95), (0.52, 1.0), (0.52, 0.95), (0.50, 1.0), (0.50, 0.95)):
        row = []
        for s, (k, st) in splits.items():
            for enrol, q in (((0, 1), 2), ((1, 2), 0), ((0, 2), 1)):
                row.append(ev(key, k, st, t, rt, enrol, q))
        a = np.array(row)
        print(key, t, rt, "mean top1 %.3f rej %.3f" % tuple(a.mean(0)), " ".join("%.2f/%.2f" % tuple(x) for x in a))
