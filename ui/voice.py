"""The Voice page: say a question, see what was heard, how it sounded, and the answer.

The recording is transcribed offline (faster-whisper tiny.en), the voice is measured relative to the
speaker's earlier turns, the words are read for emotion, and, when the user turns their camera on, the
largest face of the camera's picture adds the face channel: :func:`facelens.agent.assistant.voice_input.understand_speech`,
as ``facelens chat --voice`` does, which fuses the three and flags disagreements. The speaker's face is
only ever the camera's: the photo open on the Photo page shows *other* people and is never read as the
speaker (with no camera the mood comes from voice and words, and the answer says so). The question
itself goes to the Photo page's assistant, so it is answered the same way as a typed one.
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from facelens.tools.names import markdown_text  # names are shown as typed, never as Markdown
from facelens.ui import common, photo

TURNS_KEY = "facelens_voice_turns"  # list of finished turns, oldest first
HISTORY_KEY = "facelens_voice_history"  # VoiceFeatures of earlier turns (the speaker's baseline)
LAST_KEY = "facelens_voice_last"  # hash of the last recording handled (a rerun must not redo it)
AUDIO_TYPES = ["wav", "mp3", "ogg", "m4a", "flac", "webm"]


def input_ui() -> tuple[str, bytes] | None:
    """The microphone recorder, or an audio file; returns (name, bytes) or None."""
    rec = st.audio_input(
        "Record a question", key="voice_record", help="Click the microphone, speak, click again to stop."
    )
    if rec is not None:
        return "recording.wav", rec.getvalue()
    up = st.file_uploader("...or upload a recorded question", type=AUDIO_TYPES, key="voice_upload")
    return (up.name, up.getvalue()) if up is not None else None


def affect_ui(affect: Any) -> None:
    """The fused estimate and the evidence of each channel."""
    st.markdown(
        f"**Overall: comes across as {photo.emotion_word(affect.label)}** ({affect.confidence:.0%}) · "
        f"suggested reply tone: *{affect.tone}*"
    )
    cols = st.columns(max(1, len(affect.channels)))
    for col, ch in zip(cols, affect.channels):
        with col, st.container(border=True):
            st.markdown(f"**{ch.channel.capitalize()}**")
            st.caption(ch.summary)
            st.progress(min(1.0, max(0.0, ch.confidence)), text=f"weight {ch.confidence:.0%}")
            st.caption(
                f"arousal {ch.arousal:+.2f}" + (f" · valence {ch.valence:+.2f}" if ch.valence is not None else "")
            )
    for c in affect.conflicts:
        st.warning(f"Mixed signals: {c}")


def turns_ui(turns: list[dict]) -> None:
    from facelens.agent.assistant.answers import backend_label

    for turn in reversed(turns):
        with st.container(border=True):
            st.markdown(f"**You said:** {markdown_text(turn['text']) or '(nothing recognised)'}")
            st.caption(f"transcribed in {turn['seconds']:.1f} s · {turn['duration']:.1f} s of audio")
            if turn.get("face"):
                st.caption(f"Face channel: {turn['face']}")
            affect_ui(turn["affect"])
            if turn.get("answer"):
                st.markdown(f"**Answer:** {markdown_text(turn['answer'], lines=True)}")
                st.caption(f"answered by {backend_label(turn['backend'])}")
            elif turn.get("note"):
                st.info(turn["note"])


def camera_ui() -> bytes | None:
    """The user's own camera (off until turned on); returns the picture's bytes or None."""
    if not st.toggle(
        "Use my camera for the face channel",
        key="voice_use_camera",
        help="A picture of you while you ask; only your own face is read, never the photo's.",
    ):
        return None
    shot = st.camera_input(
        "Your face", key="voice_camera", help="Take a picture of yourself, then record the question."
    )
    return shot.getvalue() if shot is not None else None


def speaker_face(data: bytes | None) -> tuple[Any, str | None]:
    """The expression of the largest face in the user's camera picture (None, note when there is none).

    The same reading as the Live page and ``facelens live`` (:func:`facelens.agent.assistant.live.read_face`).
    """
    from facelens.agent.assistant import live

    if data is None:
        return None, None
    from facelens.tools.images import load_image

    reading = live.read_face(load_image(data).rgb)
    face = live.look([reading.scores] if reading.found and reading.scores else [], model="camera")
    if face is None:
        return None, "your camera's picture shows no face"
    return face, f"your camera: looks {photo.emotion_word(face.label)} ({face.confidence:.0%})"


def handle(name: str, data: bytes, camera: bytes | None = None) -> dict:
    """Transcribe one recorded question, read its cues, fuse them, and answer it.

    The same steps as ``facelens chat --voice`` (:func:`facelens.agent.assistant.voice_input.understand_speech`), and the
    answer opens in the tone the fused affect suggests (:func:`facelens.agent.assistant.voice_input.tone_opener`).
    """
    from facelens.agent.assistant import live
    from facelens.agent.assistant.voice_input import tone_opener, understand_speech
    from facelens.tools import media

    path = common.save_upload(name, data)
    try:
        audio = media.load_audio(path)
    finally:  # the recording is needed only to decode it
        path.unlink(missing_ok=True)
    history = st.session_state.setdefault(HISTORY_KEY, [])
    face, face_note = speaker_face(camera)
    s = common.get_settings()
    # the words go to the LLM only when it answers and is the host's configured endpoint
    backend = common.current_backend()
    words = (
        getattr(backend, "settings", "openai")
        if backend.name.startswith("openai") and not common.is_new_endpoint(s.base_url)
        else "offline"
    )
    utt = understand_speech(audio, common.transcriber(), history, face, words_backend=words)
    history.append(utt.cues.features)
    text = utt.text.strip()
    turn = {"text": text, "seconds": utt.transcript.seconds, "duration": utt.transcript.duration, "affect": utt.affect}
    if not text:
        turn["note"] = "No words were recognised. Speak a little closer to the microphone and try again."
    elif st.session_state.get(photo.PHOTO_KEY) is None:
        turn["note"] = (
            "Open a photo on the Photo page to ask about the people in it; your spoken questions are "
            "then answered like typed ones, and the photo's largest face joins the cues."
        )
    else:
        photo.ask(text, speaker=utt.affect)
        last = st.session_state[photo.CHAT_KEY]["messages"][-1]
        answer = f"{tone_opener(utt.affect)} {last['text']}".strip() if last["backend"] == "offline" else last["text"]
        if face is None:
            answer += f" ({live.NO_CAMERA if camera is None else live.NO_FACE})"
        turn.update(answer=answer, backend=last["backend"])
    turn["face"] = face_note or "camera off: the mood is read from your voice and words"
    return turn


def page() -> None:
    st.header("Voice")
    st.caption(
        "Ask a question out loud. facelens transcribes it on this machine, reads how it sounded "
        "(voice), what it says (words) and, with your camera on, how your face looks (face). "
        "The people in the photo are never taken for you."
    )
    current = st.session_state.get(photo.PHOTO_KEY)
    st.caption(
        f"Photo: {markdown_text(current['name'])}" if current else "No photo open (the Photo page): answers need one."
    )
    camera = camera_ui()
    got = input_ui()
    if got is not None:
        digest = hashlib.sha256(got[1]).hexdigest()
        if st.session_state.get(LAST_KEY) != digest:
            st.session_state[LAST_KEY] = digest
            with common.guarded():
                with st.spinner("Listening..."):
                    st.session_state.setdefault(TURNS_KEY, []).append(handle(*got, camera=camera))
    turns_ui(st.session_state.get(TURNS_KEY, []))
