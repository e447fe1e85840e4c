# Experiment script of bench/identity_tuning.md (issue 12b): tuning half only (even-numbered faces/portraits people).
# Run from a worktree with FACELENS_HOME set; reads/writes /tmp/fh-wt12b/emb_tune.pkl. Not part of the product.
import sys
from pathlib import Path

from common import load, save

from facelens.eval.domains import portrait_people
from facelens.tools import faces as F
from facelens.tools.images import load_image

half, tag = sys.argv[1], sys.argv[2]
out = load(half)
for n, paths in portrait_people(Path("/work/shared/data"), half).items():
    for p in paths:
        rgb = load_image(p).rgb
        ds = F.detect_faces(rgb)
        r = out[(n, p.name)]
        if not ds or r["fused"] is None:
            continue
        d = max(ds, key=lambda d: d.box[2] * d.box[3])
        _, sh = F.with_landmarks(rgb, [d])
        r["fused"][tag] = F.embed(rgb, sh)[0]
        r["fused"][tag + "_n"] = len(ds)
save(out, half)
