"""Fit the words'-emotion head on MELD (tools/text_emotion_model.py); choose on dev; report a held-out split.

    nice -n 10 python training/train_text_emotion.py --data ../shared/data/meld --cache /work/runs/meld-emb

1. Every utterance of train.csv and dev.csv is embedded with tools/sentence_embed.py (the runtime's own
   numpy MiniLM), cached in ``--cache`` as .npy files.
2. One tenth of the training dialogues (dialogue id % 10 == 0) is held out: never fitted on, never
   used to choose anything; its figures are reported as the untouched split.
3. A grid of multinomial logistic regressions (scikit-learn; the `train` extra) over: context weight
   (the utterance before, in the same dialogue), surface cues, C, class-weight power; chosen by
   weighted F1 on dev. The winner is refitted on the fitting part and written to
   tools/data/models/text_emotion.npz with MODEL_CARD_text_emotion.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tools" / "data" / "models"


def load(data: Path, split: str) -> list[dict[str, str]]:
    with (data / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def embeddings(rows: list[dict[str, str]], cache: Path, name: str) -> np.ndarray:
    from facelens.tools import sentence_embed

    path = cache / f"{name}.npy"
    if path.exists():
        x = np.load(path)
        if x.shape[0] == len(rows):
            return x
    t = time.time()
    x = sentence_embed.embed([r["text"] for r in rows]).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    print(f"embedded {name}: {len(rows)} utterances in {time.time() - t:.0f} s", file=sys.stderr)
    return x


def previous(rows: list[dict[str, str]], x: np.ndarray) -> np.ndarray:
    """The embedding of the utterance before each one in its dialogue (zeros for the first)."""
    idx = {(r["dialogue"], int(r["utterance"])): i for i, r in enumerate(rows)}
    out = np.zeros_like(x)
    for i, r in enumerate(rows):
        j = idx.get((r["dialogue"], int(r["utterance"]) - 1))
        if j is not None:
            out[i] = x[j]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "meld")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from facelens.tools.schema import EMOTIONS
    from facelens.tools.text_emotion import classify_lexicon
    from facelens.tools.text_emotion_model import surface

    train, dev = load(args.data, "train"), load(args.data, "dev")
    xt, xd = embeddings(train, args.cache, "train"), embeddings(dev, args.cache, "dev")
    pt, pd = previous(train, xt), previous(dev, xd)
    st = np.array([surface(r["text"], classify_lexicon(r["text"]).scores) for r in train], np.float32)
    sd = np.array([surface(r["text"], classify_lexicon(r["text"]).scores) for r in dev], np.float32)
    yt = np.array([EMOTIONS.index(r["label"]) for r in train])
    yd = np.array([EMOTIONS.index(r["label"]) for r in dev])
    held = np.array([int(r["dialogue"]) % 10 == 0 for r in train])
    fit = ~held
    counts = np.bincount(yt[fit], minlength=len(EMOTIONS))

    def feats(x: np.ndarray, p: np.ndarray, s: np.ndarray, cw: float, ns: int) -> np.ndarray:
        parts = [x] + ([cw * p] if cw else []) + ([s[:, :ns] * 2.0] if ns else [])
        return np.hstack(parts)

    def weights(power: float) -> dict[int, float]:
        w = (counts.sum() / np.maximum(counts, 1)) ** power
        w = w / (w * counts).sum() * counts.sum()
        return dict(enumerate(w))

    results = []
    for cw in (0.0, 0.5):
        for ns in (9, 16):
            for c in (0.5, 1.0):
                for power in (0.5,):
                    m = LogisticRegression(C=c, max_iter=3000, class_weight=weights(power))
                    m.fit(feats(xt[fit], pt[fit], st[fit], cw, ns), yt[fit])
                    pred = m.predict(feats(xd, pd, sd, cw, ns))
                    r = {
                        "context_weight": cw,
                        "n_surface": ns,
                        "C": c,
                        "class_weight_power": power,
                        "dev_weighted_f1": round(float(f1_score(yd, pred, average="weighted")), 4),
                        "dev_accuracy": round(float(accuracy_score(yd, pred)), 4),
                        "dev_macro_f1": round(float(f1_score(yd, pred, average="macro")), 4),
                    }
                    results.append((r, m))
                    print(json.dumps(r), file=sys.stderr, flush=True)
    best, model = max(results, key=lambda rm: rm[0]["dev_weighted_f1"])
    cw, ns = best["context_weight"], best["n_surface"]
    hp = model.predict(feats(xt[held], pt[held], st[held], cw, ns))
    best["heldout_weighted_f1"] = round(float(f1_score(yt[held], hp, average="weighted")), 4)
    best["heldout_accuracy"] = round(float(accuracy_score(yt[held], hp)), 4)
    best["heldout_n"] = int(held.sum())
    best["fit_n"] = int(fit.sum())
    best["dev_n"] = int(len(yd))
    name = f"minilm-meld-lr-{time.strftime('%Y%m%d')}"
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out / "text_emotion.npz",
        weights=model.coef_.astype(np.float32),
        bias=model.intercept_.astype(np.float32),
        context_weight=np.float32(cw),
        n_surface=np.int32(ns),
        surface_scale=np.float32(2.0),
        labels=np.array(EMOTIONS),
        name=np.array(name),
    )
    (args.out / "text_emotion.json").write_text(
        json.dumps({"name": name, "selected": best, "grid": [r for r, _ in results]}, indent=2) + "\n"
    )
    print(json.dumps(best, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
