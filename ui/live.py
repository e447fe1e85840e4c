"""The Live page: the emotion-aware assistant in real time, with the browser's camera and microphone.

The browser sends its camera and microphone to the app over WebRTC (streamlit-webrtc, aiortc on the
server). The loop is ``facelens live``'s (:mod:`facelens.agent.assistant.live`): every video frame goes to a
:class:`~facelens.agent.assistant.live.FaceWatcher` (the largest face, its expression smoothed over the last 3 s),
drawn back on the video as a box and "looks neutral 72%"; the microphone's audio is cut into turns by
voice activity, each transcribed, fused with the face, voice and words, and answered by the same
assistant; the questions and replies appear in the chat. The photo open on the Photo page may be asked
about but is never read as the speaker.

Nothing leaves the machine: no STUN or TURN server is configured (the browser and the app meet on this
machine's own addresses), and frames and audio are kept in memory for the current turn only.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import streamlit as st

from facelens.ui import common, photo

log = logging.getLogger(__name__)

LIVE_KEY = "facelens_live"  # the LiveSession of this browser session
RTC_CONFIGURATION: dict[str, Any] = {"iceServers": []}  # no STUN/TURN: nothing is asked of any server off this machine
# 640x480 at up to 10 frames/s: the face loop reads ~10 a second, and every frame is decoded and re-encoded
MEDIA = {
    "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 10, "max": 10}},
    "audio": True,
}
ANALYSE_EVERY_S = 0.08  # at most ~12 analysed frames a second; the frames between are drawn with the last reading


class LiveSession:
    """One browser session's live loop: the face watcher, the audio queue and the turn thread.

    The WebRTC callbacks run in aiortc's threads, not in Streamlit's script thread, so they touch only
    this object (never ``st.session_state``).
    """

    def __init__(self) -> None:
        from facelens.agent.assistant.live import FaceWatcher

        self.watcher = FaceWatcher(None)
        self.audio: queue.Queue[np.ndarray] = queue.Queue(maxsize=2000)  # ~60 s of 30 ms chunks
        self.stop = threading.Event()
        self.turns: list[Any] = []  # facelens.agent.assistant.live.Turn, oldest first
        self.status: Any = None  # the latest facelens.agent.assistant.live.LiveStatus
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.last_reading: Any = None
        self._last_analysed = 0.0
        self._resampler: Any = None
        self._pending = np.zeros(0, np.float32)
        self.heard_s = 0.0  # seconds of microphone audio received
        self.lock = threading.Lock()

    # --- the WebRTC callbacks (aiortc's threads) --------------------------------------------------

    def on_video(self, frame: Any) -> Any:
        """Read the user's face in one browser frame and draw the smoothed look on it."""
        import av

        rgb = frame.to_ndarray(format="rgb24")
        now = time.monotonic()
        thinking = self.status is not None and self.status.state == "thinking"
        # while a turn is answered its face is already taken: the frames go back as they are, which keeps
        # the CPU (and the GIL) for the answer and for WebRTC's own packets (a stall drops the call)
        if not thinking and now - self._last_analysed >= ANALYSE_EVERY_S:
            self._last_analysed = now
            try:
                self.last_reading = self.watcher.observe(rgb)
            except Exception as exc:  # one bad frame must not stop the stream
                log.warning("live page: a frame could not be analysed: %s", exc)
        out = draw(rgb, self.last_reading, self.watcher.smoothed())
        new = av.VideoFrame.from_ndarray(out, format="rgb24")
        new.pts, new.time_base = frame.pts, frame.time_base
        return new

    def on_audio(self, frame: Any) -> Any:
        """The browser's microphone as 16 kHz mono 30 ms chunks for the turn loop; silence goes back."""
        import av

        from facelens.agent.assistant.live import CHUNK
        from facelens.tools.media import SAMPLE_RATE

        layout = frame.layout.name
        if self._resampler is None or self._resampler[0] != layout:
            # planar float at 16 kHz in the browser's own layout; the channels are averaged here (FFmpeg's
            # stereo-to-mono matrix would raise the level 3 dB, and the voice's loudness is a cue)
            self._resampler = (layout, av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE))
        pcm = [f.to_ndarray().mean(axis=0) for f in self._resampler[1].resample(frame)]
        self.heard_s += sum(p.size for p in pcm) / SAMPLE_RATE
        if pcm:
            self._pending = np.concatenate([self._pending, *pcm]).astype(np.float32)
        while self._pending.size >= CHUNK:
            chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
            try:
                self.audio.put_nowait(chunk)
            except queue.Full:  # the turn loop is behind: drop the oldest audio, never block the stream
                with self.lock:
                    try:
                        self.audio.get_nowait()
                    except queue.Empty:
                        pass
                self.audio.put_nowait(chunk)
        # silence goes back: streamlit-webrtc pulls audio through this callback only when it is sent back,
        # and the user must not hear their own microphone
        silent = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
        for plane in silent.planes:
            plane.update(bytes(plane.buffer_size))
        silent.sample_rate, silent.pts = frame.sample_rate, frame.pts
        if frame.time_base is not None:
            silent.time_base = frame.time_base
        return silent

    # --- the turn loop (its own thread) -----------------------------------------------------------

    def chunks(self) -> Iterator[np.ndarray]:
        """The queued microphone chunks until the stream stops."""
        while not self.stop.is_set():
            try:
                yield self.audio.get(timeout=0.2)
            except queue.Empty:
                continue

    def start(self, backend: Any, images: list[str], transcriber: Any) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        self.stop.clear()

        def loop() -> None:
            from facelens.agent.assistant import live

            try:
                live.run(
                    watcher=self.watcher,
                    chunks=self.chunks(),
                    images=images,
                    backend=backend,
                    transcriber=transcriber,
                    stop=self.stop,
                    on_turn=self.turns.append,
                    on_status=self._status,
                )
            except Exception as exc:  # shown on the page by the next redraw
                log.exception("live page: the turn loop stopped")
                self.error = exc

        self.thread = threading.Thread(target=loop, name="facelens-live-page", daemon=True)
        self.thread.start()

    def _status(self, status: Any) -> None:
        self.status = status

    def close(self) -> None:
        self.stop.set()


