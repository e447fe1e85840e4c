"""Evaluate the words' emotion (tools/text_emotion.py) on a labelled CSV: ``facelens eval text-emotion CSV``.

The CSV needs the columns ``text`` and ``label`` (one of facelens' seven emotions; a few common
synonyms are mapped: joy -> happy, anger -> angry, sadness -> sad, surprised -> surprise...). Reported:
accuracy, weighted and macro F1 (weighted by each class's share, as MELD papers report it), per-class
recall and ``n``. Computed with numpy only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from facelens.tools.errors import InputError, NotFoundError
from facelens.tools.schema import EMOTIONS

SYNONYMS = {
    "joy": "happy",
    "happiness": "happy",
    "anger": "angry",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "scared": "fear",
    "disgusted": "disgust",
    "calm": "neutral",
}
MAX_ROWS = 1_000_000


def read_labelled(path: str | Path) -> tuple[list[str], list[str], list[str | None]]:
    """Texts, labels and contexts from a CSV with ``text`` and ``label`` columns (clear errors for anything else).

    With ``dialogue`` and ``utterance`` columns too (as in MELD), each text's context is the utterance
    before it in the same dialogue; otherwise contexts are None.
    """
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"No such file: {p}.")
    if p.is_dir():
        raise InputError(f"{p} is a folder.", hint="Give a CSV file with the columns text,label.")
    try:
        with p.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "text" not in fields or "label" not in fields:
                raise InputError(
                    f"{p.name} has no text and label columns (found: {', '.join(fields) or 'none'}).",
                    hint="The first line must be a header with the columns text,label.",
                )
            texts, labels, keys = [], [], []
            threaded = "dialogue" in fields and "utterance" in fields
            for i, row in enumerate(reader, 2):
                row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                label = SYNONYMS.get(row["label"].strip().lower(), row["label"].strip().lower())
                if label not in EMOTIONS:
                    raise InputError(
                        f"{p.name} line {i}: unknown label {row['label']!r}.",
                        hint=f"Use one of: {', '.join(EMOTIONS)}.",
                    )
                texts.append(row["text"])
                labels.append(label)
                keys.append((row["dialogue"].strip(), row["utterance"].strip()) if threaded else None)
                if len(texts) > MAX_ROWS:
                    raise InputError(f"{p.name} has more than {MAX_ROWS:,} rows.", hint="Evaluate a sample of it.")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p.name} is not UTF-8 text.", hint="Save it as a UTF-8 CSV.") from exc
    except csv.Error as exc:
        raise InputError(f"{p.name} is not a readable CSV: {exc}.") from exc
    if not texts:
        raise InputError(f"{p.name} has no rows.", hint="Add rows of text,label under the header.")
    index = {k: t for k, t in zip(keys, texts) if k is not None}
    contexts: list[str | None] = []
    for k in keys:
        prev = None
        if k is not None and k[1].lstrip("-").isdigit():
            prev = index.get((k[0], str(int(k[1]) - 1)))
        contexts.append(prev)
    return texts, labels, contexts


def scores(truth: list[str], pred: list[str]) -> dict[str, object]:
    """accuracy, weighted_f1, macro_f1 (over the classes present in the truth), per-class recall, n."""
    t = np.array([EMOTIONS.index(x) for x in truth])
    p = np.array([EMOTIONS.index(x) for x in pred])
    f1s, support, recall = [], [], {}
    for k, name in enumerate(EMOTIONS):
        tp = int(np.sum((t == k) & (p == k)))
        n_true, n_pred = int(np.sum(t == k)), int(np.sum(p == k))
        if n_true == 0:
            continue
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_true
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        support.append(n_true)
        recall[name] = round(rec, 4)
    w = np.array(support, float) / max(1, sum(support))
    return {
        "accuracy": round(float(np.mean(t == p)), 4),
        "weighted_f1": round(float(np.dot(w, f1s)), 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "recall": recall,
        "n": int(t.size),
    }


def evaluate_text_emotion(path: str | Path, model: str | None = None) -> dict[str, object]:
    """Classify every row's text with the words'-emotion estimator (default: the shipped default) and score it."""
    from facelens.tools.text_emotion import classify_texts

    texts, labels, contexts = read_labelled(path)
    found = []
    for i in range(0, len(texts), 256):  # batches: the sentence model embeds many texts at once
        found += classify_texts(texts[i : i + 256], contexts[i : i + 256], model=model)
    out = scores(labels, [f.label for f in found])
    out["model"] = found[0].model
    return out
