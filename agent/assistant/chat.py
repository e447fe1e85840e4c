"""The assistant: backend choice, conversation state, and the ask loop every interface shares.

Backend choice, first match wins: the explicit ``backend`` argument (CLI ``--backend``), then
``FACELENS_BACKEND`` or ``backend:`` in FACELENS_HOME/config.yaml, then the environment
(``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` -> openai), then a configured local model
(``FACELENS_LOCAL_MODEL`` -> local), then the offline planner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from facelens.agent.assistant import backends
from facelens.agent.assistant.answers import Answer, summarize_face
from facelens.agent.assistant.backends.base import Backend, Conversation
from facelens.agent.assistant.toolbox import ToolBox
from facelens.tools import config
from facelens.tools import faces as face_tools
from facelens.tools.errors import ConfigError, FacelensError, InputError, NotFoundError

if TYPE_CHECKING:
    from facelens.agent.sessions.affect import AffectEstimate

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
AUDIO_SUFFIXES = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".webm"}


def choose_backend(
    name: str | None = None,
    *,
    model: str | None = None,
    base_url: str | None = None,
    streaming: bool = False,
) -> Backend:
    """Build the backend to answer with (see the module docstring for the order;
    :func:`facelens.tools.settings.resolve_llm` decides, the registry builds it)."""
    from facelens.tools.settings import resolve_llm

    chosen = (name or "").strip().lower()
    if chosen and chosen not in backends.NAMES:
        raise NotFoundError(f"Unknown backend '{chosen}'. Choose one of: {', '.join(backends.NAMES)}.")
    try:
        llm = resolve_llm(chosen or None, model=model, base_url=base_url)
    except ConfigError as exc:  # a misspelt FACELENS_BACKEND / config.yaml backend
        raise NotFoundError(f"{exc.message} Choose one of: {', '.join(backends.NAMES)}.") from exc
    return backends.create(llm, streaming=streaming)


def cloud_images_allowed(flag: bool | None = None) -> bool:
    """May crops of photos be sent to a cloud VLM? Only when the user said so (flag, env or config)."""
    return config.cloud_images_allowed(flag)


class Assistant:
    """A conversation about images (and optionally audio): ask questions, get typed answers.

    The images are analysed once and cached; follow-ups ("and the person next to her?") resolve
    against the faces the previous answer was about.
    """

    def __init__(
        self,
        images: list[str | Path | bytes] | None = None,
        *,
        backend: str | Backend | None = None,
        audio: str | Path | None = None,
        detector: str = face_tools.DEFAULT_DETECTOR,
        allow_cloud_images: bool | None = None,
        model: str | None = None,
        base_url: str | None = None,
        streaming: bool = False,
    ) -> None:
        images = list(images or [])
        # an audio file given where an image was expected is the conversation's audio
        spoken = [i for i in images if isinstance(i, (str, Path)) and Path(i).suffix.lower() in AUDIO_SUFFIXES]
        if spoken and audio is None:
            audio = spoken[0]
        images = [i for i in images if not any(i is s for s in spoken)]
        if audio is not None and not Path(audio).exists():
            raise InputError(f"The audio file {audio} does not exist.", hint="Check the path.")
        self.box = ToolBox(
            images, audio=audio, detector=detector, allow_cloud_images=cloud_images_allowed(allow_cloud_images)
        )
        self.backend: Backend = (
            backend
            if backend is not None and not isinstance(backend, str)
            else choose_backend(backend, model=model, base_url=base_url, streaming=streaming)
        )
        self.convo = Conversation()

    def add_image(self, image: str | Path | bytes) -> str:
        """Add an image; later questions are about it. Returns its name in the conversation."""
        return self.box.add_image(image)

    def set_audio(self, audio: str | Path) -> None:
        if not Path(audio).exists():
            raise InputError(f"The audio file {audio} does not exist.", hint="Check the path.")
        self.box.audio = Path(audio)
        self.box._transcript = None

    def ask(
        self, question: str, on_token: Callable[[str], None] | None = None, speaker: AffectEstimate | None = None
    ) -> Answer:
        """Answer one question (a turn of the conversation).

        Args:
            question: the question, in natural language.
            on_token: called with streamed text as it arrives (LLM backends with streaming).
            speaker: how the user sounded asking it (the fused voice + words estimate of a spoken
                question); an LLM backend gets it in its prompt to choose its tone.

        Raises:
            InputError: an empty or overlong question, or no image/audio to ask about.
            BackendError, ConfigError: the LLM backend failed or is misconfigured.
        """
        question = (question or "").strip()
        if not question:
            raise InputError("The question is empty.", hint='Ask something, e.g. "how many people are there?"')
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"The question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}.")
        if not self.box.images and self.box.audio is None:
            raise InputError("There is nothing to ask about: give an image (or --audio FILE).")
        start = len(self.box.calls)
        self.box.images_sent.clear()
        self.convo.speaker = speaker
        try:
            reply = self.backend.answer(question, self.box, self.convo, on_token)
        finally:
            self.convo.speaker = None
        faces = []
        if self.box.images and reply.faces:
            name = self.box.image_name()
            scene = self.box.scene(name)
            faces = [summarize_face(scene.face(i), name) for i in reply.faces]
            if self.backend.name != "offline":  # the planner keeps its own focus; LLM answers set it here
                self.convo.plan.focus = reply.faces
                self.convo.plan.image = name
        self.convo.history.append((question, reply.text))
        return Answer(
            answer=reply.text,
            backend=self.backend.name,
            faces=faces,
            tool_calls=self.box.calls[start:],
            llm_calls=reply.llm_calls,
        )


def chat_loop(
    assistant: Assistant,
    read: Callable[[], str | None],
    write: Callable[[str], None],
    *,
    on_token: Callable[[str], None] | None = None,
) -> int:
    """Run a conversation until ``read`` returns None or the user says quit.

    ``read`` returns the next user utterance (keyboard, microphone, a script); ``write`` shows
    replies. ``/image PATH`` adds an image and ``/audio PATH`` sets the audio. Errors are shown and
    the conversation goes on. Returns the number of questions answered.
    """
    answered = 0
    while True:
        said = read()
        if said is None:
            return answered
        said = said.strip()
        if not said:
            continue
        if said.lower() in ("quit", "exit", "/quit", "/exit", "bye"):
            return answered
        try:
            if said.startswith("/image "):
                write(f"Added {assistant.add_image(said[7:].strip())}; questions are now about it.")
                continue
            if said.startswith("/audio "):
                assistant.set_audio(said[7:].strip())
                write("Audio set.")
                continue
            utt = getattr(read, "last", None)  # a spoken question: the voice input keeps its Utterance
            speaker = utt.affect if utt is not None and utt.text.strip() == said else None
            write(assistant.ask(said, on_token=on_token, speaker=speaker).text())
            answered += 1
        except FacelensError as exc:
            write(f"facelens: {exc}")
