"""The Sessions page: ingest recordings, see each one's emotion timeline and transcript, ask about them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import streamlit as st

from facelens.tools.names import markdown_text  # names are shown as typed, never as Markdown
from facelens.ui import common

CHAT_KEY = "facelens_session_chat"  # list of {"role", "text", ...}, oldest first
MEDIA_TYPES = ["mp4", "mov", "mkv", "webm", "avi", "wav", "mp3", "ogg", "m4a", "flac"]
ALL = "all sessions"


def ingest_ui() -> tuple[object | None, str, float, bool]:
    """The ingest form; returns (uploaded file, session id, frames per second, submitted)."""
    with st.form("ingest"):
        up = st.file_uploader("A recorded video or audio file", type=MEDIA_TYPES, key="ses_file")
        c1, c2 = st.columns(2)
        sid = c1.text_input("Session id (optional)", key="ses_id", help="Default: made from the file name.")
        fps = c2.slider(
            "Frames analysed per second",
            0.5,
            5.0,
            2.0,
            0.5,
            key="ses_fps",
            help="More frames: a finer timeline, a slower ingest.",
        )
        submitted = st.form_submit_button("Ingest")
    return up, sid.strip(), float(fps), submitted


def ingest(up: object, sid: str, fps: float) -> object:
    """Save the upload and ingest it, with a progress bar."""
    from facelens.agent.sessions.ingest import ingest as run_ingest

    path = common.save_upload(up.name, up.getvalue())  # type: ignore[attr-defined]
    bar = st.progress(0.0, text="Starting...")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=message)
        with contextlib.suppress(OSError):
            os.utime(path.parent)  # still in use: the upload sweeper keeps the folder

    try:
        rec = run_ingest(
            path,
            sid or None,
            fps=fps,
            detector=common.get_settings().detector,
            transcriber=common.transcriber(),
            progress=progress,
        )
    finally:  # the recording is needed only while it is ingested
        path.unlink(missing_ok=True)
    bar.progress(1.0, text=f"Done in {rec.ingest_seconds:.0f} s")
    return rec


def face_at(rec: object, start: float, end: float) -> str:
    """The facial emotions seen while an utterance was spoken, e.g. "track 1 angry (0.71)"."""
    seen = {}
    for t in rec.timeline:  # type: ignore[attr-defined]
        if t.emotion is not None and t.start < end and t.end > start:
            seen.setdefault(t.track, f"face {t.track} looks {t.emotion} ({t.confidence:.2f})")
    return "; ".join(seen.values())


def transcript_ui(rec: object) -> None:
    """The transcript, each utterance beside the faces' emotion at that time."""
    from facelens.agent.sessions.query import mmss

    rows = [
        {
            "time": f"{mmss(s.start)}–{mmss(s.end)}",
            "said": s.text,
            "words": s.emotion,
            "voice": ", ".join(s.cues),
            "faces meanwhile": face_at(rec, s.start, s.end),
        }
        for s in rec.transcript  # type: ignore[attr-defined]
    ]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("No speech in this session.")


def session_ui(sid: str) -> None:
    """One session: summary, timeline plot, transcript aligned to it."""
    from facelens.agent.sessions import report as session_report
    from facelens.agent.sessions import store as session_store
    from facelens.agent.sessions.query import mmss

    rec = session_store.load(sid)
    kind = " + ".join(k for k, has in (("video", rec.has_video), ("audio", rec.has_audio)) if has)
    st.caption(
        f"{markdown_text(Path(rec.source).name)} · {kind} · {rec.duration:.0f} s · {len(rec.people)} face track(s) · ingested {rec.created}"
    )
    png = session_report.plot(sid, common.upload_dir() / f"{sid}.png")
    st.image(
        str(png),
        caption="Facial emotion per second, per face track; below, what was said (coloured by the words' emotion)",
    )
    if rec.people:
        name_track_ui(sid, rec)  # before the table, so a name saved in this run shows in it
        rec = session_store.load(sid)
        st.dataframe(
            [
                {
                    "face track": p.track,
                    "name": p.name or "unnamed",
                    "seen": f"{mmss(p.first_seen)}–{mmss(p.last_seen)}",
                    "seconds visible": p.seconds,
                    "mostly looks": p.dominant_emotion or "not estimated",
                }
                for p in rec.people
            ],
            hide_index=True,
            width="stretch",
        )
    st.markdown("**Transcript, aligned to the timeline**")
    transcript_ui(rec)


