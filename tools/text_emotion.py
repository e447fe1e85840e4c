"""The emotion in words, offline: a small hand-written lexicon with negation and intensifiers.

It reads what the words express ("this is unacceptable" -> angry), not what the speaker feels. It is
deliberately simple and transparent: every estimate lists the words that produced it, so the fusion
step and the user can see why. When an LLM is configured, the agent may ask it instead; this module
is the offline default and the fallback.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from pydantic import Field

from facelens.tools.models import package_data_path
from facelens.tools.schema import EMOTIONS, Result

#: words that flip or cancel the emotion word that follows within NEGATION_WINDOW tokens
NEGATIONS = {
    "not",
    "no",
    "never",
    "isn't",
    "wasn't",
    "don't",
    "doesn't",
    "didn't",
    "can't",
    "won't",
    "aren't",
    "hardly",
    "nothing",
    "without",
}
NEGATION_WINDOW = 3
#: words that strengthen the next emotion word
INTENSIFIERS = {
    "very": 1.5,
    "really": 1.4,
    "so": 1.3,
    "extremely": 1.8,
    "totally": 1.5,
    "absolutely": 1.6,
    "incredibly": 1.6,
    "too": 1.2,
    "completely": 1.5,
}
VALENCE = {"angry": -1.0, "disgust": -1.0, "fear": -0.8, "sad": -0.9, "happy": 1.0, "surprise": 0.2, "neutral": 0.0}

#: words of the angry family: frustration, disappointment and annoyance read as angry, not sad (an analyst
#: asking "which calls had a frustrated customer" means "I am frustrated and disappointed" too)
ANGRY_FAMILY = ("frustrat", "disappoint", "annoy", "irritat", "exasperat", "aggravat")

_TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*")
_CLAUSE = re.compile(r"[.,;:!?()\[\]\n]+|\s[-–—]+\s|\bbut\b")


class WordHit(Result):
    word: str  # the word as it appears (lower-cased)
    emotion: str  # the emotion it counts towards
    weight: float  # after negation and intensifiers
    negated: bool = False


class TextEmotion(Result):
    label: str  # the most probable of EMOTIONS; "neutral" when no emotion word is present
    scores: dict[str, float]  # distribution over EMOTIONS, summing to 1
    valence: float  # -1 (negative) .. +1 (positive)
    evidence: list[WordHit] = Field(default_factory=list)  # the words behind the estimate
    model: str = "lexicon"

    @property
    def confidence(self) -> float:
        return float(self.scores.get(self.label, 0.0))


@lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, list[tuple[str, float]]], list[tuple[str, str, float]]]:
    exact: dict[str, list[tuple[str, float]]] = {}
    stems: list[tuple[str, str, float]] = []
    text = package_data_path("emotion_lexicon.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, emotion, weight = line.split()
        if emotion not in EMOTIONS:
            raise ValueError(f"emotion_lexicon.txt: unknown emotion {emotion!r}")
        if word.endswith("*"):
            stems.append((word[:-1], emotion, float(weight)))
        else:
            exact.setdefault(word, []).append((emotion, float(weight)))
    stems.sort(key=lambda s: -len(s[0]))  # longest stem wins
    return exact, stems


def _lookup(token: str) -> list[tuple[str, float]]:
    if token.startswith(ANGRY_FAMILY):
        return [("angry", 0.9)]
    exact, stems = _lexicon()
    if token in exact:
        return exact[token]
    for stem, emotion, weight in stems:
        if token.startswith(stem):
            return [(emotion, weight)]
    return []


def classify_lexicon(text: str) -> TextEmotion:
    """Estimate the emotion the words express, with the hand-written lexicon alone.

    Negation ("not happy") turns a positive word into mild sadness and mutes a negative one;
    intensifiers ("very", "so") and exclamation marks strengthen it. Longer texts need more
    emotion words to move away from neutral.
    """
    lowered = text.lower().replace("’", "'")
    # a negation reaches only within its clause: "No, this is unacceptable" is not "not unacceptable"
    clauses = [_TOKEN.findall(c) for c in _CLAUSE.split(lowered)]
    tokens = [t for c in clauses for t in c]
    boost = 1.0 + min(0.5, 0.15 * lowered.count("!"))
    totals = dict.fromkeys(EMOTIONS, 0.0)
    totals["neutral"] = min(1.5, 0.5 + 0.02 * len(tokens))
    hits: list[WordHit] = []
    for clause in clauses:
        _score_clause(clause, boost, totals, hits)
    z = sum(totals.values())
    scores = {e: round(v / z, 4) for e, v in totals.items()}
    label = max(scores, key=scores.get)  # type: ignore[arg-type]
    emotional = 1.0 - scores["neutral"]
    # the valence of the emotion words themselves (0 when there are none)
    valence = sum(VALENCE[e] * p for e, p in scores.items()) / emotional if emotional > 1e-6 else 0.0
    return TextEmotion(label=label, scores=scores, valence=round(max(-1.0, min(1.0, valence)), 3), evidence=hits)


MODELS = ("minilm", "lexicon")
NEGATION_DAMP = 0.25  # a negated emotion word keeps this share of the learnt head's probability for it
LEXICON_BLEND = 0.75  # weight of the lexicon's explicit emotion words beside the learnt head (chosen on MELD dev)


def default_model() -> str:
    """``FACELENS_TEXT_EMOTION`` / ``text_emotion:`` in config.yaml (minilm | lexicon), else minilm where its
    sentence model is installed (:func:`facelens.tools.settings.text_emotion_choice`)."""
    from facelens.tools.settings import text_emotion_choice

    wanted = text_emotion_choice()[0]
    if wanted:
        return wanted
    return "minilm" if _learnt_available() else "lexicon"


@lru_cache(maxsize=1)
def _learnt_available() -> bool:
    try:
        from facelens.tools import text_emotion_model

        return text_emotion_model.available()
    except ImportError:
        return False


def classify_texts(
    texts: list[str], contexts: list[str | None] | None = None, *, model: str | None = None
) -> list[TextEmotion]:
    """The words' emotion of several utterances at once, each with the one before it as context.

    ``model="minilm"`` is the head learnt on MELD dialogue over MiniLM sentence embeddings
    (tools/text_emotion_model.py); ``"lexicon"`` the hand-written lexicon. Either way the evidence
    lists the lexicon's emotion words, so a reader sees which words point where; the valence is VADER's
    when vadersentiment is installed.
    """
    model = model or default_model()
    lex = [classify_lexicon(t) for t in texts]
    if model == "lexicon" or not texts:
        return lex
    from facelens.tools import text_emotion_model as tm

    probs = tm.predict(list(texts), contexts, [x.scores for x in lex])
    name = tm.head().name
    out = []
    for text, lx, p in zip(texts, lex, probs):
        scores = _angry_family(dict(zip(EMOTIONS, (round(float(v), 4) for v in blend_learnt(p, text, lx)))), lx)
        label = max(scores, key=scores.get)  # type: ignore[arg-type]
        v = tm.valence(text)
        out.append(
            TextEmotion(
                label=label,
                scores=scores,
                valence=round(lx.valence if v is None else v, 3),
                evidence=lx.evidence,
                model=name,
            )
        )
    return out


def _angry_family(scores: dict[str, float], lx: TextEmotion) -> dict[str, float]:
    """Where the words name frustration, disappointment or annoyance (not negated) and no sad word, the learnt
    head's sadness is that family's: its mass moves to angry ("I am disappointed" reads angry, not sad)."""
    family = [h for h in lx.evidence if h.word.startswith(ANGRY_FAMILY) and not h.negated]
    if not family or any(h.emotion == "sad" for h in lx.evidence) or scores["sad"] <= 0:
        return scores
    out = dict(scores)
    out["angry"] = round(out["angry"] + out["sad"], 4)
    out["sad"] = 0.0
    return out


def blend_learnt(p, text: str, lx: TextEmotion | None = None):  # type: ignore[no-untyped-def]
    """The learnt model's probabilities ``p`` (over EMOTIONS) with the lexicon's explicit words blended in.

    Where the lexicon found explicit emotion words, they count too: MELD's TV dialogue taught the head
    little about plain statements such as "I am really angry" or "I am furious". The blend weight is
    LEXICON_BLEND x the lexicon's emotional mass (at most 0.8); a negated emotion word damps that
    emotion's learnt probability. Training scores its epochs through this same function.
    """
    lx = lx or classify_lexicon(text)
    alpha = min(0.8, LEXICON_BLEND * (1.0 - lx.scores["neutral"]))
    q = _without_negated(p, lx)
    return (1 - alpha) * q + alpha * np.array([lx.scores[e] for e in EMOTIONS], dtype=np.float32)


def _without_negated(p, lx: TextEmotion):  # type: ignore[no-untyped-def]
    """Mean-pooled sentence embeddings barely see "not": "I am not angry" sits next to "I am angry".
    Where the lexicon found a negated emotion word, that emotion's learnt probability is damped."""
    negated = {e for h in lx.evidence if h.negated for e, _ in _lookup(h.word)}
    if not negated:
        return p
    q = p.copy()
    for e in negated:
        q[EMOTIONS.index(e)] *= NEGATION_DAMP
    return q / q.sum()


