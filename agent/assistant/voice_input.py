"""Voice input for the assistant: record from the microphone, transcribe, read the voice and the words.

Two ways to end an utterance:
- ``"vad"`` (default): recording starts when speech starts and stops after ``silence_ms`` of quiet
  (energy end-pointing against the room's noise floor, measured in the first 300 ms);
- ``"push"``: press Enter to start and Enter again to stop (push-to-talk on a terminal).

The microphone goes through ``sounddevice`` (PortAudio). A machine without PortAudio or without an
input device gets a clear error that says what to install or plug in, never a crash.

    >>> utt = listen()                  # speak; returns when you stop
    >>> utt.text, utt.cues.cues, utt.affect.summary
"""

from __future__ import annotations

import logging
import queue
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from facelens.agent.sessions.affect import AffectEstimate, fuse, words_emotion
from facelens.tools.errors import DependencyError, InputError, MediaError
from facelens.tools.media import SAMPLE_RATE
from facelens.tools.prosody import VoiceCues, VoiceFeatures, baseline_of, cues_from, measure
from facelens.tools.schema import EmotionEstimate
from facelens.tools.speech import Transcriber, Transcript

if TYPE_CHECKING:
    from facelens.tools.settings import LLMSettings

log = logging.getLogger(__name__)

CHUNK = 480  # 30 ms at 16 kHz
MODES = ("vad", "push")


@dataclass(frozen=True)
class SpokenTurn:
    """One spoken turn: the words, how they sounded, and the affect fused from them."""

    audio: np.ndarray = field(repr=False)  # 16 kHz mono float32
    text: str  # what was said
    transcript: Transcript  # with segment and word timestamps
    cues: VoiceCues  # loudness, pitch, rate and their cues
    affect: AffectEstimate  # voice + words (+ face, when a frame was given) fused


def _sounddevice():
    try:
        import sounddevice as sd
    except ImportError as exc:
        raise DependencyError(
            "The package 'sounddevice' is not installed (needed for the microphone).", hint="pip install sounddevice"
        ) from exc
    except OSError as exc:  # the wheel is there but the PortAudio library is not
        raise DependencyError(
            f"Cannot use the microphone: {exc}.",
            hint="Install PortAudio: apt-get install libportaudio2 (Linux) or brew install portaudio (macOS).",
        ) from exc
    return sd


