"""The Gallery page: enrol people from photos (with their consent), see who is enrolled, remove them."""

from __future__ import annotations

import time

import streamlit as st

from facelens.tools.names import markdown_text  # names are shown as typed, never as Markdown
from facelens.ui import common

FLASH_KEY = "facelens_gallery_flash"  # a message to show after a rerun
CONSENT = (
    "A face gallery stores **biometric data**: a 128-number face embedding per photo, kept only on this "
    "machine (under FACELENS_HOME) and deleted when you remove the person. Enrol only people who have "
    "agreed to it."
)


def enrol_ui() -> tuple[str, list, int, bool, bool]:
    """The enrolment form; returns (name, uploaded files, face number or 0, consent, submitted)."""
    with st.form("enrol", clear_on_submit=False):
        name = st.text_input("Name", key="gal_name", placeholder="e.g. Grace Hopper")
        files = st.file_uploader(
            "One or more photos of the person",
            type=["jpg", "jpeg", "png", "webp", "bmp"],
            accept_multiple_files=True,
            key="gal_files",
        )
        face = st.number_input(
            "Face number when a photo shows several people (1 = leftmost; 0 = the only face)",
            min_value=0,
            max_value=50,
            value=0,
            step=1,
            key="gal_face",
        )
        consent = st.checkbox("This person agreed to have their face stored for recognition.", key="gal_consent")
        submitted = st.form_submit_button("Enrol")
    return name, list(files or []), int(face), consent, submitted


def people_ui(people: list) -> None:
    """Everyone enrolled, as a table."""
    if not people:
        st.info("Nobody is enrolled yet.")
        return
    st.table(  # st.table renders Markdown in its cells: names and file names are escaped to show as typed
        [
            {
                "name": markdown_text(p.name),
                "photos": p.images,
                "from": markdown_text(", ".join(p.sources)),
                "enrolled": time.strftime("%Y-%m-%d %H:%M", time.localtime(p.added)),
            }
            for p in people
        ],
    )


def remove_ui(names: list[str]) -> tuple[str | None, bool]:
    """Pick someone to remove; returns (name, confirmed click)."""
    if not names:
        return None, False
    who = st.selectbox("Remove a person (deletes their face data)", names, key="gal_remove_who")
    clicked = st.button(f"Remove {markdown_text(who)}", key="gal_remove", type="secondary")
    return who, clicked


def enrol(name: str, files: list, face: int) -> list:
    """Save the uploads and enrol them (all or nothing)."""
    from facelens.tools.errors import InputError
    from facelens.tools.identity import enroll

    if not name.strip():
        raise InputError("The name is empty.", hint="Type the person's name.")
    if not files:
        raise InputError("No photo was given.", hint="Add one or more photos of the person.")
    paths = [common.save_upload(f.name, f.getvalue()) for f in files]
    try:
        return enroll(
            name.strip(), paths, face=face or None, gallery=common.gallery(), detector=common.get_settings().detector
        )
    finally:  # the photos are needed only to compute the embeddings: no copy of a face outlives the enrolment
        for path in paths:
            path.unlink(missing_ok=True)


def page() -> None:
    st.header("Gallery")
    if FLASH_KEY in st.session_state:
        st.success(markdown_text(st.session_state.pop(FLASH_KEY), lines=True))
    st.warning(CONSENT, icon="🔒")
    st.subheader("Enrol a person")
    name, files, face, consent, submitted = enrol_ui()
    if submitted:
        if not consent:
            st.error(
                "Enrolment needs the person's consent.\n\n**What to do:** tick the consent box once they have agreed."
            )
        else:
            with common.guarded():
                with st.spinner("Finding the face in each photo..."):
                    done = enrol(name, files, face)
                st.success(
                    f"Enrolled {markdown_text(done[0].name)} from {len(done)} photo{'s' if len(done) != 1 else ''}."
                )
    st.subheader("Enrolled people")
    with common.guarded():
        people = common.gallery().people()
        people_ui(people)
        who, clicked = remove_ui([p.name for p in people])
        if clicked and who:
            from facelens.agent.erasure import erase_person

            # everywhere under FACELENS_HOME: gallery generations, cached analyses, exemplars, session tracks
            st.session_state[FLASH_KEY] = erase_person(who).summary()
            st.rerun()
