"""Word accuracy of short spoken questions and digit strings (``facelens bench transcribe-short``).

A fixed corpus over the product's question vocabulary ("how many people are smiling", "is Alice
here", "four two seven", "yes"), synthesised with espeak-ng at 16 kHz and as telephone audio (8 kHz
stored, read back at 16 kHz the way any 8 kHz file is). Two splits, written before any setting was
tried: ``tune`` (one voice) chose the :class:`~facelens.tools.speech.ShortOptions`; ``heldout``
(other sentences, other voices and speeds) is only reported.

Scores: word accuracy = 1 - WER (total edits / reference words, after lowercasing, dropping
punctuation and spelling numerals digit by digit: "427" -> "four two seven"), exact-utterance
accuracy, and latency per clip (warm model).
"""

from __future__ import annotations

import random
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facelens import prompts
from facelens.eval import media as sample_media
from facelens.tools import media
from facelens.tools.speech import ShortOptions, Transcriber

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

#: (espeak-ng voice, words per minute) for each split
VOICES = {"tune": [("en-us", 160)], "heldout": [("en-gb", 140), ("en-us+f3", 175)]}
RATES = (16000, 8000)


def digit_strings(n: int, seed: int) -> list[str]:
    """``n`` strings of 1 to 4 digits, spoken as words ("four two seven"), fixed by ``seed``."""
    rng = random.Random(seed)
    return [" ".join(DIGIT_WORDS[rng.randrange(10)] for _ in range(1 + i % 4)) for i in range(n)]


def questions(split: str) -> list[str]:
    """The spoken questions of a split ("tune" or "heldout"), from prompts/eval/speech_questions.yaml."""
    return list(prompts.load("eval/speech_questions")[split])


def corpus(split: str) -> list[tuple[str, str]]:
    """(kind, text) for a split: kind is "question" or "digits"."""
    if split == "tune":
        return [("question", q) for q in questions("tune")] + [("digits", d) for d in digit_strings(25, seed=14)]
    if split == "heldout":
        return [("question", q) for q in questions("heldout")] + [("digits", d) for d in digit_strings(15, seed=1414)]
    raise ValueError(f"unknown split {split!r}")


def normalise(text: str) -> list[str]:
    """Lowercase words without punctuation; numerals spelt digit by digit."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"\d", lambda m: f" {DIGIT_WORDS[int(m.group())]} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edits(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class Clip:
    split: str
    kind: str  # "question" | "digits"
    rate: int  # 16000 or 8000 (telephone)
    voice: str
    text: str
    audio: np.ndarray = field(repr=False)  # 16 kHz float32, as the transcriber receives it


@dataclass
class Score:
    """Word errors and latency of one group of clips (a split, kind and rate), clip by clip (``add``)."""

    clips: int = 0
    ref_words: int = 0  # words in the reference texts
    edits: int = 0  # word edits from the references to the transcripts
    exact: int = 0  # clips transcribed word for word
    seconds: list[float] = field(default_factory=list)  # transcription time of each clip

    def add(self, ref: list[str], hyp: list[str], seconds: float) -> None:
        self.clips += 1
        self.ref_words += len(ref)
        self.edits += edits(ref, hyp)
        self.exact += ref == hyp
        self.seconds.append(seconds)

    def to_dict(self) -> dict:
        s = np.asarray(self.seconds or [0.0])
        return {
            "clips": self.clips,
            "word_accuracy": round(1 - self.edits / max(self.ref_words, 1), 3),
            "exact": round(self.exact / max(self.clips, 1), 3),
            "latency_ms_median": round(1000 * float(np.median(s)), 1),
            "latency_ms_p95": round(1000 * float(np.percentile(s, 95)), 1),
        }


def make_clips(splits: tuple[str, ...] = ("tune", "heldout"), rates: tuple[int, ...] = RATES) -> list[Clip]:
    """Synthesise every clip (espeak-ng); 8 kHz clips go through an 8 kHz WAV file and back."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for split in splits:
            for voice, speed in VOICES[split]:
                for kind, text in corpus(split):
                    audio = sample_media.speak(text, voice=voice, speed=speed)
                    for rate in rates:
                        a = audio
                        if rate != media.SAMPLE_RATE:
                            a = media.load_audio(sample_media.write_audio(Path(tmp) / "clip.wav", audio, rate=rate))
                        out.append(Clip(split, kind, rate, f"{voice}@{speed}", text, a))
    return out


def evaluate(clips: list[Clip], transcriber: Transcriber, short: bool = True, errors: list | None = None) -> dict:
    """Scores per split, kind and rate ("tune/digits/8000"), and per split ("tune/all")."""
    scores: dict[str, Score] = {}
    for c in clips:
        t = transcriber.transcribe(c.audio, words=False, short=short)
        ref, hyp = normalise(c.text), normalise(t.text)
        for key in (f"{c.split}/{c.kind}/{c.rate}", f"{c.split}/all"):
            scores.setdefault(key, Score()).add(ref, hyp, t.seconds)
        if errors is not None and ref != hyp:
            errors.append({"split": c.split, "rate": c.rate, "voice": c.voice, "ref": c.text, "hyp": t.text})
    return {k: v.to_dict() for k, v in sorted(scores.items())}


def run(
    splits: tuple[str, ...] = ("tune", "heldout"), options: ShortOptions | None = None, model: str | None = None
) -> dict:
    """Before (the long-recording settings) and after (``short=True`` with ``options``) on the same clips."""
    clips = make_clips(splits)
    tr = Transcriber(model, short_options=options).load()
    tr.transcribe(clips[0].audio, short=True)  # warm-up
    before = evaluate(clips, tr, short=False)
    errors: list = []
    after = evaluate(clips, tr, short=True, errors=errors)
    return {
        "model": f"{tr.backend}:{tr.model}",
        "options": tr.short_options.describe(),
        "before": before,
        "after": after,
        "errors_after": errors,
    }
