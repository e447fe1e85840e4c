"""The words' emotion learnt from real dialogue: all-MiniLM-L6-v2 sentence embeddings + a linear head.

The head (``tools/data/models/text_emotion.npz``, a few tens of kB) was fitted on MELD's training
utterances (TV dialogue, labels mapped to facelens' seven emotions) by ``training/train_text_emotion.py``
and chosen on MELD dev; see ``MODEL_CARD_text_emotion.md``. Its inputs are the sentence embedding
(tools/sentence_embed.py, numpy only), optionally the embedding of the utterance before it in the
same conversation, and a few surface cues (VADER valence, exclamation and question marks, capitals,
length, the lexicon's scores). Everything runs on numpy; nothing is downloaded.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import numpy as np

from facelens.tools.errors import ModelError
from facelens.tools.models import package_data_path
from facelens.tools.schema import EMOTIONS

MODEL_FILE = "models/text_emotion.npz"
_WORD = re.compile(r"[A-Za-z']+")


@lru_cache(maxsize=1)
def _vader():  # type: ignore[no-untyped-def]
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    return SentimentIntensityAnalyzer()


def valence(text: str) -> float | None:
    """VADER's compound valence of ``text`` (-1..+1), or None when vadersentiment is not installed."""
    v = _vader()
    return None if v is None else float(v.polarity_scores(text)["compound"])


def surface(text: str, lexicon_scores: dict[str, float]) -> list[float]:
    """The hand-made cues beside the embedding (same order as in training)."""
    v = _vader()
    pol = v.polarity_scores(text) if v is not None else {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
    words = _WORD.findall(text)
    return [
        pol["neg"],
        pol["neu"],
        pol["pos"],
        pol["compound"],
        min(text.count("!"), 3) / 3,
        min(text.count("?"), 3) / 3,
        min(len(words), 40) / 40,
        sum(w.isupper() and len(w) > 1 for w in words) / max(1, len(words)),
        float("..." in text),
    ] + [float(lexicon_scores.get(e, 0.0)) for e in EMOTIONS]


class Head:
    """The linear head and how its input is built (read from the .npz)."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        self.weights = data["weights"].astype(np.float32)  # (7, D)
        self.bias = data["bias"].astype(np.float32)  # (7,)
        self.context_weight = float(data["context_weight"])  # 0: no context input
        self.n_surface = int(data["n_surface"])  # how many surface cues (0..16)
        self.surface_scale = float(data["surface_scale"])
        self.name = str(data["name"])
        # a fine-tuned encoder ships as low-rank adapters (lora_a:NAME, lora_b:NAME, B already scaled),
        # merged into the packaged MiniLM's weights at load: W' = W + B @ A
        self.deltas = {
            k.split(":", 1)[1]: data["lora_b:" + k.split(":", 1)[1]].astype(np.float32) @ data[k].astype(np.float32)
            for k in data
            if k.startswith("lora_a:")
        }
        self.emb_scale = float(data["emb_scale"]) if "emb_scale" in data else 1.0
        # 1: the encoder reads "[CLS] utterance before [SEP] utterance [SEP]" (trained with --context)
        self.context_pairs = bool(int(data["context_pairs"])) if "context_pairs" in data else False
        self.max_tokens = int(data["max_tokens"]) if "max_tokens" in data else 128
        if [str(x) for x in data["labels"]] != list(EMOTIONS) or self.weights.shape[0] != len(EMOTIONS):
            raise ModelError("text_emotion.npz was made for other emotion labels.", hint="Reinstall facelens.")

    def features(self, emb: np.ndarray, ctx: np.ndarray | None, cues: list[list[float]]) -> np.ndarray:
        parts = [emb * self.emb_scale]
        if self.context_weight:
            parts.append(self.context_weight * (ctx if ctx is not None else np.zeros_like(emb)))
        if self.n_surface:
            parts.append(np.asarray(cues, np.float32)[:, : self.n_surface] * self.surface_scale)
        return np.hstack(parts)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weights.T + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class Model:
    """What text_emotion.npz holds: one head, or several members whose probabilities are averaged
    (keys prefixed ``m0/``, ``m1/``, ... and ``members`` = their number)."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        if "members" in data:
            n = int(data["members"])
            self.members = [
                Head({key.split("/", 1)[1]: v for key, v in data.items() if key.startswith(f"m{i}/")}) for i in range(n)
            ]
            self.name = str(data["name"])
        else:
            self.members = [Head(data)]
            self.name = self.members[0].name
        self._encoders: dict[int, object] = {}
        self._lock = threading.Lock()

    def encoder(self, i: int):  # type: ignore[no-untyped-def]
        """Member i's sentence encoder: the packaged MiniLM with its adapters merged in (built once)."""
        from facelens.tools import sentence_embed

        with self._lock:
            if i not in self._encoders:
                d = self.members[i].deltas
                self._encoders[i] = sentence_embed.model().adapted(d) if d else sentence_embed.model()
            return self._encoders[i]


@lru_cache(maxsize=1)
def head() -> Model:
    """The shipped model (loaded once)."""
    path = package_data_path(MODEL_FILE)
    try:
        with np.load(path, allow_pickle=False) as data:
            return Model({k: data[k] for k in data.files})
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"Cannot read the words'-emotion model {path.name}: {exc}", hint="Reinstall facelens."
        ) from exc


def available() -> bool:
    """Can the learnt model run here? (its head is shipped, the MiniLM weights and tokenizer are installed)"""
    from facelens.tools import sentence_embed

    return package_data_path(MODEL_FILE).is_file() and sentence_embed.available()


def predict(
    texts: list[str], contexts: list[str | None] | None = None, lexicon_scores: list[dict[str, float]] | None = None
) -> np.ndarray:
    """Probabilities over EMOTIONS for each text (rows), given the utterance before each (or None);
    the mean of the members' probabilities."""
    from facelens.tools import sentence_embed

    model = head()
    if not texts:
        return np.zeros((0, len(EMOTIONS)), np.float32)
    lex = lexicon_scores or [{} for _ in texts]
    cues = [surface(t, s) for t, s in zip(texts, lex)]
    out = np.zeros((len(texts), len(EMOTIONS)), np.float32)
    for i, h in enumerate(model.members):
        enc = model.encoder(i)
        if h.context_pairs:
            ctxs = list(contexts) if contexts is not None else [None] * len(texts)
            emb = sentence_embed.embed(list(texts), encoder=enc, contexts=ctxs, max_tokens=h.max_tokens)
        else:
            emb = sentence_embed.embed(list(texts), encoder=enc)
        ctx = None
        if h.context_weight and contexts is not None:
            have = [j for j, c in enumerate(contexts) if c]
            ctx = np.zeros_like(emb)
            if have:
                ctx[have] = sentence_embed.embed([str(contexts[j]) for j in have], encoder=enc)
        out += h.probabilities(h.features(emb, ctx, cues))
    return out / len(model.members)
