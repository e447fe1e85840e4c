# What the experiment scripts of bench/identity_tuning.md (issue 12b) share: the embeddings cache that
# extract.py writes and the others read or extend, the people in it, and the nearest-person match.
# Run the scripts from a worktree with FACELENS_HOME set, as `python bench/identity_tune/NAME.py tune`.
import pickle
from pathlib import Path

import numpy as np

CACHE = "/tmp/fh-wt12b"  # emb_HALF.pkl: {(person, file name): {"fused": {...} | None, "hog": {...} | None}}
PORTRAITS = Path("/work/shared/data/faces/portraits")


def load(half):
    """The cached embeddings of one half ("tune" or "held-out") of faces/portraits."""
    return pickle.load(open(f"{CACHE}/emb_{half}.pkl", "rb"))


def save(out, half):
    pickle.dump(out, open(f"{CACHE}/emb_{half}.pkl", "wb"))


def by_person(out):
    """person -> their photos' records, in file order; and the people sorted by name."""
    people = {}
    for (n, f), r in sorted(out.items()):
        people.setdefault(n, []).append(r)
    return people, sorted(people)


def gallery(people, known, vec, enrol=(0, 1)):
    """The enrolled vectors (photos ``enrol`` of each known person; ``vec(record)``, None to skip) and
    their person numbers (index in ``known``)."""
    G = []
    L = []
    for i, n in enumerate(known):
        for k in enrol:
            v = vec(people[n][k])
            if v is not None:
                G.append(v)
                L.append(i)
    return np.array(G), np.array(L)


def ranked(G, L, v):
    """(person number, distance to their nearest enrolled vector) for each enrolled person, nearest first."""
    d = np.linalg.norm(G - v, axis=1)
    per = {}
    for dist, l in zip(d, L):
        per[l] = min(per.get(l, 9), dist)
    return sorted(per.items(), key=lambda kv: kv[1])


def fused_photos(out):
    """(file name, record, RGB pixels) of each cached portrait where the fused detector found a face."""
    from facelens.tools.images import load_image

    for (n, f), r in out.items():
        if r["fused"] is not None:
            yield f, r, load_image(PORTRAITS / f).rgb


def embed_at(rgb, box):
    """dlib's 68 landmarks and embedding of the face in ``box`` (x, y, w, h)."""
    from facelens.tools import faces as F

    sh = F.landmark_shapes(rgb, [box])[0]
    return F.embed(rgb, [sh])[0]
