"""The app's Live page: the browser's camera and microphone through streamlit-webrtc into ``facelens live``'s loop.

- the WebRTC callbacks on real frames: the user's face is boxed and its look written on the video, the
  microphone is cut into the 16 kHz 30 ms chunks the turn loop reads;
- the page in AppTest: drawn without error, with no STUN/TURN server configured;
- the page in Debian's chromium (Playwright) with a fake camera (a y4m of a calm face) and a fake
  microphone (a wav of a spoken question): the page shows the face's expression and answers the question.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit_webrtc")

from facelens.eval import media as gen  # noqa: E402
from facelens.eval.media import Shot  # noqa: E402

QUESTION = "How many people are in this photo?"


def calm_face_frames(
    seconds: float = 2.0, fps: int = 15, size: tuple[int, int] = (640, 480), face_width: int = 200
) -> list[np.ndarray]:
    """RGB frames of a calm face (Grace Hopper's portrait, gently moving), as a camera would send them."""
    import tempfile

    import av

    with tempfile.TemporaryDirectory() as tmp:
        path = gen.make_video(
            Path(tmp) / "face.mp4", [Shot(seconds, "hopper")], size=size, fps=fps, face_width=face_width
        )
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """The frames as a YUV4MPEG2 file, the format chromium's fake camera reads."""
    import av

    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def spoken(text: str) -> np.ndarray:
    from facelens.tools.errors import DependencyError

    try:
        return gen.speak(text)
    except DependencyError as exc:
        pytest.skip(f"needs espeak-ng to make test speech: {exc}")


# --- the callbacks ----------------------------------------------------------------------------


def test_video_callback_boxes_the_face_and_writes_its_look() -> None:
    import av

    from facelens.ui import live as page

    session = page.LiveSession()
    frames = calm_face_frames(1.0)
    out = None
    for i, rgb in enumerate(frames[:6]):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, 15)
        session._last_analysed = 0.0  # analyse every frame here
        out = session.on_video(frame)
    assert out is not None and out.pts == 5
    drawn = out.to_ndarray(format="rgb24")
    reading, look = session.last_reading, session.watcher.smoothed()
    assert reading.found and reading.box is not None
    assert look is not None and look.label == "neutral", look
    x, y, w, h = reading.box
    # the box is drawn (green edge) and the label sits above the face; the frame elsewhere is untouched
    assert tuple(drawn[y + h // 2, x]) == (40, 200, 90)
    label = drawn[max(0, y - 40) : y, x : x + w]
    assert (label == (40, 200, 90)).all(axis=-1).mean() > 0.3 and (label == 255).all(axis=-1).any()
    assert (drawn[-5:, -5:] == frames[5][-5:, -5:]).all()
    # no face: the frame goes back as it came
    blank = np.full((480, 640, 3), 90, np.uint8)
    assert (page.draw(blank, None, look) == blank).all()


def test_audio_callback_makes_16k_chunks() -> None:
    import av

    from facelens.agent.assistant.live import CHUNK
    from facelens.ui import live as page

    session = page.LiveSession()
    tone = (np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000) * 0.5 * 32767).astype(np.int16)
    stereo = np.repeat(tone[None, :], 2, axis=0).T.reshape(1, -1)  # packed s16 stereo, as browsers send
    for i in range(0, 48000, 960):  # 20 ms frames
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(stereo[:, 2 * i : 2 * (i + 960)]), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48000, i
        back = session.on_audio(frame)
        assert back.samples == 960 and not back.to_ndarray().any()  # silence goes back: no echo
    got = []
    while not session.audio.empty():
        got.append(session.audio.get_nowait())
    assert all(c.size == CHUNK and c.dtype == np.float32 for c in got)
    assert 31 <= len(got) <= 34  # ~1 s of 16 kHz audio in 30 ms chunks
    level = np.sqrt(np.mean(np.concatenate(got[5:]) ** 2))
    assert 0.3 < level < 0.4  # a 0.5-amplitude sine: RMS 0.35, mono, not doubled or lost


# --- the page in AppTest ----------------------------------------------------------------------


def test_live_page_in_apptest_no_stun_or_turn_and_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest has no WebRTC runtime (streamlit-webrtc needs the server's sessions): the page says so with
    a hint instead of a traceback; the stream is configured with no STUN/TURN server."""
    from streamlit.testing.v1 import AppTest

    from facelens.ui import live as page

    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    assert page.RTC_CONFIGURATION == {"iceServers": []}
    app = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
    at = AppTest.from_file(app, default_timeout=300)
    at.run()
    at.sidebar.radio(key="nav_page").set_value("Live").run()
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(str(m.value) for m in (*at.markdown, *at.caption))
    assert "No photo open" in text and at.header[0].value == "Live"
    assert len(at.error) == 1 and "live stream cannot start" in at.error[0].value and "What to do" in at.error[0].value


# --- the page in chromium -----------------------------------------------------------------------


def shown(tab: object, log: Path | None = None) -> str:
    """What the page shows (status line, chat), what the WebRTC component's frame says, and the app's log."""
    parts = [tab.locator('[data-testid="stMain"]').inner_text()]
    try:
        parts.append(
            "the WebRTC component: " + tab.frame_locator('iframe[title*="webrtc"]').locator("body").inner_text()
        )
    except Exception as exc:  # the frame may be gone; the rest still helps
        parts.append(f"the WebRTC component: unreadable ({exc})")
    if log is not None and log.exists():
        parts.append("the app's log (end):\n" + log.read_text(errors="replace")[-3000:])
    return "\n".join(parts)


def wait_or_show(tab: object, condition: str, timeout_ms: int, log: Path | None = None) -> None:
    """Wait for a JavaScript condition; on timeout fail with what the page shows (status line, chat)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        tab.wait_for_function(condition, timeout=timeout_ms)
    except PlaywrightTimeout:
        pytest.fail("the Live page did not get there; it shows:\n" + shown(tab, log))


def start_stream(tab: object, log: Path, attempts: int = 3, timeout_ms: int = 60_000) -> None:
    """Press START and wait until the stream plays (the status line leaves "Press START").

    On a busy 2-core machine the browser may give up on a peer connection whose answer comes late (the
    component falls back to START, as a user would see it); the test then presses START again, as the user
    would, up to ``attempts`` times, and fails with what the page, the component and the app's log say.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    button = tab.frame_locator('iframe[title*="webrtc"]').get_by_role("button", name=re.compile("^start$", re.I))
    for _ in range(attempts):
        button.click()
        try:
            tab.wait_for_function("() => !document.body.innerText.includes('Press START')", timeout=timeout_ms)
            return
        except PlaywrightTimeout:
            button.wait_for(timeout=30_000)  # the component is back at START: the connection did not come up
    pytest.fail(f"the live stream did not start after {attempts} presses of START; the page shows:\n" + shown(tab, log))


@pytest.mark.browser
def test_live_page_in_chromium_with_fake_camera_and_microphone(tmp_path: Path) -> None:
    from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, running_app

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium to run the browser test")
    playwright = pytest.importorskip("playwright.sync_api")
    # 320x240 at 10 frames/s: chromium encodes and the app decodes, analyses and re-encodes every frame, and
    # on a busy 2-core machine a starved peer connection is dropped by the browser ("disconnected")
    y4m = write_y4m(tmp_path / "calm-face.y4m", calm_face_frames(4.0, fps=10, size=(320, 240), face_width=110), fps=10)
    speech = spoken(QUESTION)
    wav = gen.write_audio(
        tmp_path / "question.wav", np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(32000, np.float32)])
    )
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
        f"--use-file-for-fake-audio-capture={wav}",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--allow-loopback-in-peer-connection",
    ]
    home = tmp_path / "home"
    home.mkdir()
    with running_app(home, timeout=90) as url, playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=args,
            headless=True,
            viewport={"width": 1400, "height": 1100},
        )
        context.grant_permissions(["camera", "microphone"])
        try:
            tab = context.new_page()
            tab.goto(url + "/?page=live", wait_until="domcontentloaded")
            tab.get_by_text("Press START").wait_for(timeout=90_000)
            log = home / "streamlit.log"
            start_stream(tab, log)
            # the face's expression, read from the fake camera, in the live status line
            wait_or_show(tab, """() => /looks neutral \\(\\d+%\\)/.test(document.body.innerText)""", 120_000, log)
            # the spoken question, transcribed and answered in the chat (the fake microphone loops the file
            # from wherever it is when START is pressed, so the first turn may be a fragment of it)
            wait_or_show(
                tab,
                """() => { const m = [...document.querySelectorAll('[data-testid="stChatMessage"]')].map(e => e.innerText);
                           return m.some((t, i) => /how many people/i.test(t) && i + 1 < m.length && m[i + 1].includes('answered by')); }""",
                300_000,
                log,
            )
            text = tab.locator('[data-testid="stMain"]').inner_text()
            assert re.search(r"how many people", text, re.I), text
            assert "offline planner" in text, text
            assert "your face looks neutral" in text, text
            assert tab.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count() == 0, text
            tab.screenshot(path=str(tmp_path / "live.png"))
        finally:
            context.close()
