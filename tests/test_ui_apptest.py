"""Every page of the Streamlit app through ``streamlit.testing.v1.AppTest`` (no browser, real models).

Each test runs ui/app.py with the autouse private FACELENS_HOME and the offline backend, drives the
widgets as a user would, and checks what is drawn; bad input must end in ``st.error`` with a hint,
never an exception on the page.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from facelens.eval.scenes import astronaut as astronaut_rgb  # noqa: E402
from tests.conftest import jpeg_bytes  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FACELENS_LOCAL_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FACELENS_BACKEND", "offline")


def start(page: str = "Photo") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    if page != "Photo":
        at.sidebar.radio(key="nav_page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything written on the page as markdown/captions/alerts, one string."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [h.value for h in at.subheader]
    parts += [a.value for a in (*at.success, *at.info, *at.warning, *at.error)]
    return "\n".join(str(p) for p in parts)


def no_crash(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def wav_bytes(audio: np.ndarray, rate: int = 16000) -> bytes:
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


@functools.cache
def speech(text: str) -> np.ndarray:
    from facelens.eval import media
    from facelens.tools.errors import DependencyError

    try:
        return np.concatenate([media.speak(text), np.zeros(4000, np.float32)])
    except DependencyError as exc:
        pytest.skip(f"needs espeak-ng to make test speech: {exc}")


@functools.cache
def speech_as(text: str, **how: int) -> np.ndarray:
    """Speech spoken a particular way (espeak-ng's speed, amplitude, pitch)."""
    from facelens.eval import media
    from facelens.tools.errors import DependencyError

    try:
        return np.concatenate([media.speak(text, **how), np.zeros(4000, np.float32)])
    except DependencyError as exc:
        pytest.skip(f"needs espeak-ng to make test speech: {exc}")


# --- Photo ------------------------------------------------------------------------------------


def test_photo_page_cards_and_chat_with_tool_calls() -> None:
    at = start()
    assert "No photo yet" in texts(at)
    at.button(key="photo_example").click().run()
    no_crash(at)
    page = texts(at)
    assert "group.jpg: 4 faces found" in page
    for i in range(1, 5):
        assert f"**Face {i}**" in page
    assert "Clothing: blue" in page and "Clothing: yellow" in page
    assert "Identity: not checked" in page  # empty gallery
    assert len(at.image) >= 5  # the annotated photo and one crop per face
    at.chat_input(key="photo_question").set_value("How many people are in this photo?").run()
    no_crash(at)
    answer = at.chat_message[-1]
    assert "I count 4 people" in answer.markdown[0].value
    assert "offline planner" in answer.caption[0].value
    assert answer.expander[0].label.startswith("Tool calls")
    # a follow-up keeps the conversation (and the history)
    at.chat_input(key="photo_question").set_value("who is on the far right?").run()
    no_crash(at)
    assert len(at.chat_message) == 4
    assert "Face 4" in at.chat_message[-1].markdown[0].value


def test_photo_page_describe_face_says_what_ran_and_keeps_photos_local() -> None:
    at = start()
    at.button(key="photo_example").click().run()
    at.selectbox(key="photo_describe_face").set_value(2)
    at.button(key="photo_describe").click().run()
    no_crash(at)
    line = next(c.value for c in at.caption if c.value.startswith("Face 2 · described by"))
    assert "nothing left this machine" in line  # cloud images are off by default


def needs_widget(at, name: str) -> None:
    # AppTest learned camera_input/audio_input after Streamlit 1.60, the newest release that
    # installs beside mediapipe 0.10.14 (protobuf<5); the browser test drives the real widgets
    if not hasattr(at, name):
        pytest.skip(f"this Streamlit's AppTest cannot drive {name}; tests/test_ui_browser.py covers it")


def test_photo_page_camera_shot(group_jpg: tuple[Path, list]) -> None:
    at = start()
    needs_widget(at, "camera_input")
    at.toggle(key="photo_use_camera").set_value(True).run()
    at.camera_input(key="photo_camera").set_value(("photo.jpg", group_jpg[0].read_bytes(), "image/jpeg")).run()
    no_crash(at)
    assert "camera.jpg: 4 faces found" in texts(at)


def test_photo_page_corrupt_and_empty_uploads_show_errors() -> None:
    at = start()
    at.file_uploader(key="photo_upload").set_value(
        ("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")
    ).run()
    no_crash(at)
    assert at.error and "What to do" in at.error[0].value
    at.file_uploader(key="photo_upload").set_value(("empty.png", b"", "image/png")).run()
    no_crash(at)
    assert at.error
    whole = jpeg_bytes(astronaut_rgb())
    at.file_uploader(key="photo_upload").set_value(("cut.jpg", whole[: len(whole) // 3], "image/jpeg")).run()
    no_crash(at)
    assert at.error and "What to do" in at.error[0].value
    at.file_uploader(key="photo_upload").set_value(("notes.png", b"%PDF-1.4 this is a document", "image/png")).run()
    no_crash(at)
    assert at.error and "What to do" in at.error[0].value


def test_photo_page_huge_image_shows_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from facelens.tools import config

    monkeypatch.setattr(config, "MAX_IMAGE_PIXELS", 100 * 100)
    at = start()
    at.file_uploader(key="photo_upload").set_value(("big.jpg", jpeg_bytes(astronaut_rgb()), "image/jpeg")).run()
    no_crash(at)
    assert at.error and "FACELENS_MAX_IMAGE_PIXELS" in at.error[0].value


def test_photo_page_no_face_and_empty_question() -> None:
    at = start()
    grey = np.full((240, 320, 3), 128, np.uint8)
    at.file_uploader(key="photo_upload").set_value(("wall.jpg", jpeg_bytes(grey), "image/jpeg")).run()
    no_crash(at)
    assert "0 faces found" in texts(at) and at.warning
    at.chat_input(key="photo_question").set_value("   ").run()
    no_crash(at)
    assert at.error and "question is empty" in at.error[0].value


# --- Voice ------------------------------------------------------------------------------------


def test_voice_page_recorded_question_is_answered_with_cues() -> None:
    at = start()
    needs_widget(at, "audio_input")
    at.button(key="photo_example").click().run()
    at.sidebar.radio(key="nav_page").set_value("Voice").run()
    assert "Photo: group.jpg" in texts(at)
    at.audio_input(key="voice_record").set_value(
        ("q.wav", wav_bytes(speech("How many people are in this photo?")), "audio/wav")
    ).run()
    no_crash(at)
    page = texts(at)
    assert "You said:** How many people are in this photo" in page
    assert "Overall: comes across as" in page
    assert "**Words**" in page and "**Voice**" in page
    assert "I count 4 people" in page and "offline planner" in page


def test_voice_page_without_photo_and_bad_audio() -> None:
    at = start("Voice")
    assert "No photo open" in texts(at)
    at.file_uploader(key="voice_upload").set_value(("q.wav", b"RIFF....WAVEgarbage", "audio/wav")).run()
    no_crash(at)
    assert at.error and "What to do" in at.error[0].value
    at.file_uploader(key="voice_upload").set_value(
        ("hi.wav", wav_bytes(speech("Hello there, I am happy today.")), "audio/wav")
    ).run()
    no_crash(at)
    page = texts(at)
    assert "You said:** Hello there" in page and "Open a photo on the Photo page" in page


def smiling_people_jpg() -> bytes:
    """Three smiling people (NASA's portrait of Eileen Collins, twice mirrored): the photo under discussion."""
    from facelens.eval.scenes import Person, compose

    rgb, _ = compose(
        [Person("astronaut", "red"), Person("astronaut", "blue", mirror=True), Person("astronaut", "green")],
        head_width=220,
    )
    return jpeg_bytes(rgb)


def test_voice_page_reads_the_speaker_not_the_photo() -> None:
    """Issue 26: calm, angry and sad spoken questions with a photo of smiling people open are read from the
    voice and words (no camera), never from the photo's faces, and the answers fit them and say so."""
    from facelens.tools.scene import analyze_image

    data = smiling_people_jpg()
    looks = [f.emotion.label for f in analyze_image(data, identify=False).faces if f.emotion is not None]
    assert len(looks) == 3 and set(looks) == {"happy"}, looks  # what the old page took for the speaker's face
    at = start()
    at.file_uploader(key="photo_upload").set_value(("smiles.jpg", data, "image/jpeg")).run(timeout=600)
    at.sidebar.radio(key="nav_page").set_value("Voice").run(timeout=600)
    assert "Photo: smiles.jpg" in texts(at)
    questions = {
        "calm": speech("How many people are in this photo?"),
        "angry": speech_as(
            "This is useless and I am furious! How many people are in this stupid photo?",
            speed=210,
            amplitude=200,
            pitch=80,
        ),
        "sad": speech_as(
            "I feel so sad and lonely today. How many people are in this photo?", speed=105, amplitude=35, pitch=20
        ),
    }
    for kind, audio in questions.items():
        at.file_uploader(key="voice_upload").set_value((f"{kind}.wav", wav_bytes(audio), "audio/wav")).run(timeout=600)
        no_crash(at)
        turn = at.session_state["facelens_voice_turns"][-1]
        affect, answer = turn["affect"], turn["answer"]
        channels = {c.channel for c in affect.channels}
        assert channels == {"voice", "words"}, (kind, channels)  # never the photo's faces
        assert "no camera is on" in answer and "3 people" in answer, (kind, answer)
        assert "camera off" in turn["face"]
        if kind == "calm":
            assert affect.label == "neutral" and affect.tone == "neutral", (kind, affect.summary)
            assert not answer.startswith(("I can hear", "I'm sorry", "I'm getting mixed")), answer
        elif kind == "angry":
            assert affect.label in ("angry", "disgust"), (kind, affect.summary)
            assert answer.startswith("I can hear this is frustrating"), answer
        else:
            assert affect.label == "sad", (kind, affect.summary)
            assert answer.startswith("I'm sorry if this is a hard moment"), answer
        assert "happy" not in affect.summary and "smiling" not in answer, (kind, affect.summary, answer)
    page = texts(at)
    assert "Face channel: camera off" in page and "Mixed signals" not in page


def test_voice_page_camera_face_is_the_speakers() -> None:
    """The face channel comes from the user's camera picture: its largest face; a picture without a face
    says so and the mood comes from voice and words."""
    from facelens.ui import voice

    face, note = voice.speaker_face(jpeg_bytes(astronaut_rgb()))
    assert face is not None and face.label == "happy" and "your camera: looks happy" in note
    face, note = voice.speaker_face(jpeg_bytes(np.full((240, 320, 3), 128, np.uint8)))
    assert face is None and "no face" in note
    assert voice.speaker_face(None) == (None, None)


# --- Gallery ----------------------------------------------------------------------------------


def test_gallery_enrol_list_remove() -> None:
    at = start("Gallery")
    assert "biometric data" in texts(at) and "Nobody is enrolled yet" in texts(at)
    at.text_input(key="gal_name").set_value("Eileen")
    at.file_uploader(key="gal_files").set_value([("eileen.jpg", jpeg_bytes(astronaut_rgb()), "image/jpeg")])
    at.button[0].click().run()  # "Enrol" without the consent box ticked
    no_crash(at)
    assert at.error and "consent" in at.error[0].value
    at.checkbox(key="gal_consent").check()
    at.button[0].click().run()
    no_crash(at)
    assert "Enrolled Eileen from 1 photo" in texts(at)
    assert "Eileen" in str(at.table[0].value)

    uploads = at.session_state["facelens_uploads"].path
    assert not list(uploads.glob("*"))  # the enrolment photo is not kept
    from facelens.tools.identity import FaissGallery

    assert [p.name for p in FaissGallery().people()] == ["Eileen"]
    at.button(key="gal_remove").click().run()
    no_crash(at)
    assert (
        "Removed Eileen" in texts(at) and "cached analysis file" in texts(at) and "Nobody is enrolled yet" in texts(at)
    )
    assert FaissGallery().people() == []


def test_gallery_rejects_photo_without_face() -> None:
    at = start("Gallery")
    at.text_input(key="gal_name").set_value("Nobody")
    at.file_uploader(key="gal_files").set_value(
        [("wall.jpg", jpeg_bytes(np.full((200, 200, 3), 90, np.uint8)), "image/jpeg")]
    )
    at.checkbox(key="gal_consent").check()
    at.button[0].click().run()
    no_crash(at)
    assert at.error and "No face" in at.error[0].value and "What to do" in at.error[0].value


# --- Sessions ---------------------------------------------------------------------------------


def test_sessions_ingest_timeline_transcript_and_chat() -> None:
    at = start("Sessions")
    assert "No sessions yet" in texts(at)
    audio = np.concatenate([speech("Hello, thanks for calling."), speech("I am really angry about my late order.")])
    at.file_uploader(key="ses_file").set_value(("call.wav", wav_bytes(audio), "audio/wav"))
    at.text_input(key="ses_id").set_value("call1")
    at.button[0].click().run()
    no_crash(at)
    page = texts(at)
    assert "Ingested session call1" in page
    assert at.selectbox(key="ses_pick").value == "call1"
    assert at.image  # the timeline plot
    said = " ".join(str(v) for v in at.dataframe[0].value["said"])
    assert "angry" in said.lower()
    at.chat_input(key="ses_question").set_value("when did the customer sound angry?").run()
    no_crash(at)
    reply = at.chat_message[-1]
    assert "angry" in reply.markdown[0].value.lower() and "call1" in reply.caption[0].value


def test_sessions_bad_media_shows_error() -> None:
    at = start("Sessions")
    at.file_uploader(key="ses_file").set_value(("video.mp4", b"this is not a video", "video/mp4"))
    at.button[0].click().run()
    no_crash(at)
    assert at.error and "What to do" in at.error[0].value


# --- Settings ---------------------------------------------------------------------------------


def test_settings_backend_errors_and_thresholds() -> None:
    at = start("Settings")
    assert "offline planner" in at.success[0].value
    at.selectbox(key="set_backend").set_value("openai").run()
    no_crash(at)
    assert at.error and "OPENAI_API_KEY" in at.error[0].value
    at.selectbox(key="set_backend").set_value("offline").run()
    at.slider(key="set_threshold").set_value(0.4).run()
    at.checkbox(key="set_allow_cloud").check().run()
    no_crash(at)
    from facelens.ui.common import SETTINGS_KEY

    s = at.session_state[SETTINGS_KEY]
    assert (s.backend, s.identity_threshold, s.allow_cloud_images) == ("offline", 0.4, True)
    assert "Photos may go to a cloud model" in texts(at)


def test_settings_reach_the_agent_openai_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backend, model and base URL chosen on the Settings page answer the Photo page's chat."""
    from tests.test_agent_openai import FakeOpenAI

    monkeypatch.delenv("FACELENS_BACKEND")
    server = FakeOpenAI([("tool", "analyze_scene", {}), ("echo",)])
    try:
        at = start("Settings")
        at.selectbox(key="set_backend").set_value("openai")
        at.text_input(key="set_model").set_value("ui-test-model")
        at.text_input(key="set_base_url").set_value(server.url).run()
        no_crash(at)
        assert "OpenAI-compatible LLM, ui-test-model" in at.success[0].value
        at.sidebar.radio(key="nav_page").set_value("Photo").run()
        at.button(key="photo_example").click().run()
        at.chat_input(key="photo_question").set_value("How many people are in this photo?").run()
        no_crash(at)
    finally:
        server.close()
    answer = at.chat_message[-1]
    assert (
        answer.markdown[0].value.startswith("Tool said:") and '"face": 4' in answer.markdown[0].value
    )  # the facts are JSON data
    assert "ui-test-model" in answer.caption[0].value
    assert [r["model"] for r in server.requests] == ["ui-test-model", "ui-test-model"]
    assert not any("image_url" in json.dumps(r) for r in server.requests)  # no pixels left the machine


def test_face_card_draws_emotion_bars_as_appearance() -> None:
    """A face with an emotion estimate gets one bar per emotion, worded as how the face looks."""

    def card() -> None:
        import numpy as np

        from facelens.tools.schema import EmotionEstimate, FaceAnalysis, GenderEstimate, Position
        from facelens.ui.photo import face_card_ui

        scores = {
            "happy": 0.7,
            "neutral": 0.2,
            "surprise": 0.04,
            "sad": 0.03,
            "angry": 0.01,
            "fear": 0.01,
            "disgust": 0.01,
        }
        face = FaceAnalysis(
            id=1,
            box=(0, 0, 10, 10),
            score=1.0,
            detector="hog",
            landmarks=[(0.0, 0.0)] * 5,
            position=Position(index=1, of=1, horizontal="center", vertical="middle", size_rank=1),
            emotion=EmotionEstimate(label="happy", scores=scores, model="test"),
            age=31.0,
            age_group="20-39",
            gender=GenderEstimate(label="female", score=0.9),
        )
        face_card_ui(face, np.zeros((10, 10, 3), np.uint8))

    at = AppTest.from_function(card)
    at.run()
    no_crash(at)
    assert "Looks **happy** (70% confident)" in texts(at)
    bars = [p.proto.text for p in at.get("progress")]
    assert len(bars) == 7 and bars[0] == "looks happy 70%" and "looks surprised 4%" in bars
    assert "apparent age 31 (20-39); apparent gender female (90%)" in texts(at)


# --- facelens ui ------------------------------------------------------------------------------


def test_cli_ui_command_line_and_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    from facelens.agent.cli import main
    from facelens.agent.cli.ui import app_path, streamlit_command

    cmd = streamlit_command(8999, "127.0.0.1")
    assert cmd[1:4] == ["-m", "facelens.ui.launch", "run"] and Path(cmd[4]) == app_path() and app_path().exists()
    assert cmd[cmd.index("--server.headless") + 1] == "true" and cmd[cmd.index("--server.port") + 1] == "8999"
    assert main(["ui", "--port", "70000"]) == 2
    assert "--port must be between" in capsys.readouterr().err


def test_sessions_name_a_face_track() -> None:
    """A stored two-face session: naming track 2 "customer" shows in the table and in answers."""
    from facelens.agent.sessions import store

    people = [
        store.TrackInfo(track=t, first_seen=0.0, last_seen=4.0, seconds=4.0, dominant_emotion=e)
        for t, e in ((1, "happy"), (2, "angry"))
    ]
    timeline = [
        store.TimelineEntry(start=0.0, end=4.0, emotion=e, confidence=0.8, track=t)
        for t, e in ((1, "happy"), (2, "angry"))
    ]
    rec = store.SessionRecord(
        session_id="two",
        source="two.mp4",
        created=store.now(),
        duration=4.0,
        has_video=True,
        has_audio=False,
        fps=2.0,
        timeline=timeline,
        people=people,
        emotion_model="emotion.onnx",
    )
    store.save(rec, [])
    at = start("Sessions")
    assert at.selectbox(key="ses_pick").value == "two"
    assert list(at.dataframe[0].value["name"]) == ["unnamed", "unnamed"]
    at.selectbox(key="ses_track").set_value(2)
    at.text_input(key="ses_track_name").set_value("customer")
    next(b for b in at.button if b.label == "Save name").click().run()
    no_crash(at)
    assert 'Face track 2 is now "customer"' in texts(at)
    assert list(at.dataframe[0].value["name"]) == ["unnamed", "customer"]
    at.chat_input(key="ses_question").set_value("when did the customer look angry?").run()
    no_crash(at)
    assert "customer is face track 2" in at.chat_message[-1].markdown[0].value
    # a bad name is a readable error, and nothing changes
    at.text_input(key="ses_track_name").set_value("<b>")
    next(b for b in at.button if b.label == "Save name").click().run()
    assert at.error and "cannot name a track" in at.error[0].value
    assert [p.name for p in store.load("two").people] == [None, "customer"]
