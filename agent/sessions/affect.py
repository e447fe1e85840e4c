"""Fuse what the face, the voice and the words say into one affect estimate per conversation turn.

Each channel keeps its own evidence, and disagreements are flagged instead of averaged away
("smiling, but the words are negative"), because a conflict is often the most useful thing to know.

- face: an :class:`~facelens.tools.schema.EmotionEstimate` (photo or camera frame), when a face is seen;
- voice: :class:`~facelens.tools.prosody.VoiceCues` (loudness, pitch, rate) carry arousal, not valence;
- words: :class:`~facelens.tools.text_emotion.TextEmotion` (the offline lexicon, or an LLM's reading).

The fused distribution is a confidence-weighted mix of the face and word distributions, tilted by
the voice's arousal towards high-arousal emotions (angry, fear, surprise, happy) or low ones (sad,
neutral). ``tone`` suggests how the assistant should answer; the prompt text for it lives in prompts/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from facelens.tools.prosody import VoiceCues
from facelens.tools.schema import EMOTIONS, EmotionEstimate, Result
from facelens.tools.text_emotion import VALENCE, TextEmotion, classify_text

if TYPE_CHECKING:
    from facelens.tools.settings import LLMSettings

#: how activated each emotion usually is (-1 calm .. +1 agitated)
AROUSAL = {"angry": 0.8, "fear": 0.7, "surprise": 0.7, "happy": 0.4, "disgust": 0.3, "neutral": -0.2, "sad": -0.5}
#: the assistant tone suggested for each fused label (keys of prompts' tone guidance)
TONES = {
    "angry": "de-escalate",
    "disgust": "de-escalate",
    "fear": "reassure",
    "sad": "support",
    "happy": "warm",
    "surprise": "clarify",
    "neutral": "neutral",
}


class ChannelEvidence(Result):
    channel: str  # "face", "voice" or "words"
    label: str | None  # the channel's own emotion label (None for the voice: it carries arousal only)
    confidence: float  # 0..1, how much this channel counted
    valence: float | None  # -1..+1 (None for the voice)
    arousal: float  # -1..+1
    summary: str  # e.g. "looks happy (0.82)", "raised voice, fast", "negative words: terrible, angry"


class AffectEstimate(Result):
    label: str  # the fused emotion, one of EMOTIONS
    confidence: float  # probability of the label in the fused distribution
    scores: dict[str, float]  # fused distribution over EMOTIONS
    valence: float  # -1..+1
    arousal: float  # -1..+1
    channels: list[ChannelEvidence] = Field(default_factory=list)  # the evidence, per channel
    conflicts: list[str] = Field(default_factory=list)  # human-readable disagreements between channels
    tone: str = (
        "neutral"  # suggested reply tone: de-escalate, reassure, support, warm, clarify, neutral, acknowledge-mixed
    )
    summary: str = ""  # one sentence for the user


def _valence(scores: dict[str, float]) -> float:
    return float(sum(VALENCE.get(e, 0.0) * p for e, p in scores.items()))


def _arousal(scores: dict[str, float]) -> float:
    return float(sum(AROUSAL.get(e, 0.0) * p for e, p in scores.items()))


def _vec(scores: dict[str, float]) -> np.ndarray:
    v = np.array([max(0.0, float(scores.get(e, 0.0))) for e in EMOTIONS])
    return v / v.sum() if v.sum() > 0 else np.full(len(EMOTIONS), 1.0 / len(EMOTIONS))


def fuse(
    face: EmotionEstimate | None = None, voice: VoiceCues | None = None, words: TextEmotion | None = None
) -> AffectEstimate:
    """Combine the available channels (any may be None) into one :class:`AffectEstimate`."""
    channels: list[ChannelEvidence] = []
    mix = np.zeros(len(EMOTIONS))
    total = 0.0
    if face is not None:
        # like the words, a face counts by how expressive it is: a calm (neutral) face says little about
        # how someone feels, so it must not outvote angry words in a raised voice
        w = float(face.confidence) if face.label != "neutral" else 0.3 * float(face.confidence)
        mix += w * _vec(face.scores)
        total += w
        channels.append(
            ChannelEvidence(
                channel="face",
                label=face.label,
                confidence=round(w, 3),
                valence=round(_valence(face.scores), 3),
                arousal=round(_arousal(face.scores), 3),
                summary=f"looks {face.label} ({w:.2f})",
            )
        )
    if words is not None:
        # words count by how emotional they are: a neutral sentence says little about affect
        w = float(1.0 - words.scores.get("neutral", 1.0)) if words.label != "neutral" else 0.3 * float(words.confidence)
        mix += w * _vec(words.scores)
        total += w
        shown = ", ".join(("not " if h.negated else "") + h.word for h in words.evidence[:5])
        kind = "negative" if words.valence < -0.2 else "positive" if words.valence > 0.2 else "neutral"
        summary = f"{kind} words" + (f": {shown}" if shown else "")
        channels.append(
            ChannelEvidence(
                channel="words",
                label=words.label,
                confidence=round(w, 3),
                valence=words.valence,
                arousal=round(_arousal(words.scores), 3),
                summary=summary,
            )
        )
    if total > 0:
        # weak evidence stays weak: the part of the unit weight no channel claims is spread evenly
        spare = max(0.0, 1.0 - total)
        fused = (mix + spare * np.full(len(EMOTIONS), 1.0 / len(EMOTIONS))) / (total + spare)
    else:
        fused = _vec({"neutral": 1.0})
    if voice is not None and "no voice" not in voice.cues:
        a = voice.arousal
        tilt = np.array([1.0 + a * AROUSAL[e] for e in EMOTIONS]).clip(0.2, None)
        fused = fused * tilt
        fused = fused / fused.sum()
        channels.append(
            ChannelEvidence(
                channel="voice",
                label=None,
                confidence=round(min(1.0, abs(a)), 3),
                valence=None,
                arousal=a,
                summary=voice.describe(),
            )
        )
    scores = {e: round(float(p), 4) for e, p in zip(EMOTIONS, fused)}
    label = max(scores, key=scores.get)  # type: ignore[arg-type]
    valence = _valence(scores)
    arousal = 0.5 * _arousal(scores) + 0.5 * (voice.arousal if voice is not None else _arousal(scores))
    conflicts = _conflicts(face, voice, words)
    tone = "acknowledge-mixed" if conflicts else TONES[label]
    summary = _summary(label, scores[label], channels, conflicts)
    return AffectEstimate(
        label=label,
        confidence=scores[label],
        scores=scores,
        valence=round(valence, 3),
        arousal=round(float(arousal), 3),
        channels=channels,
        conflicts=conflicts,
        tone=tone,
        summary=summary,
    )


def _conflicts(face: EmotionEstimate | None, voice: VoiceCues | None, words: TextEmotion | None) -> list[str]:
    out = []
    face_pos = face is not None and face.label == "happy" and face.confidence >= 0.4
    face_neg = face is not None and face.label in ("angry", "disgust", "fear", "sad") and face.confidence >= 0.4
    words_neg = words is not None and words.label != "neutral" and words.valence <= -0.3
    words_pos = words is not None and words.label != "neutral" and words.valence >= 0.3
    cues = set(voice.cues) if voice is not None else set()
    if face_pos and words_neg:
        out.append("smiling, but the words are negative")
    if face_neg and words_pos:
        out.append(f"the words are positive, but the face looks {face.label}")  # type: ignore[union-attr]
    if face_pos and "raised voice" in cues:
        out.append("smiling, but the voice is raised")
    if words_pos and "flat" in cues:
        out.append("positive words in a flat voice (fatigue or sarcasm?)")
    if words_pos and "raised voice" in cues and not face_pos:
        out.append("positive words, but the voice is raised")
    return out


def _summary(label: str, p: float, channels: list[ChannelEvidence], conflicts: list[str]) -> str:
    if not channels:
        return "No face, voice or words to read."
    evidence = "; ".join(f"{c.channel}: {c.summary}" for c in channels)
    text = f"Overall the person comes across as {label} ({p:.2f}) — {evidence}."
    if conflicts:
        text += " Mixed signals: " + "; ".join(conflicts) + "."
    return text


def words_emotion(text: str, backend: str | LLMSettings | None = None, model: str | None = None) -> TextEmotion:
    """The words' emotion: the OpenAI(-compatible) LLM when ``backend`` resolves to one (the caller's
    :class:`~facelens.tools.settings.LLMSettings`, "openai", or None = the user's setting; see
    :func:`facelens.tools.settings.words_llm`), else offline. An LLM failure or an unreadable reply
    falls back to the offline reader (``model`` says which one answered)."""
    import json
    import logging

    from facelens.tools.settings import words_llm

    llm = words_llm(backend)
    if llm is None or not text.strip():
        return classify_text(text)
    from facelens import prompts

    model = model or llm.model or "gpt-4o-mini"
    try:
        from facelens.tools.openai_client import make_client

        client = make_client(llm, purpose="the words' emotion")
        reply = client.chat.completions.create(
            model=model,
            temperature=0,
            messages=[
                {"role": "system", "content": prompts.render("voice", "words_emotion_system")},
                {"role": "user", "content": prompts.render("voice", "words_emotion_user", text=text)},
            ],
        )
        raw = (reply.choices[0].message.content or "").strip()
        data = json.loads(raw[raw.find("{") : raw.rfind("}") + 1])
        scores = {e: max(0.0, float(data["scores"].get(e, 0.0))) for e in EMOTIONS}
        z = sum(scores.values())
        if z <= 0:
            raise ValueError("all scores are zero")
        scores = {e: round(v / z, 4) for e, v in scores.items()}
    except Exception as exc:  # network, server, or a reply that is not the JSON asked for
        logging.getLogger(__name__).warning("LLM words-emotion failed (%s); using the lexicon", exc)
        return classify_text(text)
    from facelens.tools.text_emotion import WordHit

    label = max(scores, key=scores.get)  # type: ignore[arg-type]
    emotional = 1.0 - scores["neutral"]
    valence = sum(VALENCE[e] * p for e, p in scores.items()) / emotional if emotional > 1e-6 else 0.0
    hits = [
        WordHit(word=str(w).lower(), emotion=label, weight=1.0) for w in data.get("evidence", [])[:10] if str(w).strip()
    ]
    return TextEmotion(
        label=label,
        scores=scores,
        valence=round(max(-1.0, min(1.0, valence)), 3),
        evidence=hits,
        model=f"openai:{model}",
    )
