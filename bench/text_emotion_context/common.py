import csv

import numpy as np
from sklearn.metrics import f1_score

E = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def load(s):
    rows = list(csv.DictReader(open(f"/work/shared/data/meld/{s}.csv", encoding="utf-8", newline="")))
    X = np.load(f"/work/cache_meld/{s}.npy")
    S = np.load(f"/work/cache_meld/{s}_surface.npy")
    L = np.load(f"/work/cache_meld/{s}_lex.npy")
    y = np.array([E.index(r["label"]) for r in rows])
    d = np.array([int(r["dialogue"]) for r in rows])
    u = np.array([int(r["utterance"]) for r in rows])
    sp = [r["speaker"] for r in rows]
    idx = {(d[i], u[i]): i for i in range(len(rows))}
    K = 3
    prev = -np.ones((len(rows), K), int)  # index of k-th previous utterance (present rows only)
    for i in range(len(rows)):
        for k in range(1, K + 1):
            prev[i, k - 1] = idx.get((d[i], u[i] - k), -1)
    same = np.zeros((len(rows), K), np.float32)
    for i in range(len(rows)):
        for k in range(K):
            j = prev[i, k]
            if j >= 0:
                same[i, k] = float(sp[j] == sp[i])
    return dict(rows=rows, X=X, S=S, L=L, y=y, d=d, u=u, prev=prev, same=same)


def wf1(y, p):
    return f1_score(y, p, average="weighted")


def cweights(y, power):
    c = np.bincount(y, minlength=7)
    w = (c.sum() / np.maximum(c, 1)) ** power
    w = w / (w * c).sum() * c.sum()
    return dict(enumerate(w))