def classify_text(text: str, context: str | None = None, *, model: str | None = None) -> TextEmotion:
    """Estimate the emotion the words express (see :func:`classify_texts`); ``context``: the utterance before."""
    return classify_texts([text], [context], model=model)[0]


def _score_clause(tokens: list[str], boost: float, totals: dict[str, float], hits: list[WordHit]) -> None:
    """Add one clause's emotion words to ``totals`` (negation and intensifiers act within the clause)."""
    for i, tok in enumerate(tokens):
        found = _lookup(tok)
        if not found and i + 1 < len(tokens):
            found = _lookup(f"{tok}-{tokens[i + 1]}")  # "fed up", "sick of"
        if not found:
            continue
        before = tokens[max(0, i - NEGATION_WINDOW) : i]
        negated = any(b in NEGATIONS or b.endswith("n't") for b in before)
        scale = boost * max((INTENSIFIERS.get(b, 1.0) for b in before[-2:]), default=1.0)
        for emotion, weight in found:
            w = weight * scale
            if negated:
                # "not happy" leans sad; "not angry" is simply not angry
                emotion, w = ("sad", 0.8 * w) if emotion == "happy" else ("neutral", 0.3 * w)
            totals[emotion] += w
            hits.append(WordHit(word=tok, emotion=emotion, weight=round(w, 3), negated=negated))
