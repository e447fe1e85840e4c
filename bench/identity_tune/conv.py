# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys

import numpy as np
from common import embed_at, fused_photos, load, save

half = sys.argv[1]
out = load(half)
m = np.array([0.04104478, 0.08208955, 0.91693291, 0.9070632])
d0 = []
d1 = []
big = []
for f, r, rgb in fused_photos(out):
    x, y, w, h = r["fused"]["box"]
    hw, hh = w / m[2], h / m[3]
    box = (int(round(x - m[0] * hw)), int(round(y - m[1] * hh)), int(round(hw)), int(round(hh)))
    r["fused"]["conv"] = embed_at(rgb, box)
    if r["hog"] is not None:
        a = np.linalg.norm(r["fused"]["e"] - r["hog"]["e"])
        b = np.linalg.norm(r["fused"]["conv"] - r["hog"]["e"])
        d0.append(a)
        d1.append(b)
        if a > 0.2:
            big.append((f, round(float(a), 3), round(float(b), 3), r["fused"]["box"], r["hog"]["box"], rgb.shape[:2]))
print(
    "dist to hog emb: before mean %.3f med %.3f p90 %.3f ; conv mean %.3f med %.3f p90 %.3f"
    % (np.mean(d0), np.median(d0), np.percentile(d0, 90), np.mean(d1), np.median(d1), np.percentile(d1, 90))
)
for b in big:
    print(b)
save(out, half)
