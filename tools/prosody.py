"""How something was said: loudness, pitch and speaking rate per utterance, summarised as cues.

The measures are simple and explainable (RMS level, autocorrelation pitch, words per voiced
minute). Cues are relative to a speaker baseline when one is given (the same person earlier in the
conversation or session), because a microphone's gain says nothing about whether someone is
shouting; without a baseline, conservative absolute thresholds are used.

Cues: "raised voice", "quiet", "fast", "slow", "flat" (monotone), "animated" (lively pitch),
"high pitch", "low pitch". They describe the voice, not the speaker's feelings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from facelens.tools.media import SAMPLE_RATE
from facelens.tools.schema import Result

FRAME = 640  # 40 ms at 16 kHz: long enough for two periods of a 75 Hz voice
HOP = 320  # 20 ms
F0_MIN, F0_MAX = 70.0, 400.0

#: cue thresholds (absolute: used without a baseline)
LOUD_DBFS, QUIET_DBFS = -14.0, -38.0
RAISED_DB = 5.0  # louder than the baseline by this much
FAST_WPM, SLOW_WPM = 240.0, 125.0  # articulation rate: pauses are not counted
FLAT_SEMITONES, ANIMATED_SEMITONES = 1.5, 4.5
PITCH_SHIFT_SEMITONES = 3.0


class VoiceFeatures(Result):
    duration: float  # seconds of audio
    voiced_seconds: float  # seconds with a pitched (spoken) sound
    loudness_dbfs: float  # RMS level of the voiced frames, dB re full scale (0 = clipping)
    peak_dbfs: float  # loudest 20 ms, dB re full scale
    pitch_hz: float | None  # median F0 of voiced frames; None when nothing is voiced
    pitch_range_semitones: float | None  # spread of F0 (10th..90th percentile), in semitones
    words: int | None  # word count, when a transcript is given
    rate_wpm: float | None  # words per minute of voiced speech


class VoiceCues(Result):
    features: VoiceFeatures
    cues: list[str] = Field(default_factory=list)  # e.g. ["raised voice", "fast"]
    arousal: float = 0.0  # -1 (subdued) .. +1 (agitated), from the cues; 0 = unremarkable
    baseline: bool = False  # True when the cues are relative to a speaker baseline

    def describe(self) -> str:
        return ", ".join(self.cues) if self.cues else "an unremarkable voice"


def _frames(audio: np.ndarray) -> np.ndarray:
    if audio.size < FRAME:
        audio = np.pad(audio, (0, FRAME - audio.size))
    n = 1 + (audio.size - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return audio[idx]


def _db(x: np.ndarray | float) -> np.ndarray | float:
    return 20.0 * np.log10(np.maximum(x, 1e-6))


def pitch_track(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """F0 per 20 ms frame by normalised autocorrelation; returns (f0 in Hz, voiced mask)."""
    frames = _frames(np.asarray(audio, dtype=np.float32))
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames * np.hanning(FRAME), n=2 * FRAME, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :FRAME]
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lo, hi = int(sample_rate / F0_MAX), int(sample_rate / F0_MIN)
    # only true local maxima count: the tail of the zero-lag peak is not a period
    seg = ac[:, lo - 1 : hi + 1]
    is_peak = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    lag = lo + np.argmax(np.where(is_peak, seg[:, 1:-1], -1.0), axis=1)
    peak = ac[np.arange(len(ac)), lag]
    rms = np.sqrt((frames**2).mean(axis=1))
    # voiced = periodic and clearly above the recording's noise floor
    floor = np.percentile(rms, 10) if len(rms) else 0.0
    loud = float(rms.max()) if len(rms) else 0.0
    voiced = (peak > 0.45) & (rms > max(min(3 * floor, 0.3 * loud), 10 ** (-50 / 20)))
    return sample_rate / lag.astype(np.float64), voiced


def speaking_seconds(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Seconds of speech (Silero VAD, tight padding): the denominator of the speaking rate."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if sample_rate != SAMPLE_RATE or audio.size == 0:
        return audio.size / sample_rate
    spans = get_speech_timestamps(
        audio, VadOptions(min_silence_duration_ms=300, speech_pad_ms=30), sampling_rate=sample_rate
    )
    return sum(s["end"] - s["start"] for s in spans) / sample_rate


def measure(audio: np.ndarray, words: int | None = None, sample_rate: int = SAMPLE_RATE) -> VoiceFeatures:
    """Loudness, pitch and (with a word count) speaking rate of one utterance (mono float32 samples)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    duration = audio.size / sample_rate
    if audio.size == 0:
        return VoiceFeatures(
            duration=0.0,
            voiced_seconds=0.0,
            loudness_dbfs=-120.0,
            peak_dbfs=-120.0,
            pitch_hz=None,
            pitch_range_semitones=None,
            words=words,
            rate_wpm=None,
        )
    f0, voiced = pitch_track(audio, sample_rate)
    rms = np.sqrt((_frames(audio) ** 2).mean(axis=1))
    voiced_s = float(voiced.sum() * HOP / sample_rate)
    level = float(_db(np.sqrt((rms[voiced] ** 2).mean()))) if voiced.any() else float(_db(np.sqrt((audio**2).mean())))
    pitch = spread = None
    if voiced.sum() >= 5:
        v = f0[voiced]
        med = float(np.median(v))
        # fold octave errors (autocorrelation's classic failure) back next to the median
        v = np.where(v > 1.6 * med, v / 2, np.where(v < 0.62 * med, v * 2, v))
        pitch = float(np.median(v))
        p10, p90 = np.percentile(v, [10, 90])
        spread = float(12 * np.log2(p90 / p10))
    rate = None
    if words and voiced_s > 0.3:
        rate = words / (max(voiced_s, speaking_seconds(audio, sample_rate)) / 60.0)
    return VoiceFeatures(
        duration=round(duration, 3),
        voiced_seconds=round(voiced_s, 3),
        loudness_dbfs=round(level, 1),
        peak_dbfs=round(float(_db(rms.max())), 1),
        pitch_hz=round(pitch, 1) if pitch else None,
        pitch_range_semitones=round(spread, 2) if spread is not None else None,
        words=words,
        rate_wpm=round(rate, 1) if rate else None,
    )


