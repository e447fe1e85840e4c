# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys
import time
from pathlib import Path

import numpy as np
from common import save

from facelens.eval.domains import portrait_people
from facelens.tools import faces as F
from facelens.tools.images import load_image

half = sys.argv[1]
root = Path("/work/shared/data")
people = portrait_people(root, half)
out = {}
t_j = 0
n_j = 0
for n, paths in people.items():
    for p in paths:
        rgb = load_image(p).rgb
        rec = {}
        dets = F.detect_faces(rgb)
        hog = F.detect_faces(rgb, "hog")
        for key, ds in (("fused", dets), ("hog", hog)):
            if not ds:
                rec[key] = None
                continue
            d = max(ds, key=lambda d: d.box[2] * d.box[3])
            _, shapes = F.with_landmarks(rgb, [d])
            e = F.embed(rgb, shapes)[0]
            r = {"box": d.box, "det": d.detector, "e": e}
            if key == "fused":
                t = time.perf_counter()
                r["j10"] = F.embed(rgb, shapes, num_jitters=10)[0]
                r["dlib0"] = F.embed(rgb, shapes, num_jitters=1)[0]
                t_j += time.perf_counter() - t
                n_j += 1
                # mirrored
                flip = np.ascontiguousarray(rgb[:, ::-1])
                W = rgb.shape[1]
                x, y, w, h = d.box
                import dataclasses

                _, sh2 = F.with_landmarks(flip, [dataclasses.replace(d, box=(W - x - w, y, w, h))])
                r["flip"] = F.embed(flip, sh2)[0]
            rec[key] = r
        out[(n, p.name)] = rec
print("jitter10 s/face", t_j / max(n_j, 1))
save(out, half)
