"""The Settings page: who answers, where photos may go, and the thresholds."""

from __future__ import annotations

import streamlit as st

from facelens.tools import settings
from facelens.ui import common

#: the backend's text fields in page order: settings field -> (label, widget options, help); widget key set_FIELD
TEXT_FIELDS: dict[str, tuple[str, dict, str]] = {
    "model": (
        "Model",
        {},
        "openai: a model name (default gpt-4o-mini). local: a .gguf file, a model folder or 'smollm2'.",
    ),
    "base_url": (
        "OpenAI-compatible base URL",
        {"placeholder": "http://localhost:11434/v1"},
        "vLLM, Ollama, LM Studio or a llama.cpp server; empty = OPENAI_BASE_URL or OpenAI.",
    ),
    "api_key": (
        "API key",
        {"type": "password"},
        "Kept in this browser session only. Empty = OPENAI_API_KEY from the environment, which is "
        "sent only to the server the host configured, never to a URL typed here.",
    ),
}


def backend_ui(s: common.Settings) -> dict:
    """Backend, model, server URL and key; returns the values entered."""
    backend = st.selectbox(
        "Backend",
        common.BACKEND_CHOICES,
        index=common.BACKEND_CHOICES.index(s.backend),
        key="set_backend",
        help="auto: like the CLI (config.yaml, then OPENAI_API_KEY / OPENAI_BASE_URL, then FACELENS_LOCAL_MODEL, "
        "then the offline planner). offline needs no LLM.",
    )
    texts = {
        field: st.text_input(label, getattr(s, field), key=f"set_{field}", help=hint, **options).strip()
        for field, (label, options, hint) in TEXT_FIELDS.items()
    }
    return {"backend": backend, **texts}


def privacy_ui(s: common.Settings) -> dict:
    allow = st.checkbox(
        "Photos may be sent to a cloud model",
        value=s.allow_cloud_images,
        key="set_allow_cloud",
        help="Off: nothing but text facts about the faces leaves this machine. On: a question that needs a "
        "vision model may send face crops to the configured cloud server, and the answer says so.",
    )
    return {"allow_cloud_images": allow}


def thresholds_ui(s: common.Settings, detectors: list[str]) -> dict:
    threshold = st.slider(
        "Identity threshold (face distance)",
        0.30,
        1.40,
        float(s.identity_threshold),
        0.01,
        key="set_threshold",
        help="A face counts as an enrolled person when its distance to them is at most this. Lower = stricter "
        "(fewer false matches, more 'unknown'). Defaults: 1.05 for SFace galleries, 0.53 for dlib ones.",
    )
    index = detectors.index(s.detector) if s.detector in detectors else 0
    detector = st.selectbox(
        "Face detector",
        detectors,
        index=index,
        key="set_detector",
        help="hog is fast; cnn is more accurate but slow on a CPU.",
    )
    return {"identity_threshold": round(float(threshold), 2), "detector": detector}


def page() -> None:
    st.header("Settings")
    st.caption("These settings last for this browser session and apply to every page.")
    s = common.get_settings()
    changes: dict = {}
    st.subheader("Who answers")
    changes.update(backend_ui(s))
    st.subheader("Privacy")
    changes.update(privacy_ui(s))
    st.subheader("Thresholds")
    with common.guarded():
        changes.update(thresholds_ui(s, common.detectors()))
    s = common.update_settings(**changes)
    env = [
        settings.setting(n).env[0]
        for n in ("openai_api_key", "base_url", "backend", "local_model")
        if settings.in_environment(n)
    ]
    st.caption("Environment: " + (", ".join(f"{k} is set" for k in env) if env else "no LLM variables set"))
    with common.guarded():
        backend = common.current_backend()
        from facelens.agent.assistant.answers import backend_label

        st.success(f"Answers will come from {backend_label(backend.name)}.")
    with st.expander("Current settings"):
        st.json(common.public_settings(s))