def draw(rgb: np.ndarray, reading: Any, look: Any) -> np.ndarray:
    """The frame with the user's face boxed and its smoothed look written above it ("looks neutral 72%")."""
    import cv2

    if reading is None or not reading.found or reading.box is None:
        return rgb
    out = np.ascontiguousarray(rgb).copy()
    x, y, w, h = reading.box
    cv2.rectangle(out, (x, y), (x + w, y + h), (40, 200, 90), 2)
    if look is not None:
        text = f"looks {photo.emotion_word(look.label)} {look.confidence:.0%}"
        scale = max(0.5, out.shape[1] / 1000)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        top = max(0, y - th - base - 6)
        cv2.rectangle(out, (x, top), (x + tw + 8, top + th + base + 6), (40, 200, 90), -1)
        cv2.putText(out, text, (x + 4, top + th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out


@st.cache_resource(show_spinner="Loading the speech, voice, emotion and face models...")
def warmed(backend_name: str) -> bool:
    """Load (and run once) everything a turn uses, before the camera and microphone are on.

    A model's first use imports and loads it while holding the GIL for seconds; during a call that
    starves WebRTC's packets and the browser drops the connection.
    """
    from facelens.agent.assistant.chat import Assistant
    from facelens.agent.assistant.live import read_face
    from facelens.agent.assistant.voice_input import understand_speech, words_emotion
    from facelens.tools.errors import FacelensError

    rng = np.random.default_rng(0)
    understand_speech(
        (rng.standard_normal(16000) * 0.01).astype(np.float32), common.transcriber(), [], None, words_backend="offline"
    )
    words_emotion("I am fine, thank you.", backend="offline")
    read_face(np.full((240, 320, 3), 128, np.uint8))
    try:
        Assistant([], backend=common.current_backend()).ask("How many people are in this photo?")
    except FacelensError:
        pass
    return True


def session() -> LiveSession:
    current = st.session_state.get(LIVE_KEY)
    if current is None:
        current = st.session_state[LIVE_KEY] = LiveSession()
    return current


def status_text(live: LiveSession, playing: bool) -> str:
    """The one-line live status: the loop's state, and the camera and microphone as they are now."""
    from facelens.agent.assistant.live import LiveStatus

    if not playing:
        return "Press START to turn on your camera and microphone."
    state = live.status.state if live.status is not None else "starting"
    camera, fps = live.watcher.status()
    if not live.watcher.frames:
        camera = "waiting for the camera"
    look = live.watcher.smoothed()
    line = LiveStatus(state, camera, look.label if look else None, look.confidence if look else 0.0, fps).line()
    return f"{line} · microphone: {live.heard_s:.0f} s received"


def turns_ui(live: LiveSession) -> None:
    from facelens.agent.assistant.answers import backend_label

    for turn in live.turns:
        with st.chat_message("user"):
            st.markdown(turn.question)
            face = f"your face looks {photo.emotion_word(turn.face)}" if turn.face else "no face seen"
            st.caption(f"{turn.mood} · from {', '.join(turn.mood_sources)} · {face}")
        with st.chat_message("assistant"):
            st.markdown(turn.reply)
            st.caption(f"answered by {backend_label(turn.backend)} in {turn.seconds_to_reply:.1f} s")


def page() -> None:
    st.header("Live")
    st.caption(
        "Talk to the assistant with your camera and microphone on. Your face's expression is read "
        "continuously (smoothed over the last 3 seconds), each spoken question is transcribed and "
        "answered, and the mood of your face, voice and words shapes the reply. Everything runs on "
        "this machine; nothing is recorded."
    )
    try:
        from streamlit_webrtc import WebRtcMode, webrtc_streamer
    except ImportError:
        st.error(
            "The Live page needs streamlit-webrtc.\n\n**What to do:** `pip install 'facelens[live]'` "
            "(or `pip install streamlit-webrtc`), then restart `facelens ui`."
        )
        return
    current = st.session_state.get(photo.PHOTO_KEY)
    st.caption(
        f"Photo you can ask about: {current['name']} (never read as you)"
        if current
        else "No photo open: questions about a photo need one (the Photo page)."
    )
    with common.guarded():
        warmed(common.current_backend().name)
    live = session()
    try:
        ctx = webrtc_streamer(
            key="live",
            mode=WebRtcMode.SENDRECV,
            rtc_configuration=RTC_CONFIGURATION,
            media_stream_constraints=MEDIA,
            video_frame_callback=live.on_video,
            audio_frame_callback=live.on_audio,
            async_processing=True,
        )
    except Exception as exc:  # e.g. a Streamlit server without sessions (a test harness, a bare script run)
        log.warning("live page: the WebRTC stream cannot start: %s", exc)
        st.error(
            f"The live stream cannot start here: {exc}\n\n**What to do:** open the app with `facelens ui` "
            "in a browser; the Voice page takes recorded questions without a live stream."
        )
        return
    playing = bool(ctx.state.playing)
    if playing:
        with common.guarded():
            images = [str(common.save_upload(current["name"], current["data"]))] if current else []
            live.start(common.current_backend(), images, common.transcriber())
    elif live.thread is not None:  # stopped: the next START begins a fresh loop; the chat stays
        live.close()
        fresh = st.session_state[LIVE_KEY] = LiveSession()
        fresh.turns = live.turns
        live = fresh

    @st.fragment(run_every=1.0 if playing else None)
    def updates() -> None:
        st.markdown(f"`{status_text(live, playing)}`")
        if live.error is not None:
            common.show_error(live.error)
        turns_ui(live)

    updates()
