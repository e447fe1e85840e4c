"""Issue 12: dlib vs SFace on faces/identity (deepface's test photos, 13 people): genuine/impostor pairs.

Experiment script of bench/identity_embedding.md; not part of the product. Same models argument as
sface_tune.py:  FACELENS_HOME=/tmp/fh OMP_NUM_THREADS=1 nice -n 5 python bench/identity_embedding/sface_identity_set.py MODELS_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sface_tune import DATA, SFACE, YUNET, models_argument, sface_session, yunet_landmarks  # noqa: E402

from facelens.eval.identity import load_labels  # noqa: E402
from facelens.tools import faces as F  # noqa: E402
from facelens.tools.images import load_image  # noqa: E402


def main() -> None:
    folder = DATA / "faces/identity"
    models = models_argument(folder, __doc__)
    if models is None:
        return
    sess = sface_session(models / SFACE)
    vecs: dict[str, list[np.ndarray]] = {"dlib": [], "sface": []}
    people = []
    for path, person in load_labels(folder):
        rgb = load_image(path).rgb
        dets = F.detect_faces(rgb)
        if not dets:
            continue
        d = max(dets, key=lambda d: d.box[2] * d.box[3])  # largest face, as eval/identity.py
        faces, shapes = F.with_landmarks(rgb, [d])
        lm = yunet_landmarks(rgb, d.box, models / YUNET)
        lm = np.array(faces[0].landmarks) if lm is None else lm
        bgr = np.ascontiguousarray(F.align_face(rgb, lm)[:, :, ::-1])
        v = sess.run(None, {"data": bgr.transpose(2, 0, 1)[None].astype(np.float32)})[0][0]
        vecs["dlib"].append(F.embed(rgb, shapes)[0])
        vecs["sface"].append(v / np.linalg.norm(v))
        people.append(person)
    P = np.array(people)
    same = P[:, None] == P[None, :]
    iu = np.triu_indices(len(P), 1)
    for key, grid in (("dlib", np.arange(0.30, 0.80, 0.01)), ("sface", np.arange(0.80, 1.30, 0.01))):
        X = np.array(vecs[key])
        D = np.linalg.norm(X[:, None] - X[None], axis=-1)
        gen, imp = D[iu][same[iu]], D[iu][~same[iu]]
        rows = [(t, (imp <= t).mean(), (gen > t).mean()) for t in grid]
        best = max((r for r in rows if r[1] <= 0.001), key=lambda r: r[0])
        eer = min(rows, key=lambda r: abs(r[1] - r[2]))
        print(
            f"{key:6s} faces {len(X)}  genuine max {gen.max():.3f}  impostor min {imp.min():.3f}  "
            f"FAR<=0.1%: thr {best[0]:.2f} FRR {best[2]:.4f}  equal error: thr {eer[0]:.2f} FAR {eer[1]:.4f} FRR {eer[2]:.4f}"
        )


if __name__ == "__main__":
    main()
