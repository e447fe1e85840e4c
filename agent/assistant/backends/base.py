"""The one small interface every answering backend implements."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from facelens.agent.assistant.planner import PlanState
from facelens.agent.assistant.toolbox import ToolBox

FACE_MENTION_RE = re.compile(r"\bface\s*#?\s*(\d{1,3})\b", re.I)


@dataclass
class Conversation:
    """What a conversation remembers between turns (shared by every backend)."""

    plan: PlanState = field(default_factory=PlanState)  # the planner's focus and last intent
    history: list[tuple[str, str]] = field(default_factory=list)  # (question, answer) pairs, oldest first
    #: the fused voice + words (+ face) estimate of how the user sounded asking the current question
    #: (an ``AffectEstimate``; set by a spoken chat for one turn, None otherwise). LLM backends get
    #: it in the prompt to choose their tone; the offline planner's replies get a tone opener instead.
    speaker: Any = None


@dataclass(frozen=True)
class BackendReply:
    text: str  # the answer
    faces: tuple[int, ...] = ()  # faces of the current image the answer is about
    llm_calls: int = 0  # chat-model calls made


class Backend(Protocol):
    """Answers one question with the tools of a ToolBox.

    ``name`` is what the answer reports as its backend: "offline", "openai:<model>", "local:<model>".
    """

    name: str

    def answer(
        self, question: str, box: ToolBox, convo: Conversation, on_token: Callable[[str], None] | None = None
    ) -> BackendReply: ...


def mentioned_faces(text: str, n_faces: int) -> tuple[int, ...]:
    """Face numbers an LLM's answer cites ("Face 2 ..."), for the answer's ``faces``."""
    ids = [int(m) for m in FACE_MENTION_RE.findall(text)]
    return tuple(i for i in dict.fromkeys(ids) if 1 <= i <= n_faces)


def speaker_line(convo: Conversation) -> str:
    """The prompt sentence about how the user sounded asking this question ("" when not spoken)."""
    affect = convo.speaker
    if affect is None:
        return ""
    from facelens import prompts

    return prompts.render(
        "assistant", "speaker", label=affect.label, confidence=affect.confidence,
        conflicts="; ".join(affect.conflicts), tone=affect.tone,
    )  # fmt: skip
