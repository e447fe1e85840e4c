# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys

import numpy as np
from common import by_person, gallery, load, ranked

out = load(sys.argv[1])
people, names = by_person(out)
known, strangers = names[0::2], names[1::2]
dets = {}
for r in out.values():
    if r["fused"]:
        dets[r["fused"]["det"]] = dets.get(r["fused"]["det"], 0) + 1
print(
    "detectors",
    dets,
    "missing fused",
    sum(r["fused"] is None for r in out.values()),
    "missing hog",
    sum(r["hog"] is None for r in out.values()),
)
# hog vs fused on same photo
dd = [np.linalg.norm(r["fused"]["e"] - r["hog"]["e"]) for r in out.values() if r["fused"] and r["hog"]]
print("fused-vs-hog emb dist: mean %.3f p90 %.3f max %.3f" % (np.mean(dd), np.percentile(dd, 90), np.max(dd)))


def vec(r, key, src="fused"):
    x = r[src] if r[src] else r["fused"]
    if x is None:
        return None
    if key == "flipavg":
        v = (x["e"] + x["flip"]) / 2
        return v
    return x[key]


def run(ekey, qkey, mode="nn", thr=0.53, margin=0.0, src="fused"):
    G, L = gallery(people, known, lambda r: vec(r, ekey, src))
    if mode == "centroid":
        C = np.array([G[L == i].mean(0) for i in range(len(known)) if (L == i).any()])
        CL = np.array([i for i in range(len(known)) if (L == i).any()])
        G, L = C, CL

    def ident(v):
        if v is None:
            return None
        s = ranked(G, L, v)
        best, bd = s[0]
        sd = s[1][1] if len(s) > 1 else 9
        if bd > thr or sd - bd < margin:
            return None
        return best

    right = sum(ident(vec(people[n][2], qkey, src)) == i for i, n in enumerate(known))
    probes = [r for n in strangers for r in people[n]]
    rej = sum(ident(vec(r, qkey, src)) is None for r in probes)
    return right / len(known), rej / len(probes)


for args in [
    ("conv", "conv"),
    ("ref", "ref"),
    ("ref", "ref", "centroid"),
    ("e", "e"),
    ("e", "e", "centroid"),
    ("j10", "j10"),
    ("j10", "e"),
    ("e", "j10"),
    ("dlib0", "dlib0"),
    ("flipavg", "flipavg"),
    ("flipavg", "flipavg", "centroid"),
    ("j10", "j10", "centroid"),
]:
    print(args, ["%.2f:%.3f/%.3f" % ((t,) + run(*args, thr=t)) for t in (0.45, 0.48, 0.5, 0.53, 0.55)])
print("hog src", ["%.2f:%.3f/%.3f" % ((t,) + run("e", "e", thr=t, src="hog")) for t in (0.45, 0.5, 0.53)])
for m in (0.0, 0.02, 0.04, 0.06, 0.08):
    print("margin", m, ["%.2f:%.3f/%.3f" % ((t,) + run("e", "e", thr=t, margin=m)) for t in (0.5, 0.53, 0.55, 0.58)])
