"""Intent classification for the offline planner: nearest example phrasings by sentence embeddings.

The example phrasings of each question family (``prompts/nlu_exemplars.yaml``) are put in the same
canonical form as the questions (slot words replaced, the person referred to masked), embedded with
all-MiniLM-L6-v2 (:mod:`facelens.tools.sentence_embed`), and cached under FACELENS_HOME/models.
Without the model, hashed character 3-grams are used (less robust; ``encoder()`` says which).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from facelens import prompts
from facelens.tools import settings

log = logging.getLogger(__name__)

#: puts a phrasing in the canonical form the classifier compares (understanding hands over its own)
Normaliser = Callable[[str], str]


@lru_cache(maxsize=2)
def exemplars(prepare: Normaliser) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The example phrasings (in ``prepare``'s canonical form) and their intents."""
    data = prompts.load("nlu_exemplars")
    texts, labels = [], []
    for intent, phrases in data["intents"].items():
        for p in phrases:
            t = str(p).lower()
            texts.append(prepare(t))
            labels.append(intent)
    return tuple(texts), tuple(labels)


def _ngram_embed(texts: list[str]) -> np.ndarray:
    """Hashed character 3-gram bags, L2-normalised: the fallback when MiniLM is not installed."""
    out = np.zeros((len(texts), 4096), dtype=np.float32)
    for i, t in enumerate(texts):
        s = f"  {t}  "
        for j in range(len(s) - 2):
            out[i, int(hashlib.md5(s[j : j + 3].encode()).hexdigest()[:6], 16) % 4096] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@lru_cache(maxsize=1)
def encoder() -> str:
    from facelens.tools import sentence_embed

    if settings.value("nlu_encoder") == "ngram" or not sentence_embed.available():
        return "ngram"
    return "minilm"


def embed(texts: list[str]) -> np.ndarray:
    if encoder() == "ngram":
        return _ngram_embed(texts)
    from facelens.tools import sentence_embed

    return sentence_embed.embed(texts)


@lru_cache(maxsize=2)
def exemplar_matrix(kind: str, prepare: Normaliser) -> np.ndarray:
    """Embeddings of the exemplars, cached under FACELENS_HOME/models (written atomically)."""
    texts, _ = exemplars(prepare)
    key = hashlib.sha256(("\n".join(texts) + kind).encode()).hexdigest()[:16]
    path = None
    try:
        from facelens.tools.config import subdir

        path = subdir("models") / f"nlu-exemplars-{kind}-{key}.npy"
        if path.is_file():
            mat = np.load(path)
            if mat.shape[0] == len(texts):
                return mat
    except Exception as exc:  # an unreadable cache is recomputed  # noqa: BLE001
        log.debug("exemplar cache unavailable: %s", exc)
    mat = embed(list(texts))
    if path is not None:
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, mat)
            os.replace(tmp, path)  # atomic: never a half-written cache
        except OSError as exc:
            log.debug("could not cache exemplar embeddings: %s", exc)
    return mat


def classify(text: str, prepare: Normaliser) -> list[tuple[str, float]]:
    """Intents ranked by the similarity of their nearest exemplar (mean of the best two).

    Args:
        text: the question, already in canonical form.
        prepare: the normaliser that puts the example phrasings in that same form.
    """
    kind = encoder()
    mat = exemplar_matrix(kind, prepare)
    _, labels = exemplars(prepare)
    sims = mat @ embed([text])[0]
    best: dict[str, list[float]] = {}
    for lab, s in zip(labels, sims):
        best.setdefault(lab, []).append(float(s))
    scores = {lab: float(np.mean(sorted(v, reverse=True)[:2])) for lab, v in best.items()}
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
