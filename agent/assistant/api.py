"""The Python API of the assistant: the same verbs as the CLI, returning typed results.

::

    from facelens.agent.assistant.api import ask, Chat
    a = ask("group.jpg", "who is on the left?")
    a.answer, a.backend, a.faces, a.tool_calls, a.llm_calls

    chat = Chat(["group.jpg"])
    chat.ask("what is the person on the far left feeling?")
    chat.ask("and the person next to her?")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facelens.agent.assistant.answers import Answer, FaceSummary, ToolCall
from facelens.agent.assistant.chat import Assistant, choose_backend
from facelens.tools import faces as face_tools
from facelens.tools.schema import SceneAnalysis

#: a multi-turn conversation (images analysed once; follow-ups resolve against earlier answers)
Chat = Assistant


def ask(
    image: str | Path | bytes | None,
    question: str,
    *,
    backend: str | None = None,
    audio: str | Path | None = None,
    detector: str = face_tools.DEFAULT_DETECTOR,
    allow_cloud_images: bool | None = None,
    model: str | None = None,
    base_url: str | None = None,
) -> Answer:
    """Answer one question about a photo (and/or an audio file).

    Args:
        image: photo path or bytes (None when asking about audio only).
        question: the question.
        backend: "offline", "openai" or "local" (default: chosen from config and environment).
        audio: an audio file for transcript questions.
        detector: face detector name.
        allow_cloud_images: may photo crops go to a cloud VLM (default: FACELENS_ALLOW_CLOUD_IMAGES).
        model: LLM model name or local model path.
        base_url: OpenAI-compatible server URL.

    Returns:
        Answer(answer, backend, faces, tool_calls, llm_calls).
    """
    assistant = Assistant(
        [image] if image is not None else [],
        backend=backend,
        audio=audio,
        detector=detector,
        allow_cloud_images=allow_cloud_images,
        model=model,
        base_url=base_url,
    )
    return assistant.ask(question)


def analyze(image: str | Path | bytes, detector: str = face_tools.DEFAULT_DETECTOR) -> SceneAnalysis:
    """Everything facelens sees in a photo (passthrough to facelens.tools.scene.analyze_image)."""
    from facelens.tools.scene import analyze_image

    return analyze_image(image, detector=detector)


@dataclass(frozen=True)
class Identified:
    """Who is in one photo: what ``facelens identify --json`` prints per image (and ``POST /v1/identify``)."""

    image: str  # the path (or upload name) it was asked about
    faces: list[dict] = field(default_factory=list)  # {"box": [x, y, w, h], "identity": IdentityMatch dict | None}
    error: str | None = None  # why the image could not be read (then no faces)

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"image": self.image, "error": self.error, "faces": []}
        return {"image": self.image, "faces": self.faces}


def identify(
    image: str | Path | bytes,
    *,
    label: str | None = None,
    detector: str = face_tools.DEFAULT_DETECTOR,
    gallery: object | None = None,
) -> Identified:
    """Name the enrolled people in one photo (open set: an unknown face says so).

    Raises:
        ImageError: the image cannot be read (``facelens identify`` turns it into a per-image error).
    """
    from facelens.tools.scene import analyze_image

    scene = analyze_image(image, detector=detector, gallery=gallery)
    faces = [{"box": list(f.box), "identity": f.identity.model_dump() if f.identity else None} for f in scene.faces]
    return Identified(label or str(image if not isinstance(image, bytes) else "upload"), faces)


def session_listing(record: object) -> dict:
    """One row of ``facelens session list --json`` (and ``GET /v1/sessions``) for a SessionRecord."""
    r = record
    return {
        "session_id": r.session_id,
        "source": r.source,
        "created": r.created,
        "duration": r.duration,  # type: ignore[attr-defined]
        "utterances": len(r.transcript),
        "people": len(r.people),
    }  # type: ignore[attr-defined]


__all__ = [
    "Answer",
    "FaceSummary",
    "ToolCall",
    "Chat",
    "Assistant",
    "Identified",
    "ask",
    "analyze",
    "identify",
    "session_listing",
    "choose_backend",
]
