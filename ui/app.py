"""The facelens Streamlit app: ``facelens ui`` (or ``streamlit run ui/app.py``).

One small module per page (photo, voice, live, gallery, sessions, settings), each with a ``page()`` that
draws it; the sidebar picks the page (``?page=voice`` in the URL opens one directly).
"""

from __future__ import annotations

import streamlit as st

from facelens.ui import auth, gallery, live, photo, sessions, settings, voice

PAGES = {
    "Photo": photo.page,
    "Voice": voice.page,
    "Live": live.page,
    "Gallery": gallery.page,
    "Sessions": sessions.page,
    "Settings": settings.page,
}


def nav_ui() -> str:
    """The page picker; the URL's ``?page=`` chooses the first page shown."""
    names = list(PAGES)
    wanted = str(st.query_params.get("page", "")).capitalize()
    if "nav_page" not in st.session_state:
        st.session_state["nav_page"] = wanted if wanted in PAGES else names[0]
    with st.sidebar:
        st.title("facelens")
        st.caption(
            "Questions about the people in photos, audio and recorded sessions. Everything runs on this "
            "machine unless a cloud model is set up in Settings."
        )
        choice = st.radio("Page", names, key="nav_page")
    st.query_params["page"] = choice.lower()
    return choice


def main() -> None:
    st.set_page_config(page_title="facelens", page_icon="🙂", layout="wide")
    if not auth.login_ui():  # shared on the network: nothing is drawn before the password or token
        st.stop()
    choice = nav_ui()
    PAGES[choice]()
    from facelens.ui import common

    s = common.get_settings()
    st.sidebar.caption(f"Backend: {s.backend}" + (f" ({s.model})" if s.model else "") + f" · detector: {s.detector}")
    st.sidebar.caption("Photos may go to a cloud model" if s.allow_cloud_images else "Photos stay on this machine")


main()
