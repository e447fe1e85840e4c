"""The Photo page: a photo in, numbered faces out, and a chat about it with the CLI's assistant."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import streamlit as st

from facelens.tools.names import markdown_text  # names are shown as typed, never as Markdown
from facelens.ui import common

PHOTO_KEY = "facelens_photo"  # {"name", "data", "sha"} of the photo being discussed
CHAT_KEY = "facelens_photo_chat"  # {"key", "assistant", "messages"}
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"]
#: box colours, one per face number (cycled), as Pillow takes them
PALETTE = ["#e6194b", "#3cb44b", "#0082c8", "#f58230", "#911eb4", "#46f0f0", "#f032e6", "#808000"]


# --- drawing (pure: tested without Streamlit) --------------------------------------------------


def annotate(rgb: np.ndarray, scene: Any) -> np.ndarray:
    """The photo with a numbered box around every face (numbers match the face cards)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 250))
    size = max(16, round(max(img.size) / 28))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has a single fixed-size default font
        font = ImageFont.load_default()
    for face in scene.faces:
        x, y, w, h = face.box
        colour = PALETTE[(face.id - 1) % len(PALETTE)]
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        label = str(face.id)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left, bottom - top
        ty = y - th - 2 * width if y - th - 2 * width >= 0 else y + h
        draw.rectangle([x, ty, x + tw + 2 * width, ty + th + 2 * width], fill=colour)
        draw.text((x + width - left, ty + width - top), label, fill=(255, 255, 255), font=font)
    return np.asarray(img)


def emotion_word(label: str) -> str:
    from facelens.tools.schema import EMOTION_ADJECTIVES

    return EMOTION_ADJECTIVES.get(label, label)


# --- widgets ----------------------------------------------------------------------------------


def source_ui() -> tuple[str, bytes] | None:
    """Upload or camera; returns (name, bytes) of the photo chosen this run, or None."""
    use_camera = st.toggle(
        "Use the camera",
        key="photo_use_camera",
        help="Take a photo with this device's camera instead of uploading one.",
    )
    if use_camera:
        shot = st.camera_input("Take a photo", key="photo_camera")
        return ("camera.jpg", shot.getvalue()) if shot is not None else None
    up = st.file_uploader("Upload a photo", type=IMAGE_TYPES, key="photo_upload", help="JPEG, PNG, WebP, BMP or TIFF.")
    if up is not None:
        return up.name, up.getvalue()
    if st.button("Use the example photo (4 people)", key="photo_example"):
        from facelens.tools.models import package_data_path

        return "group.jpg", package_data_path("examples", "group.jpg").read_bytes()
    return None


def detector_ui(current: str) -> str:
    """The face detector to use (the Settings page shares this choice)."""
    names = common.detectors()
    index = names.index(current) if current in names else 0
    return st.selectbox(
        "Face detector",
        names,
        index=index,
        key="photo_detector",
        help="hog is fast; cnn is more accurate but slow on a CPU.",
    )


def face_card_ui(face: Any, crop: np.ndarray) -> None:
    """One face: crop, identity, apparent emotion with bars, age/gender, clothing (in the answers' words)."""
    from facelens.agent.assistant import answers

    with st.container(border=True):
        st.markdown(f"**Face {face.id}** · {answers.position_phrase(face)}")
        st.image(crop, width=96)
        st.markdown(
            f"Identity: {markdown_text(answers.identity_status(face))}"
        )  # a name is shown as typed, never as Markdown
        if face.emotion is None:
            st.caption(f"Emotion: {answers.EMOTION_NOT_ESTIMATED}")
        else:
            st.markdown(f"Looks **{emotion_word(face.emotion.label)}** ({face.emotion.confidence:.0%} confident)")
            for label, p in sorted(face.emotion.scores.items(), key=lambda kv: -kv[1]):
                st.progress(min(1.0, max(0.0, float(p))), text=f"looks {emotion_word(label)} {p:.0%}")
        bits = answers.apparent_attributes(face, percent=True)
        st.caption("; ".join(bits) if bits else "Age/gender: the attribute model is not installed")
        st.caption(f"Clothing: {answers.clothing_status(face)}")


def messages_ui(messages: list[dict]) -> None:
    """The chat so far; tool calls behind an expander under each answer."""
    from facelens.agent.assistant.answers import backend_label
    from facelens.ui.chat import messages_ui as chat_ui

    chat_ui(messages, lambda m: f"answered by {backend_label(m['backend'])}", "tool_calls", "Tool calls")


def describe_ui(n_faces: int) -> tuple[int, bool]:
    """Pick a face to describe with a vision model; returns (face number, clicked)."""
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    face = c1.selectbox("Face", list(range(1, n_faces + 1)), key="photo_describe_face")
    clicked = c2.button("Describe this face", key="photo_describe")
    return int(face), clicked