def baseline_of(history: Sequence[VoiceFeatures]) -> VoiceFeatures | None:
    """A speaker baseline: the median of earlier utterances' features (None without history)."""
    usable = [h for h in history if h.voiced_seconds > 0.3]
    if not usable:
        return None

    def med(vals: list[float | None]) -> float | None:
        got = [v for v in vals if v is not None]
        return float(np.median(got)) if got else None

    return VoiceFeatures(
        duration=float(sum(h.duration for h in usable)),
        voiced_seconds=float(sum(h.voiced_seconds for h in usable)),
        loudness_dbfs=float(med([h.loudness_dbfs for h in usable])),
        peak_dbfs=float(med([h.peak_dbfs for h in usable])),
        pitch_hz=med([h.pitch_hz for h in usable]),
        pitch_range_semitones=med([h.pitch_range_semitones for h in usable]),
        words=None,
        rate_wpm=med([h.rate_wpm for h in usable]),
    )


def cues_from(features: VoiceFeatures, baseline: VoiceFeatures | None = None) -> VoiceCues:
    """Turn measurements into cues, relative to ``baseline`` when given."""
    cues: list[str] = []
    arousal = 0.0
    f = features
    if f.voiced_seconds < 0.2:
        return VoiceCues(features=f, cues=["no voice"], arousal=0.0, baseline=baseline is not None)
    if baseline is not None:
        loud = f.loudness_dbfs - baseline.loudness_dbfs >= RAISED_DB
        quiet = baseline.loudness_dbfs - f.loudness_dbfs >= RAISED_DB
    else:
        loud, quiet = f.loudness_dbfs >= LOUD_DBFS, f.loudness_dbfs <= QUIET_DBFS

    def note(*options: tuple[bool, str, float]) -> None:
        """The first option whose condition holds adds its cue and moves the arousal by its weight."""
        nonlocal arousal
        for holds, cue, weight in options:
            if holds:
                cues.append(cue)
                arousal += weight
                return

    note((loud, "raised voice", 0.5), (quiet, "quiet", -0.3))
    if f.rate_wpm is not None:
        base_rate = baseline.rate_wpm if baseline is not None and baseline.rate_wpm else None
        note(
            (f.rate_wpm >= (base_rate * 1.25 if base_rate else FAST_WPM), "fast", 0.3),
            (f.rate_wpm <= (base_rate * 0.75 if base_rate else SLOW_WPM), "slow", -0.2),
        )
    if f.pitch_range_semitones is not None:
        note(
            (f.pitch_range_semitones <= FLAT_SEMITONES, "flat", -0.3),
            (f.pitch_range_semitones >= ANIMATED_SEMITONES, "animated", 0.2),
        )
    if baseline is not None and f.pitch_hz and baseline.pitch_hz:
        shift = 12 * np.log2(f.pitch_hz / baseline.pitch_hz)
        note((shift >= PITCH_SHIFT_SEMITONES, "high pitch", 0.3), (shift <= -PITCH_SHIFT_SEMITONES, "low pitch", 0.0))
    return VoiceCues(
        features=f, cues=cues, arousal=round(max(-1.0, min(1.0, arousal)), 2), baseline=baseline is not None
    )


def analyze_voice(
    audio: np.ndarray, words: int | None = None, history: Sequence[VoiceFeatures] = (), sample_rate: int = SAMPLE_RATE
) -> VoiceCues:
    """Measure one utterance and describe it, relative to the speaker's earlier utterances if any."""
    return cues_from(measure(audio, words, sample_rate), baseline_of(history))
