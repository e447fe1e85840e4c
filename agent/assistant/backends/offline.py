"""The offline backend: the deterministic planner, no LLM (the default)."""

from __future__ import annotations

from collections.abc import Callable

from facelens.agent.assistant import planner
from facelens.agent.assistant.backends.base import BackendReply, Conversation
from facelens.agent.assistant.toolbox import ToolBox


class OfflineBackend:
    """Answers from the planner's question families; says so plainly when a question is beyond it."""

    name = "offline"

    def answer(
        self, question: str, box: ToolBox, convo: Conversation, on_token: Callable[[str], None] | None = None
    ) -> BackendReply:
        reply = planner.answer(question, box, convo.plan)
        return BackendReply(text=reply.text, faces=reply.faces, llm_calls=0)
