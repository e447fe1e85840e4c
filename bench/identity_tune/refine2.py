# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys

import numpy as np
from common import embed_at, fused_photos, load, save

from facelens.tools import faces as F

half = sys.argv[1]
out = load(half)
rel = np.load("/tmp/fh-wt12b/rel.npy")


def refbox(p):
    x0, y0 = p.min(0)
    x1, y1 = p.max(0)
    w = x1 - x0
    h = y1 - y0
    return (int(round(x0 + rel[0] * w)), int(round(y0 + rel[1] * h)), int(round(rel[2] * w)), int(round(rel[3] * h)))


d0 = []
d1 = []
fr = []
for f, r, rgb in fused_photos(out):
    box = r["fused"]["box"]
    for it in range(2):
        sh = F.landmark_shapes(rgb, [box])[0]
        p = np.array([(q.x, q.y) for q in sh.parts()], float)
        box = refbox(p)
    r["fused"]["ref"] = embed_at(rgb, box)
    if r["hog"] is not None:
        d0.append(np.linalg.norm(r["fused"]["e"] - r["hog"]["e"]))
        d1.append(np.linalg.norm(r["fused"]["ref"] - r["hog"]["e"]))
        fb = np.array(r["fused"]["box"], float)
        hb = np.array(r["hog"]["box"], float)
        fr.append([(fb[0] - hb[0]) / hb[2], (fb[1] - hb[1]) / hb[3], fb[2] / hb[2], fb[3] / hb[3]])
print("fused box rel to hog box median", np.median(fr, 0))
print(
    "dist to hog emb: before mean %.3f p90 %.3f ; refined mean %.3f p90 %.3f"
    % (np.mean(d0), np.percentile(d0, 90), np.mean(d1), np.percentile(d1, 90))
)
save(out, half)