def name_track_ui(sid: str, rec: object) -> None:
    """Name a face track ("customer", "agent") so questions can say "when did the customer ...?"."""
    from facelens.agent.sessions import store as session_store

    with st.form(f"name_track_{sid}"):
        c1, c2 = st.columns(2)
        track = c1.selectbox("Face track", [p.track for p in rec.people], key="ses_track")  # type: ignore[attr-defined]
        name = c2.text_input(
            "Name or role",
            key="ses_track_name",
            placeholder="customer",
            help='Then ask e.g. "when did the customer look frustrated?"; empty clears the name.',
        )
        if st.form_submit_button("Save name"):
            with common.guarded():
                session_store.name_track(sid, int(track), name.strip() or None)
                st.success(
                    f'Face track {track} is now "{markdown_text(name.strip())}".'
                    if name.strip()
                    else f"Face track {track} has no name now."
                )


def chat_ui(messages: list[dict]) -> None:
    """The chat so far; the evidence behind an expander under each answer."""
    from facelens.agent.assistant.answers import backend_label
    from facelens.ui.chat import messages_ui

    messages_ui(
        messages,
        lambda m: f"answered by {backend_label(m['backend'])} from {', '.join(m['sessions']) or 'no session'}",
        "evidence",
        "Evidence",
    )


def session_backend() -> str | None:
    """The session planner's backend for the current settings (it knows offline and openai)."""
    b = common.get_settings().backend
    return b if b in ("offline", "openai") else None if b == "auto" else "offline"


def page() -> None:
    st.header("Sessions")
    st.caption("Recorded conversations: when did someone look or sound upset, and what had just been said?")
    up, sid, fps, submitted = ingest_ui()
    if submitted:
        if up is None:
            st.error("No file was given.\n\n**What to do:** choose a video or audio file, then press Ingest.")
        else:
            with common.guarded():
                rec = ingest(up, sid, fps)
                st.success(f"Ingested session {rec.session_id}.")
                st.session_state["ses_pick"] = rec.session_id
    ids: list[str] = []
    with common.guarded():
        from facelens.agent.sessions import store as session_store

        ids = session_store.ids()
    if not ids:
        st.info("No sessions yet: ingest a recording above.")
        return
    if st.session_state.get("ses_pick") not in ids:
        st.session_state["ses_pick"] = ids[-1]
    sid = st.selectbox("Session", ids, key="ses_pick")
    with common.guarded():
        session_ui(sid)
    st.subheader("Ask about the sessions")
    scope = st.radio(
        "Scope",
        [f"this session ({sid})", ALL],
        horizontal=True,
        key="ses_scope",
        help="all sessions: every stored session is searched; each answer names the sessions it used.",
    )
    question = st.chat_input(
        "e.g. when did the customer look angry, and what had the agent just said?", key="ses_question"
    )
    messages = st.session_state.setdefault(CHAT_KEY, [])
    if question:
        with common.guarded():
            from facelens.agent.sessions.query import ask

            messages.append({"role": "user", "text": question})
            with st.spinner("Looking through the sessions..."):
                ans = ask(question, "all" if scope == ALL else sid, backend=session_backend())
            messages.append(
                {
                    "role": "assistant",
                    "text": ans.answer,
                    "backend": ans.backend,
                    "sessions": ans.sessions,
                    "evidence": [e.model_dump(mode="json") for e in ans.evidence],
                }
            )
    chat_ui(messages)