def description_ui(d: Any) -> None:
    """A vision-model description of one face, and which backend made it."""
    where = "the crop was sent off this machine" if d.images_left_machine else "nothing left this machine"
    if d.status == "no_model":
        st.info(
            "Nothing could describe this face here: set up a vision model (Settings: an OpenAI-compatible "
            "server, with photos allowed to leave the machine if it is a cloud one) or install the emotion model."
        )
    st.caption(f"Face {d.face_id} · described by {d.backend} ({d.status}) · {where} · {d.latency_ms:.0f} ms")
    if d.expression:
        st.markdown(f"Expression: **{d.expression}**")
    if d.emotion:
        conf = f" ({d.confidence:.0%})" if d.confidence is not None else ""
        st.markdown(f"Looks **{emotion_word(d.emotion)}**{conf}")
    attrs = {k: v for k, v in d.attributes.model_dump().items() if v not in (None, [], "", False)}
    if attrs:
        st.json(attrs)
    for note in d.notes:
        st.caption(f"note: {note}")


# --- the page ---------------------------------------------------------------------------------


def _assistant_for(photo: dict, settings: common.Settings) -> Any:
    """The conversation about this photo with these settings (kept across reruns)."""
    key = (
        photo["sha"],
        settings.detector,
        settings.backend,
        settings.model,
        settings.base_url,
        bool(settings.api_key),
        settings.allow_cloud_images,
        settings.identity_threshold,
    )
    chat = st.session_state.get(CHAT_KEY)
    if chat is None or chat["key"] != key:
        from facelens.agent.assistant.chat import Assistant

        assistant = Assistant(
            [],
            backend=common.current_backend(),
            detector=settings.detector,
            allow_cloud_images=settings.allow_cloud_images,
        )
        assistant.box.gallery = common.gallery()
        assistant.box.add_image(photo["data"], name=photo["name"])
        old = chat["messages"] if chat is not None and chat["key"][0] == photo["sha"] else []
        chat = {"key": key, "assistant": assistant, "messages": old}
        st.session_state[CHAT_KEY] = chat
    return chat


def ask(question: str, speaker: Any = None) -> None:
    """Ask the photo's assistant; the question and the answer go into the chat history.

    ``speaker``: how the user came across asking it (the Voice page's fused estimate), for the reply's tone.
    """
    settings = common.get_settings()
    photo = st.session_state[PHOTO_KEY]
    chat = _assistant_for(photo, settings)
    chat["messages"].append({"role": "user", "text": question})
    with st.spinner("Thinking..."):
        answer = chat["assistant"].ask(question, speaker=speaker)
    chat["messages"].append(
        {
            "role": "assistant",
            "text": answer.answer,
            "backend": answer.backend,
            "tool_calls": [c.model_dump(mode="json") for c in answer.tool_calls],
        }
    )


def page() -> None:
    st.header("Photo")
    st.caption("Upload a photo (or take one) to see every face, then ask about the people in it.")
    settings = common.get_settings()
    top_left, top_right = st.columns([3, 1])
    with top_right, common.guarded():
        detector = detector_ui(settings.detector)
        if detector != settings.detector:
            settings = common.update_settings(detector=detector)
    with top_left:
        chosen = source_ui()
    if chosen is not None:
        name, data = chosen
        sha = hashlib.sha256(data).hexdigest()
        if st.session_state.get(PHOTO_KEY, {}).get("sha") != sha:
            st.session_state[PHOTO_KEY] = {"name": name, "data": data, "sha": sha}
    photo = st.session_state.get(PHOTO_KEY)
    if photo is None:
        st.info("No photo yet: upload one, use the camera, or try the example photo.")
        return
    scene = None
    with common.guarded():
        from facelens.tools.images import load_image
        from facelens.tools.scene import analyze_image

        with st.spinner("Finding faces..."):
            img = load_image(photo["data"])
            scene = analyze_image(img, detector=settings.detector, gallery=common.gallery())
    if scene is None:
        return
    n = len(scene.faces)
    st.subheader(f"{photo['name']}: {n} {'face' if n == 1 else 'faces'} found")
    left, right = st.columns([3, 2])
    with left:
        st.image(
            annotate(img.rgb, scene),
            caption=f"detector: {scene.detector} · {scene.timings_ms.get('total', 0):.0f} ms",
            width="stretch",
        )
    if n == 0:
        st.warning("No face was found. Try a clearer or larger photo, or the cnn detector above.")
    from facelens.tools.faces import crop_box

    per_row = 2
    with right:
        for row in range(0, n, per_row):
            cols = st.columns(per_row)
            for col, face in zip(cols, scene.faces[row : row + per_row]):
                with col:
                    face_card_ui(face, crop_box(img.rgb, face.box, margin=0.25))
    if n:
        with st.expander("Describe a face with a vision model"):
            st.caption(
                "Uses a VLM when one is set up (a cloud one only if Settings allow photos to leave this "
                "machine), else the local classifier alone; the result says which ran."
            )
            face_id, clicked = describe_ui(n)
            if clicked:
                with common.guarded():
                    from facelens.tools.vlm import describe_face

                    with st.spinner("Describing..."):
                        st.session_state["photo_description"] = (
                            photo["sha"],
                            describe_face(img, face_id, allow_cloud=settings.allow_cloud_images, scene=scene),
                        )
            sha, d = st.session_state.get("photo_description", (None, None))
            if d is not None and sha == photo["sha"]:
                description_ui(d)
    st.subheader("Ask about this photo")
    question = st.chat_input("Ask about this photo, e.g. who looks happiest?", key="photo_question")
    if question:
        with common.guarded():
            ask(question)
    chat = st.session_state.get(CHAT_KEY)
    if chat is not None and chat["key"][0] == photo["sha"]:
        messages_ui(chat["messages"])
