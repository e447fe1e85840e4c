"""What the offline planner answers with, and the small wording helpers its answer modules share.

:mod:`~facelens.agent.assistant.planner`, :mod:`~facelens.agent.assistant.compose`,
:mod:`~facelens.agent.assistant.compose_groups`, :mod:`~facelens.agent.assistant.compose_yes_no` and
:mod:`~facelens.agent.assistant.user_mood` all build a :class:`PlannerReply`; it lives here so that
none of them imports another to get it (``planner.PlannerReply`` stays the public name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facelens.agent.assistant import wording
from facelens.agent.assistant.answers import face_label
from facelens.tools.schema import FaceAnalysis


@dataclass(frozen=True)
class PlannerReply:
    text: str
    faces: tuple[int, ...]  # the faces the answer is about
    intent: str  # which question family answered it ("beyond" when none)
    image: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    understood: Any = None  # the Understanding the answer came from (intent, slots, confidence)


def reply(text: str, faces: tuple[int, ...], intent: str, image: str | None) -> PlannerReply:
    """A reply with no notes and no understanding attached (the planner adds those)."""
    return PlannerReply(text, faces, intent, image)


def face_ids(faces: list[FaceAnalysis]) -> tuple[int, ...]:
    """The numbers of ``faces``: what a reply about them cites."""
    return tuple(f.id for f in faces)


def labels(faces: list[FaceAnalysis]) -> str:
    """The faces as their labels, "; "-separated: "Face 1 (far left, red clothing); Face 2 (...)"."""
    return "; ".join(face_label(f) for f in faces)


def no_emotion(who: str, singular: bool) -> str:
    """The emotion model is missing: say so about ``who`` ("anyone", "them", "this person")."""
    return wording.no_emotion_model(who=who, singular=singular)


def who_is(f: FaceAnalysis) -> str:
    """Who one face is, by the gallery: its name and match distance, not enrolled, or no gallery at all."""
    if f.identity is None:
        return f"That is {face_label(f)}; nobody is enrolled in the gallery, so I can't name them."
    if f.identity.known:
        return f"{face_label(f)} is {f.identity.name} (match distance {f.identity.distance:.2f})."
    return f"{face_label(f)} is not anyone enrolled in the gallery."