def input_devices() -> list[str]:
    """Names of the audio input devices PortAudio can see (empty when there are none)."""
    sd = _sounddevice()
    try:
        return [d["name"] for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    except Exception as exc:  # PortAudioError when the host has no audio system at all
        log.info("no audio devices: %s", exc)
        return []


def _check_input(sd, device: int | str | None) -> None:
    try:
        sd.check_input_settings(device=device, channels=1, samplerate=SAMPLE_RATE, dtype="float32")
    except Exception as exc:
        names = input_devices()
        raise MediaError(
            f"No usable microphone{f' {device!r}' if device is not None else ''}: {exc}.",
            hint=f"Input devices found: {', '.join(names)}."
            if names
            else "Plug in or enable a microphone (none was found), or type instead of using --voice.",
        ) from exc


def endpoint(
    chunks: Iterable[np.ndarray], *, silence_ms: int = 800, max_seconds: float = 30.0, start_timeout: float = 10.0
) -> np.ndarray:
    """Cut one utterance out of a stream of 16 kHz chunks: from the first speech to ``silence_ms``
    of quiet after it (with 300 ms of lead-in kept). Returns empty audio if nobody spoke within
    ``start_timeout`` seconds.
    """
    pre: list[np.ndarray] = []
    kept: list[np.ndarray] = []
    floor: float | None = None
    calib: list[float] = []
    loud_run = quiet = 0.0
    started = False
    heard = 0.0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if not chunk.size:
            continue
        dur = chunk.size / SAMPLE_RATE
        heard += dur
        rms = float(np.sqrt((chunk**2).mean()))
        if floor is None:
            calib.append(rms)
            if heard >= 0.3:
                floor = max(float(np.median(calib)), 10 ** (-60 / 20))
        threshold = max((floor or 10 ** (-60 / 20)) * 4, 10 ** (-45 / 20))
        loud = rms > threshold
        if not started:
            pre.append(chunk)
            pre = pre[-max(1, int(0.3 / dur)) :]
            loud_run = loud_run + dur if loud else 0.0
            if loud_run >= 0.09:  # three 30 ms chunks of sound
                started = True
                kept.extend(pre)
            elif heard >= start_timeout:
                return np.zeros(0, np.float32)
            continue
        kept.append(chunk)
        quiet = quiet + dur if not loud else 0.0
        if quiet * 1000 >= silence_ms or sum(c.size for c in kept) / SAMPLE_RATE >= max_seconds:
            break
    return np.concatenate(kept) if kept else np.zeros(0, np.float32)


def _stream_chunks(sd, device: int | str | None, stop: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
    q: queue.Queue[np.ndarray] = queue.Queue()

    def callback(indata, frames, time_info, status) -> None:  # runs on PortAudio's thread
        if status:
            log.debug("audio status: %s", status)
        q.put(indata[:, 0].copy())

    with sd.InputStream(
        samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=CHUNK, device=device, callback=callback
    ):
        while not (stop and stop()):
            try:
                yield q.get(timeout=1.0)
            except queue.Empty:
                continue


def microphone_chunks(device: int | str | None, stop: Callable[[], bool] | None = None) -> Iterator[np.ndarray]:
    """The microphone's audio in blocks of CHUNK samples (16 kHz mono float32) until ``stop()`` says so.

    Raises:
        DependencyError: sounddevice or PortAudio is missing.
        MediaError: no usable input device.
    """
    sd = _sounddevice()
    _check_input(sd, device)
    yield from _stream_chunks(sd, device, stop)


def record(
    mode: str = "vad",
    *,
    device: int | str | None = None,
    silence_ms: int = 800,
    max_seconds: float = 30.0,
    prompt: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Record one utterance from the microphone (16 kHz mono float32).

    Raises:
        DependencyError: sounddevice or PortAudio is missing.
        MediaError: no usable input device.
        InputError: unknown mode.
    """
    if mode not in MODES:
        raise InputError(f"Unknown recording mode '{mode}'.", hint=f"Choose one of: {', '.join(MODES)}.")
    sd = _sounddevice()
    _check_input(sd, device)
    say = prompt or (lambda m: print(m, file=sys.stderr, flush=True))
    if mode == "vad":
        say("listening... (speak; a pause ends the question)")
        return endpoint(_stream_chunks(sd, device), silence_ms=silence_ms, max_seconds=max_seconds)
    input("press Enter to talk")
    say("recording... press Enter to stop")
    import threading

    done = threading.Event()
    threading.Thread(target=lambda: (input(), done.set()), daemon=True).start()
    got: list[np.ndarray] = []
    for chunk in _stream_chunks(sd, device, stop=done.is_set):
        got.append(chunk)
        if sum(c.size for c in got) >= max_seconds * SAMPLE_RATE:
            break
    return np.concatenate(got) if got else np.zeros(0, np.float32)


def understand_speech(
    audio: np.ndarray,
    transcriber: Transcriber | None = None,
    history: list[VoiceFeatures] | None = None,
    face: EmotionEstimate | None = None,
    words_backend: str | LLMSettings | None = None,
) -> SpokenTurn:
    """Transcribe an utterance and read its voice cues and words; fuse them (and the face, if given).

    ``words_backend``: the chat's resolved LLM settings or "openai" to let that LLM read the words, anything
    else keeps them on this machine; None follows the user's backend setting (:func:`facelens.tools.settings.words_llm`).
    """
    # spoken questions: short-clip settings, no word timestamps (nothing here reads them; with them and the
    # short-question prompt Whisper runs on past the question and falls back through its temperatures:
    # 5.6 s instead of 0.9 s for a 3-second question, same text)
    transcript = (transcriber or Transcriber()).transcribe(audio, short=True, words=False)
    features = measure(audio, words=len(transcript.text.split()) or None)
    cues = cues_from(features, baseline_of(history or []))
    words = words_emotion(transcript.text, backend=words_backend) if transcript.text else None
    return SpokenTurn(
        audio=audio,
        text=transcript.text,
        transcript=transcript,
        cues=cues,
        affect=fuse(face=face, voice=cues, words=words),
    )


def from_file(
    path: str,
    *,
    transcriber: Transcriber | None = None,
    face: EmotionEstimate | None = None,
    words_backend: str | LLMSettings | None = None,
) -> SpokenTurn:
    """A question recorded in an audio file (``ask``/``chat --audio FILE``): decoded, then :func:`understand_speech`-ed like a spoken one.

    Raises:
        InputError: no speech was heard in the file (or MediaError: it can't be decoded).
    """
    from facelens.tools.media import load_audio

    utt = understand_speech(load_audio(path), transcriber, None, face, words_backend)
    if not utt.text.strip():
        raise InputError(
            f"No speech was heard in {path}.", hint="Record the question again, closer to the microphone, or type it."
        )
    return utt


def listen(
    mode: str = "vad",
    *,
    transcriber: Transcriber | None = None,
    history: list[VoiceFeatures] | None = None,
    face: EmotionEstimate | None = None,
    device: int | str | None = None,
    words_backend: str | LLMSettings | None = None,
) -> SpokenTurn:
    """Record one utterance from the microphone and :func:`understand_speech` it."""
    return understand_speech(record(mode, device=device), transcriber, history, face, words_backend)


#: how a reply opens, by the fused affect's suggested tone (``AffectEstimate.tone``); none: the answer as it is
TONE_OPENERS = {
    "de-escalate": "I can hear this is frustrating, so let me be quick and clear.",
    "reassure": "No need to worry; here is what I can see.",
    "support": "I'm sorry if this is a hard moment.",
    "warm": "Glad to help!",
    "clarify": "That seems to have surprised you; here is what I found.",
    "acknowledge-mixed": "I'm getting mixed signals ({conflicts}), so tell me if I've misread you.",
}


def tone_opener(affect: AffectEstimate) -> str:
    """The sentence a reply opens with for this affect (empty for neutral)."""
    opener = TONE_OPENERS.get(affect.tone, "")
    return opener.format(conflicts="; ".join(affect.conflicts)).strip()


def affect_printer(as_json: bool = False) -> Callable[[SpokenTurn], None]:
    """An ``on_affect`` hook that shows what was heard and the fused estimate on stderr."""
    import json

    def show(utt: SpokenTurn) -> None:
        if as_json:
            print(
                json.dumps(
                    {"text": utt.text, "voice": utt.cues.model_dump(), "affect": utt.affect.model_dump()},
                    ensure_ascii=False,
                ),
                file=sys.stderr,
            )
        else:
            print(f'heard: "{utt.text}" | voice: {utt.cues.describe()} | {utt.affect.summary}'.strip(), file=sys.stderr)

    return show


def adaptive_writer(source: object, write: Callable[[str], None]) -> Callable[[str], None]:
    """Wrap the chat's ``write`` so the first reply to each spoken question opens in the tone the
    fused affect suggests (a frustrated voice gets a calm, brief opener; mixed signals are named)."""
    seen: set[int] = set()

    def adapted(text: str) -> None:
        utt = getattr(source, "last", None)
        if utt is not None and id(utt) not in seen:
            seen.add(id(utt))
            opener = tone_opener(utt.affect)
            if opener:
                text = f"{opener} {text}"
        write(text)

    return adapted


class VoiceInput:
    """A chat input source: each call records and transcribes one utterance (None ends the chat).

    Keeps the speaker's earlier utterances as the baseline for the voice cues, and the last
    :class:`SpokenTurn` (with its fused affect) in ``last`` for the assistant to adapt its reply.
    """

    def __init__(
        self,
        mode: str = "vad",
        device: int | str | None = None,
        transcriber: Transcriber | None = None,
        on_affect: Callable[[SpokenTurn], None] | None = None,
        words_backend: str | LLMSettings | None = None,
    ) -> None:
        self.mode = mode
        self.words_backend = words_backend  # "openai" only when the chat itself answers with the LLM
        self.device = device
        self.transcriber = (transcriber or Transcriber()).load()
        self.history: list[VoiceFeatures] = []
        self.last: SpokenTurn | None = None
        self.on_affect = on_affect
        _check_input(_sounddevice(), device)  # fail now, before the chat starts

    def __call__(self) -> str | None:
        while True:
            try:
                utt = listen(
                    self.mode,
                    transcriber=self.transcriber,
                    history=self.history,
                    device=self.device,
                    words_backend=self.words_backend,
                )
            except KeyboardInterrupt:
                return None
            if utt.text.strip():
                break
            print("(nothing heard; speak again, or Ctrl-C to stop)", file=sys.stderr)
        self.history.append(utt.cues.features)
        self.last = utt
        if self.on_affect:
            self.on_affect(utt)
        if utt.text.strip().lower().rstrip(".!") in ("quit", "exit", "stop", "goodbye"):
            return None
        return utt.text
