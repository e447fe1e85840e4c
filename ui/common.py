"""What every page of the app shares: settings in ``st.session_state``, cached resources, errors.

Pages never build API clients or load models themselves: they call the ``st.cache_resource``
functions here (one client / model per distinct setting, reused across reruns and sessions), and
they show every failure with :func:`show_error`, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import streamlit as st

from facelens.agent.assistant import backends
from facelens.tools.errors import FacelensError

log = logging.getLogger(__name__)

SETTINGS_KEY = "facelens_settings"
BACKEND_CHOICES = ("auto", *backends.NAMES)


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

        try:  # the default of the gallery's embedding (dlib 0.53, SFace 1.05)
            from facelens.tools.identity_store import open_gallery

            threshold = round(float(open_gallery().threshold), 2)
        except FacelensError:
            threshold = DEFAULT_THRESHOLD
        st.session_state[SETTINGS_KEY] = Settings(identity_threshold=threshold, detector=faces.DEFAULT_DETECTOR)
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


def configured_base_url() -> str:
    """The LLM endpoint the host configured (OPENAI_BASE_URL, else config.yaml's base_url; "" = OpenAI)."""
    from facelens.tools.settings import configured_base_url as host_base_url

    return host_base_url()


def is_new_endpoint(base_url: str) -> bool:
    """Is ``base_url`` (typed on the Settings page) a server other than the one the host configured?"""
    return bool(base_url) and base_url.rstrip("/") != configured_base_url().rstrip("/")


@st.cache_resource(show_spinner="Connecting the language model...")
def backend_for(backend: str, model: str, base_url: str, api_key: str) -> Any:
    """The answering backend for these settings, the same choice as the CLI's ``--backend``.

    The host's OPENAI_API_KEY goes only to the endpoint the host configured. A server URL typed in the
    app gets the key typed with it, or none: otherwise anyone who can reach the app could collect the
    host's key by pointing the app at their own server.
    """
    from facelens.agent.assistant.chat import choose_backend

    new_endpoint = is_new_endpoint(base_url)
    if backend in ("openai", "auto") and (new_endpoint or (backend == "openai" and api_key)):
        from facelens.agent.assistant.backends.openai import OpenAIBackend

        return OpenAIBackend(
            model or None, base_url=base_url or None, api_key=api_key or None, use_environment_key=not new_endpoint
        )
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
    from facelens.tools.identity_store import open_gallery

    return open_gallery(threshold=get_settings().identity_threshold)


class UploadFolder:
    """A browser session's private folder for uploads, deleted with the session or after a time unused.

    Uploads are deleted as soon as the work that needs them as files ends (enrolment, ingest, a voice
    question). The folder goes when Streamlit drops the session's state (the finalizer), when the
    server exits normally (``weakref.finalize`` runs at exit), or at the latest once it has been unused
    for ``FACELENS_UI_UPLOAD_TTL`` seconds (a sweeper thread, :func:`_start_sweeper`): Streamlit keeps
    a closed tab's state alive for an unbounded time. Folders of a killed server are removed when the
    next one starts (ui/launch.py). The server's process id is in the name so that cleanup never
    touches a running server's uploads.
    """

    def __init__(self) -> None:
        from facelens.ui.launch import UPLOAD_PREFIX

        self.path = Path(tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def remove(self) -> None:
        """Delete the folder now (the finalizer will not run again)."""
        self._finalizer()


_sweeper_started = False
_sweeper_lock = threading.Lock()


def _start_sweeper() -> None:
    """Once per server: a daemon thread that deletes upload folders unused for the TTL."""
    global _sweeper_started
    from facelens.ui.launch import remove_expired_uploads, upload_ttl

    with _sweeper_lock:
        if _sweeper_started:
            return
        _sweeper_started = True

    def sweep() -> None:
        while True:
            time.sleep(min(60.0, upload_ttl() / 4))
            try:
                for path in remove_expired_uploads():
                    log.info("removed upload folder %s (unused for %.0f s)", path.name, upload_ttl())
            except Exception:  # never let the sweeper die of one odd folder
                log.exception("upload sweep failed")

    threading.Thread(target=sweep, name="facelens-upload-sweeper", daemon=True).start()


def upload_dir() -> Path:
    """This browser session's temporary folder for uploaded files (see :class:`UploadFolder`)."""
    _start_sweeper()
    folder = st.session_state.get("facelens_uploads")
    if not isinstance(folder, UploadFolder) or not folder.path.is_dir():
        folder = UploadFolder()
        st.session_state["facelens_uploads"] = folder
    os.utime(folder.path)  # in use now: the TTL counts from here
    return folder.path


def save_upload(name: str, data: bytes) -> Path:
    """Write an uploaded file under :func:`upload_dir`, keeping its (sanitised) file name."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name) or "upload"
    path = upload_dir() / safe
    path.write_bytes(data)
    return path
