"""The Python API of the assistant: the same verbs as the CLI, returning typed results.

::

    from facelens.agent.api import ask, Chat
    a = ask("group.jpg", "who is on the left?")
    a.answer, a.backend, a.faces, a.tool_calls, a.llm_calls

    chat = Chat(["group.jpg"])
    chat.ask("what is the person on the far left feeling?")
    chat.ask("and the person next to her?")
"""

from __future__ import annotations

from pathlib import Path

from facelens.agent.answers import Answer, FaceSummary, ToolCall
from facelens.agent.assistant import Assistant, choose_backend
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
        [image] if image is not None else [], backend=backend, audio=audio, detector=detector,
        allow_cloud_images=allow_cloud_images, model=model, base_url=base_url,
    )
    return assistant.ask(question)


def analyze(image: str | Path | bytes, detector: str = face_tools.DEFAULT_DETECTOR) -> SceneAnalysis:
    """Everything facelens sees in a photo (passthrough to facelens.tools.scene.analyze_image)."""
    from facelens.tools.scene import analyze_image

    return analyze_image(image, detector=detector)


__all__ = ["Answer", "FaceSummary", "ToolCall", "Chat", "Assistant", "ask", "analyze", "choose_backend"]
