"""What every page of the app shares: settings in ``st.session_state``, cached resources, errors.

Pages never build API clients or load models themselves: they call the ``st.cache_resource``
functions here (one client / model per distinct setting, reused across reruns and sessions), and
they show every failure with :func:`show_error`, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import streamlit as st

from facelens.tools.errors import FacelensError

log = logging.getLogger(__name__)

SETTINGS_KEY = "facelens_settings"
BACKEND_CHOICES = ("auto", "offline", "openai", "local")


@dataclass(frozen=True)
class Settings:
    """What the Settings page controls; every page reads it with :func:`get_settings`."""

    backend: str = "auto"  # "auto" = the CLI's choice (config, then environment, then offline)
    model: str = ""  # LLM model name (openai) or GGUF path / model folder / "smollm2" (local)
    base_url: str = ""  # an OpenAI-compatible server; empty = OPENAI_BASE_URL or OpenAI itself
    api_key: str = ""  # kept in this browser session only, never written to disk
    allow_cloud_images: bool = False  # may photo crops go to a cloud vision model
    identity_threshold: float = 0.0  # open-set L2 distance; 0 = the gallery default (set on first use)
    detector: str = "hog"  # face detector name


def get_settings() -> Settings:
    """The session's settings (defaults on first use)."""
    if SETTINGS_KEY not in st.session_state:
        from facelens.tools import faces
        from facelens.tools.identity import DEFAULT_THRESHOLD

        st.session_state[SETTINGS_KEY] = Settings(identity_threshold=DEFAULT_THRESHOLD, detector=faces.DEFAULT_DETECTOR)
    return st.session_state[SETTINGS_KEY]


def update_settings(**changes: Any) -> Settings:
    """Change some settings; returns the new settings."""
    new = replace(get_settings(), **changes)
    st.session_state[SETTINGS_KEY] = new
    return new


def public_settings(s: Settings) -> dict[str, Any]:
    """The settings as shown to the user (the API key masked)."""
    d = asdict(s)
    d["api_key"] = "set" if s.api_key else ""
    return d


def show_error(exc: BaseException) -> None:
    """Show an error the way every page does: the message, and a hint saying what to do."""
    if isinstance(exc, FacelensError):
        hint = exc.hint or "Check the input and the Settings page, then try again."
        st.error(f"{exc.message}\n\n**What to do:** {hint}")
    else:
        log.exception("unexpected error in the app")
        st.error(
            f"Something went wrong: {type(exc).__name__}: {exc}\n\n"
            "**What to do:** try again; if it persists, run the same step with the `facelens` CLI "
            "and `--debug` to see the details."
        )


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """``with guarded(): ...`` shows any error with :func:`show_error` instead of a traceback."""
    try:
        yield
    except Exception as exc:  # the UI's last line of defence: never show a traceback
        show_error(exc)


# --- cached resources (one per distinct setting; never created inside page-drawing code) --------


@st.cache_resource(show_spinner="Connecting the language model...")
def backend_for(backend: str, model: str, base_url: str, api_key: str) -> Any:
    """The answering backend for these settings, the same choice as the CLI's ``--backend``."""
    from facelens.agent.assistant import choose_backend

    if backend == "openai" and api_key:
        from facelens.agent.backends.openai import OpenAIBackend

        return OpenAIBackend(model or None, base_url=base_url or None, api_key=api_key)
    return choose_backend(None if backend == "auto" else backend, model=model or None, base_url=base_url or None)


def current_backend() -> Any:
    """The backend the current settings select (cached)."""
    s = get_settings()
    return backend_for(s.backend, s.model, s.base_url, s.api_key)


@st.cache_resource(show_spinner="Loading the speech model...")
def transcriber() -> Any:
    """The offline speech recogniser (faster-whisper tiny.en), loaded once per server."""
    from facelens.tools.speech import Transcriber

    return Transcriber().load()


@st.cache_resource
def detectors() -> list[str]:
    """The face detectors this installation has."""
    from facelens.tools import faces

    return faces.available_detectors()


def gallery() -> Any:
    """The identity gallery under FACELENS_HOME with the session's threshold (cheap: reads on use)."""
    from facelens.tools.identity import Gallery

    return Gallery(threshold=get_settings().identity_threshold)


def upload_dir() -> Path:
    """A per-session temporary folder for uploaded files (removed when the server exits)."""
    if "facelens_upload_dir" not in st.session_state:
        st.session_state["facelens_upload_dir"] = tempfile.mkdtemp(prefix="facelens-ui-")
    return Path(st.session_state["facelens_upload_dir"])


def save_upload(name: str, data: bytes) -> Path:
    """Write an uploaded file under :func:`upload_dir`, keeping its (sanitised) file name."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "upload"
    path = upload_dir() / safe
    path.write_bytes(data)
    return path
