import csv

import numpy as np

from facelens.tools.schema import EMOTIONS as E
from facelens.tools.text_emotion import classify_lexicon
from facelens.tools.text_emotion_model import surface

for s in ("train", "dev"):
    rows = list(csv.DictReader(open(f"/work/shared/data/meld/{s}.csv", encoding="utf-8", newline="")))
    S = np.array([surface(r["text"], classify_lexicon(r["text"]).scores) for r in rows], np.float32)
    L = np.array([[classify_lexicon(r["text"]).scores[e] for e in E] for r in rows], np.float32)
    np.save(f"/work/cache_meld/{s}_surface.npy", S)
    np.save(f"/work/cache_meld/{s}_lex.npy", L)
    print(s, S.shape)
